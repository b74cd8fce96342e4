import { NEEDED_CAP, type Detect, type Observed, type RatioFinding, type SlowFinding, type Verdict } from "../../engine/verdict.ts";

/**
 * The verdict in words: what was found and how sure, e.g. "canary errors 3.1× stable's (99% interval
 * 1.8×–5.2×)". The intervals are confidence sequences: they hold however often the message is refreshed.
 */

/** 0.99 -> "99%", 0.995 -> "99.5%": for configured levels, which are round numbers. */
export function formatLevel(x: number): string {
  return `${Number((x * 100).toFixed(2))}%`;
}

function truncPercent(rate: number, decimals: number): string {
  if (rate >= 1) return "100%";
  if (rate <= 0) return "0%";
  const f = 10 ** decimals;
  // Truncate, never round up: 99.96% must not read as 100.0%.
  return `${(Math.floor(rate * 100 * f + 1e-9) / f).toFixed(decimals)}%`;
}

/** Two rates with just enough decimals (1 to 3) that different numbers do not print the same. */
export function formatRates(a: number, b?: number): [string, string | undefined] {
  let decimals = 1;
  while (decimals < 3 && b !== undefined && a !== b && truncPercent(a, decimals) === truncPercent(b, decimals)) decimals++;
  return [truncPercent(a, decimals), b === undefined ? undefined : truncPercent(b, decimals)];
}

/** A ratio with two significant figures, rounded the way that keeps an interval end conservative. */
export function formatRatio(x: number, round: "down" | "up" | "near" = "near"): string {
  if (x <= 0) return "0";
  const mag = 10 ** (Math.floor(Math.log10(x)) - 1);
  // The epsilon keeps an exact 2.0 from being floored to 1.9 by binary noise.
  const units = round === "down" ? Math.floor(x / mag + 1e-9) : round === "up" ? Math.ceil(x / mag - 1e-9) : Math.round(x / mag);
  const v = units * mag;
  return v >= 100 ? String(Math.round(v)) : v.toPrecision(2);
}

function roughly(n: number): string {
  // "about 337" claims a precision the estimate does not have: two significant figures, rounded up.
  if (n < 100) return String(n);
  const mag = 10 ** (Math.floor(Math.log10(n)) - 1);
  return (Math.ceil(n / mag) * mag).toLocaleString("en-US");
}

/** "canary errors 3.1× stable's (99% interval 1.8×–5.2×)". */
export function ratioText(r: RatioFinding, confidence: number): string {
  const level = formatLevel(confidence);
  const range = r.upper === undefined ? `above ${formatRatio(r.lower, "down")}×` : `${formatRatio(r.lower, "down")}×–${formatRatio(r.upper, "up")}×`;
  const head = r.estimate === undefined ? "canary errors where stable has none" : `canary errors ${formatRatio(r.estimate)}× stable's`;
  return `${head} (${level} interval ${range})`;
}

/** "slow requests (over 500 ms) 3.0× stable's rate (99% interval 2.1×–4.4×)". */
export function slowRatioText(f: SlowFinding, confidence: number): string {
  const what = `slow requests (over ${f.thresholdMs} ms)`;
  if (!f.ratio) return `${what}: canary ${f.canarySlow.toLocaleString("en-US")} of ${f.canaryRequests.toLocaleString("en-US")}`;
  const r = f.ratio;
  const range = r.upper === undefined ? `above ${formatRatio(r.lower, "down")}×` : `${formatRatio(r.lower, "down")}×–${formatRatio(r.upper, "up")}×`;
  const head = r.estimate === undefined ? `canary ${what} where stable has none` : `canary ${what} ${formatRatio(r.estimate)}× stable's rate`;
  return `${head} (${formatLevel(confidence)} interval ${range})`;
}

/** The latency gate's own line: each version's share of requests over the threshold. */
export function slowLine(f: SlowFinding): string {
  const share = (slow: number, n: number) => (n > 0 ? `*${formatRates(slow / n)[0]}* of ${n.toLocaleString("en-US")} requests` : "no requests");
  return `canary ${share(f.canarySlow, f.canaryRequests)}, stable ${share(f.stableSlow, f.stableRequests)}`;
}

function successInterval(o: Observed): string {
  const [lo, hi] = formatRates(o.canarySuccess.lower, o.canarySuccess.upper);
  return `${formatLevel(o.confidence)} interval ${lo}–${hi}`;
}

function over(n: number): string {
  return `over ${Math.round(n).toLocaleString("en-US")} canary requests`;
}

/** "16:02 UTC": when the counts began (plain text: the words go to the audit trail and alerts too). */
function clock(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 16)} UTC`;
}

/** "about 3 min at the current rate". */
function roughDuration(seconds: number): string {
  if (seconds < 90) return `about ${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `about ${Math.round(seconds / 60)} min`;
  return `about ${Number((seconds / 3600).toPrecision(2))} h`;
}

/** The same for slow requests, at stable's share of them: "2× rise" or "rise of 1 percentage point". */
function slowDetectText(d: Detect, stableFastRate: number | undefined): string {
  return detectText(d, stableFastRate).replace(/^a /, "").replace("regression", "rise");
}

/** The regression a step must be able to rule out, at the stable error rate seen: "a 2× regression" or "+1 point". */
export function detectText(d: Detect, stableRate: number | undefined): string {
  const p = stableRate === undefined ? 0 : 1 - stableRate;
  return d.ratio * p >= p + d.increase ? `a ${Number(d.ratio.toPrecision(3))}× regression` : `a regression of ${percentagePoints(d.increase)}`;
}

/** "1,200 canary and 23,000 stable requests since 16:02 UTC". */
function basedOn(v: { canaryRequests: number; stableRequests?: number; since?: number }): string {
  const n = (x: number) => Math.round(x).toLocaleString("en-US");
  const since = v.since !== undefined ? ` since ${clock(v.since)}` : "";
  return `${n(v.canaryRequests)} canary and ${n(v.stableRequests ?? 0)} stable requests${since}`;
}

export function describeVerdict(v: Verdict): string {
  switch (v.kind) {
    case "unavailable":
      if (v.noData) {
        return `metrics unavailable: no new sample in ${v.noData.reads} readings in a row since ${clock(v.noData.since)} (Prometheus is not scraping these series, or the query selects none); nothing is judged until samples come back`;
      }
      return `metrics unavailable: ${v.reason ?? "the source did not answer"}`;
    case "not-enough-traffic": {
      const so =
        v.canaryRate === undefined
          ? `no canary requests yet${v.stableRequests ? ` (${basedOn(v)})` : ""}`
          : `so far canary ${formatRates(v.canaryRate, v.stableRate)[0]}${v.stableRate !== undefined ? ` vs stable ${formatRates(v.canaryRate, v.stableRate)[1]}` : ""} over ${basedOn(v)}${v.ratio ? `, ${ratioText(v.ratio, v.confidence)}` : ""}`;
      if (v.needed >= NEEDED_CAP) return `no realistic volume of traffic would be enough at the rates seen (${so})`;
      // Nothing counted on either side yet: the first reading is only the baseline the next ones count from.
      if (v.canaryRate === undefined && !v.stableRequests)
        return `no requests counted yet: each reading counts from the one before; needs ~${roughly(v.needed)} canary requests`;
      const slowRate = v.slow && v.slow.stableRequests > 0 ? 1 - v.slow.stableSlow / v.slow.stableRequests : undefined;
      const slower = v.slow ? `a ${slowDetectText(v.detect, slowRate)} in slow requests (over ${v.slow.thresholdMs} ms)` : "";
      const what = !v.stableRequests
        ? `to show the canary above the ${formatLevel(v.minSuccessRate)} floor`
        : v.waitingFor === "latency" && slower
          ? `to rule out ${slower}`
          : v.waitingFor === "both" && slower
            ? `to rule out ${detectText(v.detect, v.stableRate)} in errors and ${slower}`
            : `to rule out ${detectText(v.detect, v.stableRate)}`;
      const when = v.neededSeconds !== undefined ? `: ${roughDuration(v.neededSeconds)} at the current rate` : "";
      return `needs ~${roughly(v.needed)} more canary requests ${what}${when}; ${so}`;
    }
    case "healthy":
    case "worse": {
      const [c, s] = formatRates(v.canaryRate, v.stableRate);
      const head = s === undefined ? `canary ${c}` : `canary ${c} vs stable ${s}`;
      const noStable = s === undefined ? " (stable has no traffic)" : "";
      if (v.kind === "worse" && v.basis === "floor") {
        return `${head}, below the ${formatLevel(v.minSuccessRate)} floor (canary ${successInterval(v)}) ${over(v.canaryRequests)}${noStable}${sinceText(v.since)}`;
      }
      if (v.kind === "worse" && v.basis === "latency" && v.slow)
        return `${head}, slower: ${slowRatioText(v.slow, v.confidence)} over ${v.slow.canaryRequests.toLocaleString("en-US")} canary requests${sinceText(v.since)}`;
      if (v.kind === "worse")
        return `${head}, worse: ${v.ratio ? ratioText(v.ratio, v.confidence) : "canary errors"} ${over(v.canaryRequests)}${sinceText(v.since)}`;
      if (v.basis === "floor") {
        return `${head}, healthy ${over(v.canaryRequests)}${sinceText(v.since)}: above the ${formatLevel(v.minSuccessRate)} floor (canary ${successInterval(v)})${noStable}`;
      }
      const ratio = v.ratio ? `; ${ratioText(v.ratio, v.confidence)}` : "";
      const slowRate = v.slow && v.slow.stableRequests > 0 ? 1 - v.slow.stableSlow / v.slow.stableRequests : undefined;
      const slower = v.slow ? ` and a ${slowDetectText(v.detect, slowRate)} in slow requests (over ${v.slow.thresholdMs} ms)` : "";
      return `${head}, healthy: no sign of harm over ${basedOn(v)}, enough to have caught ${detectText(v.detect, v.stableRate)}${slower} (with ${formatLevel(v.detect.power)} power)${ratio}`;
    }
  }
}

function sinceText(since: number | undefined): string {
  return since !== undefined ? ` since ${clock(since)}` : "";
}

/** An error-rate difference in percentage points ("1 percentage point", "0.2 percentage points"). */
function percentagePoints(fraction: number): string {
  const n = Number((fraction * 100).toFixed(3));
  return `${n} percentage point${n === 1 ? "" : "s"}`;
}

import type { Rollout, StoredSnapshot } from "../../engine/rollout.ts";
import type { SampleLike, Verdict } from "../../engine/verdict.ts";
import { describeVerdict, slowLine } from "./verdict-text.ts";
import type { Tally } from "../../engine/evidence.ts";
import { clip } from "./format.ts";

/** The success-rate block of a rollout message: stable vs canary, and the verdict in one line. Pure. */

const VERDICT_ICON: Record<Verdict["kind"], string> = {
  healthy: ":large_green_circle:",
  worse: ":red_circle:",
  "not-enough-traffic": ":hourglass_flowing_sand:",
  unavailable: ":grey_question:",
};

const VERDICT_TITLE: Record<Verdict["kind"], string> = {
  healthy: "Healthy",
  worse: "Worse than stable",
  "not-enough-traffic": "Waiting for evidence",
  unavailable: "Metrics unavailable",
};

export function percentText(rate: number): string {
  return `${(Math.floor(rate * 1000) / 10).toFixed(1)}%`;
}

function sampleText(sample: SampleLike | undefined): string {
  if (!sample) return "no reading";
  if ("noTraffic" in sample) return "no traffic in the window";
  const rate = sample.requests > 0 ? percentText(sample.successes / sample.requests) : "n/a";
  const p99 = sample.p99Ms !== undefined && Number.isFinite(sample.p99Ms) ? ` · p99 ${Math.round(sample.p99Ms)} ms` : "";
  return `*${rate}* of ${Math.round(sample.requests).toLocaleString("en-US")} requests${p99}`;
}

function asOf(ms: number): string {
  const sec = Math.floor(ms / 1000);
  const fallback = new Date(sec * 1000).toISOString().slice(11, 19);
  return `<!date^${sec}^{time_secs}|${fallback} UTC>`;
}

/** The verdict judges the counts since the rollout began, so those are what the block shows. */
function since(t: Tally, p99Ms: number | undefined): SampleLike {
  return { requests: t.requests, successes: t.requests - t.errors, ...(p99Ms !== undefined ? { p99Ms } : {}) };
}

function p99Of(x: SampleLike | undefined): number | undefined {
  return x && !("noTraffic" in x) ? x.p99Ms : undefined;
}

/** What happens next with this verdict, in this rollout's mode. */
export function nextText(r: Rollout, s: StoredSnapshot): string | undefined {
  if (r.status !== "active") return undefined;
  const v = s.verdict.kind;
  if (r.auto) {
    const at = r.timers?.stepAt !== undefined ? ` at ${asOf(r.timers.stepAt)}` : "";
    const next = r.steps[r.stepIndex + 1];
    const step = next === undefined ? "the automatic finish" : `the automatic step to ${next}%`;
    if (v === "worse") return "Next: the bot aborts the rollout (automatic mode).";
    if (v === "healthy") return `Next: ${step}${at} goes ahead unless a reading says worse.`;
    if (v === "unavailable") return `Next: ${step}${at} waits for metrics to come back (a person decides after ${Math.round(r.auto.maxWaitMs / 60_000)} min).`;
    const which =
      s.verdict.kind === "not-enough-traffic" && s.verdict.waitingFor
        ? s.verdict.waitingFor === "latency"
          ? " on slow requests (latency gate)"
          : " on errors and slow requests (latency gate)"
        : "";
    return `Next: ${step}${at} waits for that evidence${which} (a person decides after ${Math.round(r.auto.maxWaitMs / 60_000)} min); a worse reading aborts at once.`;
  }
  if (v === "worse") return "Next: a person decides; Abort is advised.";
  if (v === "healthy") return "Next: a person may advance.";
  return undefined;
}

export function snapshotText(r: Rollout, s: StoredSnapshot): string {
  const e = s.evidence;
  const head = e
    ? `*Success rate* · since the rollout began (${Math.round((e.until - e.since) / 60_000)} min) · as of ${asOf(s.at)}`
    : `*Success rate* · last ${s.windowSeconds}s · as of ${asOf(s.at)}`;
  const stable = e ? since(e.stable, p99Of(s.stable)) : s.stable;
  const canary = e ? since(e.canary, p99Of(s.canary)) : s.canary;
  const lines = [
    head,
    `• Stable \`${r.stable}\` (${100 - s.canaryPercent}%): ${sampleText(stable)}`,
    `• Canary \`${r.canary}\` (${s.canaryPercent}%): ${sampleText(canary)}`,
    ...("slow" in s.verdict && s.verdict.slow ? [`• Slower than ${s.verdict.slow.thresholdMs} ms (latency gate): ${slowLine(s.verdict.slow)}`] : []),
    `${VERDICT_ICON[s.verdict.kind]} *${VERDICT_TITLE[s.verdict.kind]}*: ${describeVerdict(s.verdict)}`,
  ];
  const next = nextText(r, s);
  if (next) lines.push(next);
  return clip(lines.join("\n"), 3000);
}

import { addInterval, emptyLogLik } from "./sequential.ts";

/**
 * The counts since the rollout began, folded from exact counter differences: what the anytime-valid verdict
 * judges. Pure. Bounded whatever the rollout's length: totals, the log-likelihood ratio on a fixed θ grid (see
 * sequential.ts), to which each interval adds its own canary share, and the last value of every series.
 *
 * A source answers cumulative counters (one entry per series: a pod, a label set) with the time each was
 * sampled. Each reading is folded against the last values kept here, so readings tile time exactly, however
 * often or irregularly they come:
 *  - a series' delta is a whole number of requests; a counter that went down was reset (a restarted pod) and
 *    its delta is dropped, whatever it held; a series first seen after the first reading counts from zero
 *    (Prometheus counters start at zero: a new pod, the first failure of a pod);
 *  - an interval whose samples straddle a weight change (from the write to its verification) is dropped,
 *    whatever it holds: within one interval the canary's share must be constant, or a burst of errors under
 *    one share is weighed with another;
 *  - a reading that finds no new sample (a scrape outage, a query that selects nothing) changes nothing; several
 *    in a row are "metrics unavailable", never "not enough traffic".
 * Which intervals count never depends on what they contain, so no selection bias creeps in.
 */

export type Tally = { requests: number; errors: number };

/**
 * One series' cumulative counters as sampled at `at` (ms). `group` names the process that counts it (a pod):
 * a restart resets all of a process's counters at once, so a reset seen on one series drops the deltas of
 * every series of its group (see `delta`).
 */
export type SeriesValue = { requests: number; successes: number; at: number; group?: string };
export type SeriesCounters = Record<string, SeriesValue>;
/** What a source answers: every series of each version, as of `at` (the moment read, ms). */
export type CounterReading = {
  at: number;
  stable: SeriesCounters;
  canary: SeriesCounters;
  p99Ms?: { stable?: number; canary?: number };
  /**
   * The latency gate's histogram, per series: `requests` is the `+Inf` bucket (every request), `successes` the
   * bucket at the threshold (the requests no slower than it), so a series' "errors" are its slow requests.
   */
  latency?: { stable: SeriesCounters; canary: SeriesCounters };
};

/** Slow requests since the rollout began, folded like errors over the same intervals: the latency gate's evidence. */
export type SlowEvidence = {
  /** `errors` here are the slow requests; `requests` every request the histogram counted. */
  canary: Tally;
  stable: Tally;
  /** log L(θ)/L(1) of the canary's slow share vs stable's, on the grid of sequential.ts. */
  logLik: number[];
  last: { stable: Record<string, Mark>; canary: Record<string, Mark> };
};

/** The last values folded, per series (short keys: records are JSON); `g` its group. */
type Mark = { r: number; s: number; t: number; g?: string };

export type Evidence = {
  /** First and latest reading folded in (ms). */
  since: number;
  until: number;
  /** Intervals whose counts were folded in. */
  intervals: number;
  canary: Tally;
  stable: Tally;
  /** log L(θ)/L(1) at every grid point of sequential.ts. */
  logLik: number[];
  /**
   * The canary's requests weighted by stable's error rate in the same interval: the errors the canary would
   * have had failing exactly like stable, over the same intervals. The floor compares with this, not with
   * stable's own total, which weights the intervals by stable's traffic (shares change between steps).
   */
  stableLike?: number;
  /** The canary's counts over intervals where stable had traffic too: what the floor can compare with stable. */
  compared?: Tally;
  /** Series deltas dropped because the counter went down (a reset). */
  discarded: number;
  /** Readings folded in, whatever they held (a reading folded onto an older one is refused: see isNextReading). */
  reads?: number;
  /** Intervals dropped because they straddle a weight change. */
  cuts?: number;
  /** Readings in a row with nothing new, and since when (ms). */
  stale?: number;
  staleSince?: number;
  /** Newest sample time seen (ms). */
  newest?: number;
  /** The last folded interval: requests per version and its length, for "at the current rate". */
  recent?: { canary: number; stable: number; seconds: number };
  last?: { stable: Record<string, Mark>; canary: Record<string, Mark> };
  /** The latency gate's counts, when the target has one. */
  slow?: SlowEvidence;
};

/** A span during which the canary's share was not constant: from the write to the weights read back (`to` absent: not yet). */
export type WeightChange = { from: number; to?: number };

export type FoldOptions = {
  /** Weight changes since the rollout began (the write to its verification). */
  changes: readonly WeightChange[];
  /** A reading this long after the newest sample with nothing new counts as empty (a few scrape intervals). */
  staleAfterMs: number;
};

/** Readings in a row with nothing new before the verdict says "metrics unavailable". */
export const STALE_READS = 3;

function marks(c: SeriesCounters): Record<string, Mark> {
  const out: Record<string, Mark> = {};
  for (const [k, v] of Object.entries(c)) out[k] = { r: v.requests, s: v.successes, t: v.at, ...(v.group !== undefined ? { g: v.group } : {}) };
  return out;
}

type Delta = { requests: number; errors: number; fresh: boolean; spanStart: number; spanEnd: number; resets: number };

/**
 * The whole-number difference of one version's series since the last reading.
 *
 * A reset is judged per group (a pod), not per series: when a pod restarts, its success series goes back to
 * zero (seen: it went down) while its failure series, small before the restart, can end above its old value
 * after a burst of failures (not seen on its own). Dropping only the series that went down would keep the
 * failures and lose the successes of the same requests, and count them as the version's errors: during a
 * shared outage that made healthy canaries look worse (issue 19, seed 18 of the 2,000 req/s row with pod
 * restarts). So a reset on any series drops the whole group's delta for that interval.
 */
function delta(last: Record<string, Mark>, now: SeriesCounters, prevAt: number): Delta {
  const d: Delta = { requests: 0, errors: 0, fresh: false, spanStart: Infinity, spanEnd: -Infinity, resets: 0 };
  const reset = resetGroups(last, now);
  for (const [k, v] of Object.entries(now)) {
    const m = last[k];
    if (!isCount(v.requests) || !isCount(v.successes)) {
      d.resets++;
      continue;
    }
    const base = m ?? { r: 0, s: 0, t: prevAt };
    if (m && v.at <= m.t) continue; // no new sample of this series
    d.fresh = true;
    const dr = Math.round(v.requests - base.r);
    const ds = Math.round(v.successes - base.s);
    if (dr < 0 || ds < 0 || (v.group !== undefined && reset.has(v.group))) {
      d.resets++;
      continue;
    }
    d.spanStart = Math.min(d.spanStart, base.t);
    d.spanEnd = Math.max(d.spanEnd, v.at);
    d.requests += dr;
    d.errors += Math.max(0, dr - Math.min(ds, dr));
  }
  return d;
}

/** Groups with a series whose counter went down since its last mark, each with its newest sample time. */
function resetGroups(last: Record<string, Mark>, now: SeriesCounters): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of Object.entries(now)) {
    const m = last[k];
    if (v.group === undefined || !m || v.at <= m.t || !isCount(v.requests) || !isCount(v.successes)) continue;
    if (Math.round(v.requests - m.r) < 0 || Math.round(v.successes - m.s) < 0) out.set(v.group, Math.max(out.get(v.group) ?? 0, v.at));
  }
  for (const v of Object.values(now)) if (v.group !== undefined && out.has(v.group)) out.set(v.group, Math.max(out.get(v.group)!, v.at));
  return out;
}

function isCount(x: number): boolean {
  return Number.isFinite(x) && x >= 0;
}

/**
 * Keep the last values: series not in this reading keep their old mark (a scrape outage is not a reset),
 * except in a group that was reset: its process started again, so a series it has not exported anew (a
 * failure series appears at the process's first failure) counts from zero as of the reset.
 */
function mergeMarks(last: Record<string, Mark> | undefined, now: SeriesCounters): Record<string, Mark> {
  const reset = resetGroups(last ?? {}, now);
  const kept: Record<string, Mark> = {};
  for (const [k, m] of Object.entries(last ?? {})) {
    const at = m.g !== undefined ? reset.get(m.g) : undefined;
    kept[k] = at !== undefined && m.t < at ? { r: 0, s: 0, t: at, g: m.g! } : m;
  }
  // An old sample (a series the new process has not exported, still within the lookback) must not undo the zero.
  const fresh = Object.entries(now).filter(([k, v]) => isCount(v.requests) && isCount(v.successes) && !(last?.[k] && v.at <= last[k].t));
  return { ...kept, ...marks(Object.fromEntries(fresh)) };
}

function newestOf(r: CounterReading): number | undefined {
  let n: number | undefined;
  for (const v of [...Object.values(r.stable), ...Object.values(r.canary)]) n = n === undefined ? v.at : Math.max(n, v.at);
  return n;
}

const round4 = (xs: number[]) => xs.map((l) => Math.round(l * 1e4) / 1e4);

/** Fold one reading of the counters into the evidence. */
export function foldCounters(prev: Evidence | undefined, reading: CounterReading, opts: FoldOptions): Evidence {
  const newest = newestOf(reading);
  const nothing = newest === undefined;
  const last = { stable: mergeMarks(prev?.last?.stable, reading.stable), canary: mergeMarks(prev?.last?.canary, reading.canary) };
  if (!prev?.last) {
    // The first reading (or a record from before counters were kept): a baseline, nothing to fold yet.
    return {
      since: prev?.since ?? reading.at,
      until: reading.at,
      intervals: prev?.intervals ?? 0,
      canary: prev?.canary ?? { requests: 0, errors: 0 },
      stable: prev?.stable ?? { requests: 0, errors: 0 },
      logLik: prev?.logLik ?? emptyLogLik(),
      discarded: prev?.discarded ?? 0,
      reads: (prev?.reads ?? 0) + 1,
      cuts: prev?.cuts ?? 0,
      stale: nothing ? 1 : 0,
      ...(nothing ? { staleSince: reading.at } : {}),
      ...(newest !== undefined ? { newest } : {}),
      last,
      ...slowBaseline(prev?.slow, reading),
    };
  }
  const s = delta(prev.last.stable, reading.stable, prev.until);
  const c = delta(prev.last.canary, reading.canary, prev.until);
  // The histogram's series are folded against their own last values, over the same reading interval.
  const slowPrev = prev.slow;
  const ls = reading.latency && slowPrev ? delta(slowPrev.last.stable, reading.latency.stable, prev.until) : undefined;
  const lc = reading.latency && slowPrev ? delta(slowPrev.last.canary, reading.latency.canary, prev.until) : undefined;
  const slowMarks = slowBaseline(slowPrev, reading);
  const base = {
    ...prev,
    until: reading.at,
    reads: (prev.reads ?? 0) + 1,
    discarded: prev.discarded + s.resets + c.resets + (ls?.resets ?? 0) + (lc?.resets ?? 0),
    last,
    ...slowMarks,
  };
  if (!s.fresh && !c.fresh) {
    // Nothing new: a reading sooner than the next scrape, or an outage once it lasts beyond a few scrapes.
    const behind = reading.at - (prev.newest ?? prev.until);
    const empty = nothing || behind >= opts.staleAfterMs;
    const { recent: _recent, ...rest } = base;
    if (!empty) return { ...rest, ...(prev.recent ? { recent: prev.recent } : {}) };
    return { ...rest, stale: (prev.stale ?? 0) + 1, staleSince: prev.stale ? (prev.staleSince ?? reading.at) : reading.at };
  }
  const fresh = { ...base, stale: 0, newest: Math.max(prev.newest ?? 0, newest ?? 0) };
  delete (fresh as Partial<Evidence>).staleSince;
  const spanStart = Math.min(s.spanStart, c.spanStart, ls?.spanStart ?? Infinity, lc?.spanStart ?? Infinity);
  const spanEnd = Math.max(s.spanEnd, c.spanEnd, ls?.spanEnd ?? -Infinity, lc?.spanEnd ?? -Infinity);
  if (opts.changes.some((w) => spanStart < (w.to ?? Infinity) && spanEnd > w.from)) {
    return { ...fresh, cuts: (prev.cuts ?? 0) + 1 };
  }
  const requests = s.requests + c.requests;
  const share = requests > 0 ? c.requests / requests : 0;
  return {
    ...fresh,
    intervals: prev.intervals + 1,
    canary: { requests: prev.canary.requests + c.requests, errors: prev.canary.errors + c.errors },
    stable: { requests: prev.stable.requests + s.requests, errors: prev.stable.errors + s.errors },
    // Four decimals of a log-likelihood are far below anything a decision turns on, and keep the record small.
    logLik: round4(addInterval(prev.logLik, c.errors, c.errors + s.errors, share)),
    compared:
      s.requests > 0
        ? { requests: (prev.compared?.requests ?? 0) + c.requests, errors: (prev.compared?.errors ?? 0) + c.errors }
        : (prev.compared ?? { requests: 0, errors: 0 }),
    stableLike: Math.round(((prev.stableLike ?? 0) + (s.requests > 0 ? (c.requests * s.errors) / s.requests : 0)) * 1e4) / 1e4,
    recent: { canary: c.requests, stable: s.requests, seconds: Math.max(0.001, (spanEnd - spanStart) / 1000) },
    ...(fresh.slow && ls && lc ? { slow: addSlow(fresh.slow, ls, lc) } : {}),
  };
}

/** The histogram's last values kept (with the counts so far), or nothing when the reading has no histogram. */
function slowBaseline(prev: SlowEvidence | undefined, reading: CounterReading): { slow?: SlowEvidence } {
  if (!reading.latency) return prev ? { slow: prev } : {};
  return {
    slow: {
      canary: prev?.canary ?? { requests: 0, errors: 0 },
      stable: prev?.stable ?? { requests: 0, errors: 0 },
      logLik: prev?.logLik ?? emptyLogLik(),
      last: { stable: mergeMarks(prev?.last.stable, reading.latency.stable), canary: mergeMarks(prev?.last.canary, reading.latency.canary) },
    },
  };
}

/** One interval's slow requests added: the canary's share of the interval's slow requests, at its share of the histogram's requests. */
function addSlow(slow: SlowEvidence, s: Delta, c: Delta): SlowEvidence {
  const requests = s.requests + c.requests;
  const share = requests > 0 ? c.requests / requests : 0;
  return {
    ...slow,
    canary: { requests: slow.canary.requests + c.requests, errors: slow.canary.errors + c.errors },
    stable: { requests: slow.stable.requests + s.requests, errors: slow.stable.errors + s.errors },
    logLik: round4(addInterval(slow.logLik, c.errors, c.errors + s.errors, share)),
  };
}

/**
 * Exact counts for one interval, folded as if read as counters: for a person's ad-hoc look, tests, and older
 * callers that hold counts rather than counters.
 */
export function foldCounts(
  prev: Evidence | undefined,
  from: number,
  to: number,
  stable: { requests: number; successes: number } | undefined,
  canary: { requests: number; successes: number } | undefined,
): Evidence {
  const zero = (at: number): CounterReading => ({ at, stable: { x: { requests: 0, successes: 0, at } }, canary: { x: { requests: 0, successes: 0, at } } });
  const start = prev?.last ? prev : foldCounters(prev, zero(from), { changes: [], staleAfterMs: Infinity });
  const mark = (side: "stable" | "canary", add: { requests: number; successes: number } | undefined) => {
    const m = start.last![side]["x"] ?? { r: 0, s: 0, t: from };
    return { x: { requests: m.r + (add?.requests ?? 0), successes: m.s + (add?.successes ?? 0), at: to } };
  };
  return foldCounters(start, { at: to, stable: mark("stable", stable), canary: mark("canary", canary) }, { changes: [], staleAfterMs: Infinity });
}

/**
 * May a reading folded onto the evidence it read replace the evidence now stored? Only if nothing else was
 * folded in meanwhile (two readings racing would otherwise count the same traffic twice).
 */
export function isNextReading(stored: Evidence | undefined, reading: Evidence | undefined): boolean {
  if (!reading) return true;
  if (!stored) return true;
  if (reading.since !== stored.since || reading.until < stored.until) return false;
  if (stored.reads !== undefined && reading.reads !== undefined) return reading.reads === stored.reads + 1;
  const ahead = reading.intervals + reading.discarded - (stored.intervals + stored.discarded);
  return ahead === 0 || ahead === 1;
}

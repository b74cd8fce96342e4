import { addInterval, emptyLogLik } from "./sequential.ts";

/**
 * The counts since the rollout began, folded from non-overlapping readings: what the anytime-valid verdict
 * judges. Bounded whatever the rollout's length: totals plus the log-likelihood ratio on a fixed θ grid
 * (see sequential.ts), to which each interval adds its own canary share. Pure.
 *
 * Readings tile time: each one covers [until of the previous, now]. A reading comes at least every
 * `windowSeconds` (a shorter one is not taken, since a Prometheus range needs a few scrapes); a failed
 * reading leaves a gap the next one covers, up to `MAX_INTERVAL_SECONDS`; a longer gap is lost, not
 * guessed. Which intervals count never depends on what they contain, so no selection bias creeps in.
 */

export type Tally = { requests: number; errors: number };

export type Evidence = {
  /** Start of the first interval and end of the last one folded in (ms). */
  since: number;
  until: number;
  intervals: number;
  canary: Tally;
  stable: Tally;
  /** log L(θ)/L(1) at every grid point of sequential.ts. */
  logLik: number[];
  /** Readings whose counts could not be used (negative, non-finite: a counter reset the source missed). */
  discarded: number;
};

/** The longest interval one reading may cover (a gap beyond it is dropped). */
export const MAX_INTERVAL_SECONDS = 3600;

type SampleLike = { requests: number; successes: number } | { noTraffic: true };

/** The interval the next reading should cover, or undefined when it is too soon to take one. */
export function nextInterval(prev: Evidence | undefined, now: number, windowSeconds: number): { from: number; seconds: number } | undefined {
  if (!prev) return { from: now - windowSeconds * 1000, seconds: windowSeconds };
  const elapsed = Math.floor((now - prev.until) / 1000);
  if (elapsed < windowSeconds) return undefined;
  const seconds = Math.min(elapsed, MAX_INTERVAL_SECONDS);
  return { from: now - seconds * 1000, seconds };
}

function tally(s: SampleLike | undefined): Tally | "bad" {
  if (!s || "noTraffic" in s) return { requests: 0, errors: 0 };
  if (!Number.isFinite(s.requests) || !Number.isFinite(s.successes) || s.requests < 0 || s.successes < 0) return "bad";
  // Sources extrapolate counters (Prometheus' increase()): whole requests, and never more successes than requests.
  const requests = Math.round(s.requests);
  const errors = Math.max(0, requests - Math.min(Math.round(s.successes), requests));
  return { requests, errors };
}

/** Fold one reading covering [from, to] into the evidence. */
export function foldReading(prev: Evidence | undefined, from: number, to: number, stable: SampleLike | undefined, canary: SampleLike | undefined): Evidence {
  const base: Evidence = prev ?? {
    since: from,
    until: from,
    intervals: 0,
    canary: { requests: 0, errors: 0 },
    stable: { requests: 0, errors: 0 },
    logLik: emptyLogLik(),
    discarded: 0,
  };
  const s = tally(stable);
  const c = tally(canary);
  if (s === "bad" || c === "bad") return { ...base, until: to, discarded: base.discarded + 1 };
  const requests = s.requests + c.requests;
  const share = requests > 0 ? c.requests / requests : 0;
  return {
    since: base.since,
    until: to,
    intervals: base.intervals + 1,
    canary: { requests: base.canary.requests + c.requests, errors: base.canary.errors + c.errors },
    stable: { requests: base.stable.requests + s.requests, errors: base.stable.errors + s.errors },
    // Four decimals of a log-likelihood are far below anything a decision turns on, and keep the record small.
    logLik: addInterval(base.logLik, c.errors, c.errors + s.errors, share).map((l) => Math.round(l * 1e4) / 1e4),
    discarded: base.discarded,
  };
}

/**
 * May a reading folded onto `readingBase` replace the evidence now stored? Only if nothing else was folded in
 * meanwhile (two readings racing would otherwise count the same traffic twice).
 */
export function isNextReading(stored: Evidence | undefined, reading: Evidence | undefined): boolean {
  if (!reading) return true;
  if (!stored) return true;
  const ahead = reading.intervals + reading.discarded - (stored.intervals + stored.discarded);
  return (ahead === 0 || ahead === 1) && reading.until >= stored.until && reading.since === stored.since;
}

/** Small helpers for the benchmark's numbers: quantiles over samples and human formatting. */

/** The q-quantile (0..1) of `xs` by linear interpolation between closest ranks; NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export const median = (xs: readonly number[]) => quantile(xs, 0.5);
export const max = (xs: readonly number[]) => (xs.length ? Math.max(...xs) : Number.NaN);
export const min = (xs: readonly number[]) => (xs.length ? Math.min(...xs) : Number.NaN);

/** 9_812 -> "9.8 s". */
export function secs(ms: number, digits = 1): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(digits)} s` : "n/a";
}

/** 41.6 -> "42 ms". */
export function millis(ms: number): string {
  return Number.isFinite(ms) ? `${Math.round(ms)} ms` : "n/a";
}

/** Progress and per-run details go to stderr, so stdout carries only the result table. */
export function progress(line: string): void {
  process.stderr.write(`  ${line}\n`);
}

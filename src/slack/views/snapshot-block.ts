import type { Rollout, StoredSnapshot } from "../../engine/rollout.ts";
import { describeVerdict, type SampleLike, type Verdict } from "../../engine/verdict.ts";
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
  "not-enough-traffic": "Not enough traffic yet",
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

export function snapshotText(r: Rollout, s: StoredSnapshot): string {
  const head = `*Success rate* · last ${s.windowSeconds}s · as of ${asOf(s.at)}`;
  const lines = [
    head,
    `• Stable \`${r.stable}\` (${100 - s.canaryPercent}%): ${sampleText(s.stable)}`,
    `• Canary \`${r.canary}\` (${s.canaryPercent}%): ${sampleText(s.canary)}`,
    `${VERDICT_ICON[s.verdict.kind]} *${VERDICT_TITLE[s.verdict.kind]}*: ${describeVerdict(s.verdict)}`,
  ];
  return clip(lines.join("\n"), 3000);
}

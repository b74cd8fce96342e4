import type { Rollout, WaveEvent } from "../../engine/rollout.ts";
import { driftedRow, wavePosition, type RowDrift, type Wave, type WaveRefusal, type WaveRow } from "../../engine/wave.ts";
import type { WaveStartRefusal } from "../../engine/wave-rollout.ts";
import { formatDuration } from "../../engine/duration.ts";
import { escapeMrkdwn, slackTime } from "./format.ts";
import { managerLabel } from "./ownership-text.ts";
import { formatLevel, formatRates } from "./verdict-text.ts";
import type { Bake, BakeVerdict } from "../../engine/bake.ts";

/** A wave in words: the message's rows and position, the thread's wave events, its refusals. Pure. */

const ROW_STATE: Record<WaveRow["state"], string> = {
  waiting: ":white_circle: not reached yet",
  running: ":large_blue_circle: running",
  finished: ":white_check_mark: finished",
  reverting: ":rewind: going back to stable",
  reverted: ":leftwards_arrow_with_hook: back on stable, verified",
  untouched: ":heavy_minus_sign: untouched: never reached, nothing written",
};

/** Where the wave stands: `cluster 2 of 3: prod-eu`, and what it waits for. */
export function wavePositionText(r: Rollout, w: Wave): string {
  const p = wavePosition(w);
  const at = `cluster ${p.index} of ${p.of}: ${p.cluster}`;
  if (w.unreachable) return `${at}. The wave holds: ${w.unreachable.cluster} does not answer since ${slackTime(w.unreachable.since)}`;
  if (r.status === "aborting") return `${at}. Aborting: reverting ${p.cluster}, newest cluster first`;
  const drifted = driftedRow(w);
  if (r.status === "at-gate") {
    const next = w.rows[w.position + 1]?.cluster ?? "";
    const held = w.atGate?.opensAt !== undefined && (w.atGate.bake?.verdict?.kind === "worse" || w.atGate.bake?.verdict?.kind === "unavailable");
    const opens = drifted
      ? `; it stays closed while ${drifted.cluster} no longer holds what the wave verified there`
      : held
        ? `; it does not open by itself while the bake's readings hold it (a person may Advance)`
        : w.atGate?.opensAt !== undefined
          ? `; it opens by itself at ${slackTime(w.atGate.opensAt)}`
          : w.gate.mode === "auto"
            ? "; only a person opens it (the cluster did not finish healthy)"
            : "";
    const bake = w.atGate?.bake ? `. ${bakeReadingText(r, w.atGate.bake)}` : "";
    return `${at} finished. Waiting at the gate before ${next}${opens}${bake}`;
  }
  return drifted ? `${at}. ${drifted.cluster} changed since it finished: the wave does not move on over it` : at;
}

/** The bake so far: the canary's success since its cluster finished, against what it may not fall below. */
export function bakeReadingText(r: Pick<Rollout, "canary">, b: Bake): string {
  const v = b.verdict;
  if (!v) return `Bake: readings of ${r.canary} go on until the gate opens`;
  if (v.kind === "unavailable") return `Bake: the latest reading could not be taken (${v.reason ?? "metrics unavailable"})`;
  if (v.kind === "worse") return `Bake: ${bakeWorseVerdictText(v, b.start.stableErrorRate)}`;
  if (v.requests === 0) return `Bake: no requests to ${r.canary} since its Finish yet`;
  const floor = Math.max(v.limits.stable ?? 0, v.limits.floor ?? 0);
  const [rate, limit] = formatRates(1 - v.errors / v.requests, 1 - floor);
  return `Bake: ${r.canary} ${rate} success over ${v.requests.toLocaleString("en-US")} requests since its Finish; an automatic gate holds on a rate confidently below ${limit}`;
}

/** What a finished cluster's route holds instead of what the wave verified, and who changed it. */
function rowDriftText(r: Rollout, d: RowDrift): string {
  const now = d.observedPercent !== undefined ? `now ${r.canary} ${d.observedPercent}%` : `now ${escapeMrkdwn(d.raw)}`;
  const change = d.change ? `, ${escapeMrkdwn(d.change)}` : "";
  const owner = d.by?.gitops ? ` (its GitOps owner, ${d.by.gitops.owner.kind === "argocd" ? "Argo CD" : "Flux"}, put it back)` : "";
  const who = d.by ? `, by ${managerLabel(d.by.manager)}${d.by.time ? ` at ${d.by.time.slice(11, 16)} UTC` : ""}${owner}` : "";
  return `:warning: changed since it finished: ${now}${change}${who}`;
}

/** One line per cluster: the cluster, its weights as last verified, the verdict, the state. */
export function waveRowsText(r: Rollout, w: Wave): string {
  return w.rows
    .map((row, i) => {
      const live = i === w.position && row.state === "running" && r.snapshot ? r.snapshot.verdict.kind : row.verdict;
      const weights = row.percent === null ? "no weights written" : `${r.canary} ${row.percent}%`;
      const state = row.state === "finished" && row.drift ? rowDriftText(r, row.drift) : ROW_STATE[row.state];
      return `*${row.cluster}*: ${weights} · verdict ${live ?? "none yet"} · ${state}`;
    })
    .join("\n");
}

/** The Advance button at the gate. */
export function gateButtonText(w: Wave): string {
  return `Advance to ${w.rows[w.position + 1]?.cluster ?? "the next cluster"}`;
}

/** A wave event in the thread. */
export function waveEventText(e: WaveEvent, who: string, when: string): string {
  switch (e.what) {
    case "finished": {
      const gate = e.opensAt !== undefined ? `the gate opens by itself at ${slackTime(e.opensAt)}, or Advance now` : `Advance opens it`;
      return `:checkered_flag: ${e.cluster}: finished, all traffic on the new version (verdict ${e.verdict ?? "none"}). Waiting at the gate before ${e.next}: ${gate} ${when}`;
    }
    case "opened":
      return `:arrow_forward: ${who} opened the gate: ${e.from} → ${e.cluster}; ${e.cluster} starts with its own checks ${when}`;
    case "refused":
      return `:no_entry: ${e.cluster} refused the start: ${escapeMrkdwn(e.problem)}. Nothing was written there; the wave waits at the gate before it again ${when}`;
    case "unreachable":
      return `:satellite_antenna: ${e.cluster} does not answer since ${slackTime(e.since)}: ${escapeMrkdwn(e.error)}. The wave holds; nothing moves anywhere until it answers ${when}`;
    case "reachable":
      return `:satellite_antenna: ${e.cluster} answers again (it did not from ${slackTime(e.since)}): the wave goes on ${when}`;
    case "reverted":
      return `:leftwards_arrow_with_hook: ${e.cluster}: back on stable, verified${e.next ? `; next: ${e.next}` : ""} ${when}`;
    case "completed":
      return `:white_check_mark: The wave went through ${e.clusters.join(" → ")} ${when}`;
    case "bake-worse":
      return `:warning: ${e.cluster}'s bake: ${bakeWorseVerdictText(e.verdict)}. ${e.gate === "auto" ? `The automatic gate to ${e.next} stays closed: Advance goes on anyway` : `Weigh it before you Advance to ${e.next}`}; Abort reverts every cluster ${when}`;
    case "restored":
      return `:white_check_mark: ${e.cluster} holds all traffic on the new version again, as the wave verified: the wave may go on ${when}`;
  }
}

/** Why the wave did not do what was asked. */
export function waveRefusalText(r: WaveRefusal): string {
  switch (r.code) {
    case "wave-cluster-not-declared":
      return `cluster \`${r.cluster}\` is not in the wave (its clusters are ${r.declared.map((c) => `\`${c}\``).join(", ")})`;
    case "wave-cluster-twice":
      return `cluster \`${r.cluster}\` is named twice: a wave passes each cluster once`;
    case "wave-too-short":
      return `a wave needs two or more clusters (got ${r.clusters.map((c) => `\`${c}\``).join(", ") || "none"}); for one cluster start \`<target>@<cluster>\` where the targets file declares it`;
    case "wave-not-at-gate":
      return `the wave is not waiting at a gate (it is at ${r.cluster})`;
    case "wave-bake-held":
      return r.verdict.kind === "worse"
        ? `${r.cluster}'s bake says the new version is worse there (${bakeWorseVerdictText(r.verdict)}): only a person opens the gate`
        : `${r.cluster}'s bake could not be read (${r.verdict.kind === "unavailable" ? (r.verdict.reason ?? "metrics unavailable") : "no reading"}): the gate does not open by itself until it is`;
    case "wave-drifted":
      return `${r.cluster} changed since it finished (its row on the message says how): the wave does not go on over it. Put all traffic back on the new version there (or have its owner do so): the next check clears it; or Abort, which reverts every cluster`;
    case "wave-baking":
      return `${r.cluster} is still baking: the gate opens by itself at ${slackTime(r.opensAt)}`;
    case "wave-unhealthy":
      return `${r.cluster} did not finish healthy (verdict ${r.verdict}): only a person opens the gate`;
    case "wave-held-unreachable":
      return `the wave holds: ${r.cluster} does not answer since ${slackTime(r.since)}. Nothing moves until it does`;
    case "wave-aborting":
      return "the wave is being aborted";
    case "wave-not-reverting":
      return `${r.cluster} is not the cluster being reverted`;
    case "wave-not-reverted":
      return `${r.cluster} reads back ${r.percent}% on the canary, not 0%`;
  }
}

/** A `--clusters` the target's wave does not allow. */
export function waveStartRefusalText(r: WaveStartRefusal): string {
  if (r.code === "not-a-wave")
    return `\`--clusters ${r.clusters.join(",")}\` cannot be used with \`${r.target}\`: it is not a wave (its targets-file entry has no \`clusters:\`). Start it without \`--clusters\`, or \`${r.target}@<cluster>\` where the file declares one. Nothing was changed.`;
  const what = waveRefusalText(r.refusal);
  return r.flag
    ? `\`--clusters\` for \`${r.target}\`: ${what}. It may pick and order only among the wave's own clusters. Nothing was changed.`
    : `\`${r.target}\`: ${what}. Nothing was changed.`;
}

/** The gate's bake time as the docs and the message say it. */
export function bakeText(w: Wave): string {
  return w.gate.mode === "auto" ? `automatic gate after ${formatDuration(w.gate.bakeMs)} of bake time` : "a person's Advance opens each gate";
}

/** A worse bake, with stable's error rate at the Finish when the reader has it. */
function bakeWorseVerdictText(v: BakeVerdict, stableErrorRate?: number): string {
  if (v.kind !== "worse") return "no verdict";
  const [rate, limit] = formatRates(v.errors / v.requests, v.limit);
  const against =
    v.basis === "floor"
      ? "the target's floor, `minSuccessRate`"
      : stableErrorRate !== undefined
        ? `stable failed ${formatRates(stableErrorRate)[0]} at the Finish, plus the target's detect margin`
        : "stable's rate at the Finish, plus the target's detect margin";
  return `the new version failed ${rate} of ${v.requests.toLocaleString("en-US")} requests since its Finish, above the ${limit} tolerated (${against}), with ${formatLevel(v.confidence)} confidence`;
}

import type { Rollout } from "../../src/engine/rollout.ts";
import { wavePosition, type WaveRow } from "../../src/engine/wave.ts";

/**
 * A wave target on the page (issue 24's sandbox story): its clusters in order, each with the shares its mesh
 * holds now and, once a rollout of it ran, that rollout's row there (state, weight as verified, verdict),
 * and where the wave stands. Pure: the server hands in the traffic and the newest rollout of the target.
 */

export type WaveClusterView = {
  cluster: string;
  /** `staging (the bot's own cluster)`, or the cluster's name. */
  label: string;
  /** The page panel of this cluster's service: its key (`payments`, `payments@prod-eu`). */
  panel: string;
  weights: { version: string; percent: number }[];
  /** The rollout's row here, in words; absent before the first rollout. */
  row?: string;
};

export type WaveView = {
  key: string;
  clusters: WaveClusterView[];
  /** `payments#1 · active · cluster 1 of 2: staging`, or how to start one. */
  position: string;
};

const ROW: Record<WaveRow["state"], string> = {
  waiting: "not reached yet",
  running: "running",
  finished: "finished",
  reverting: "going back to stable",
  reverted: "back on stable, verified",
  untouched: "untouched",
};

export function waveView(
  key: string,
  clusters: readonly { cluster: string; label: string; panel: string; weights: { version: string; percent: number }[] }[],
  latest: Rollout | undefined,
): WaveView {
  const w = latest?.wave;
  const rows = new Map((w?.rows ?? []).map((r) => [r.cluster, r]));
  const where = w ? wavePosition(w) : undefined;
  const waiting = where?.waiting === "gate" ? ", waiting at the gate" : where?.waiting === "unreachable" ? ", held: a cluster does not answer" : "";
  return {
    key,
    clusters: clusters.map((c) => {
      const r = rows.get(c.cluster);
      return {
        ...c,
        ...(r
          ? {
              row: `${ROW[r.state]} · ${r.percent === null ? "no weights written" : `${latest!.canary} ${r.percent}%`}${r.verdict ? ` · verdict ${r.verdict}` : ""}`,
            }
          : {}),
      };
    }),
    position:
      latest && where
        ? `${latest.id} · ${latest.status} · cluster ${where.index} of ${where.of}: ${where.cluster}${waiting}`
        : `no rollout yet: /rollout start ${key} --to <version>`,
  };
}

import type { Logger } from "pino";
import { isTerminal, type Rollout } from "../../engine/rollout.ts";
import { finishedClusterDrifted, finishedClusterRestored, inCluster } from "../../engine/wave-rollout.ts";
import type { RowDrift } from "../../engine/wave.ts";
import type { GitopsDeps } from "../../kube/ownership.ts";
import type { RouterRegistry } from "../../routers/registry.ts";
import type { AuditLog } from "../../store/audit.ts";
import { LockBusy } from "../../store/lock.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { GitopsWords } from "../../app/slack-side.ts";
import type { EffectQueue } from "../queues.ts";
import { driftBy } from "./gitops.ts";
import { observeQuietly } from "./reconcile.ts";

/**
 * A wave keeps watching the clusters it finished: on every periodic check, one read of each finished
 * cluster's route (the router's observe: one GET), held to what the wave verified there (all traffic on the
 * canary, and the print of what else the bot manages). A change is drift on that cluster: the row and the
 * thread say what and who (managedFields), and the engine keeps the gate closed and the last cluster from
 * finishing until the route holds it again. Nothing is written.
 */

export type WaveWatchDeps = {
  store: RolloutStore;
  queue: EffectQueue;
  routers: RouterRegistry;
  audit: AuditLog;
  log: Logger;
  now: () => number;
  gitops?: GitopsDeps;
  slackSide: { gitops: GitopsWords };
};

/** The statuses in which finished clusters are left as they were verified (Finish and Abort write to them). */
const WATCHED: ReadonlySet<Rollout["status"]> = new Set(["deploying", "starting", "active", "held", "at-gate"]);

const finishedRows = (r: Rollout) => (r.wave && !r.wave.revert ? r.wave.rows.filter((row) => row.state === "finished") : []);

type Change = { cluster: string; drift?: RowDrift; why?: string };

/**
 * Read every finished cluster's route once, under the rollout's mesh lease (a write in progress is never
 * taken for an edit; a busy lease skips this round), and record what changed since the last check.
 */
export async function watchFinishedClusters(deps: WaveWatchDeps, r: Rollout): Promise<void> {
  if (!WATCHED.has(r.status) || !finishedRows(r).length) return;
  try {
    await deps.store.withLease(r.id, "mesh", async () => watchFinishedClustersHeld(deps, await deps.store.get(r.id)), { waitMs: 0 });
  } catch (err) {
    if (err instanceof LockBusy) return;
    throw err;
  }
}

/** The same, for a caller that holds the mesh lease and has just read the record (`now`) under it. */
export async function watchFinishedClustersHeld(deps: WaveWatchDeps, now: Rollout | undefined): Promise<void> {
  if (!now || isTerminal(now) || !WATCHED.has(now.status)) return;
  const changes: Change[] = [];
  for (const row of finishedRows(now)) {
    const change = await readFinished(deps, now, row.cluster, row.print, row.drift);
    if (change) changes.push(change);
  }
  if (!changes.length) return;
  const at = deps.now();
  const res = await deps.store.update(now.id, (x) => {
    if (!WATCHED.has(x.status)) return x;
    return changes.reduce((y, c) => (c.drift ? finishedClusterDrifted(y, c.cluster, c.drift, c.why ?? "", at) : finishedClusterRestored(y, c.cluster, at)), x);
  });
  if (res.ok && res.value.changed) {
    await deps.audit.workerOutcome(now, res.value.rollout).catch((err: unknown) => deps.log.error({ err }, "could not append to the audit trail"));
    await deps.queue.afterUpdate(res.value.rollout);
  }
}

/** One finished cluster: what changed since the last check (drift found, changed, or gone), or nothing. */
async function readFinished(
  deps: WaveWatchDeps,
  r: Rollout,
  cluster: string,
  print: string | undefined,
  seen: RowDrift | undefined,
): Promise<Change | undefined> {
  const target = inCluster(r.target, cluster);
  const there: Rollout = { ...r, target, resync: undefined, ...(print !== undefined ? { meshPrint: print } : { meshPrint: undefined }) };
  const found = await observeQuietly(deps, there);
  if (found.percent === 100 && !found.drift) return seen ? { cluster } : undefined;
  // Unreadable for a reason that says nothing about the route (an outage, credentials): nothing changes.
  if (found.percent === undefined && found.code !== "drift" && found.code !== "not-found" && found.code !== "invalid") return undefined;
  if (seen && seen.observedPercent === found.percent && seen.raw === found.raw && seen.change === found.drift) return undefined;
  const author = await driftBy(deps.gitops, deps.routers.for(target), there);
  const drift: RowDrift = {
    ...(found.percent !== undefined ? { observedPercent: found.percent } : {}),
    raw: found.raw,
    at: deps.now(),
    ...(found.drift ? { change: found.drift } : {}),
    ...(author ? { by: author.by } : {}),
  };
  return { cluster, drift, why: driftText(deps.slackSide.gitops, r, cluster, drift, author?.object) };
}

/** The thread's line: what the finished cluster holds now, who changed it, and what the wave does about it. */
function driftText(w: GitopsWords, r: Rollout, cluster: string, d: RowDrift, object: Parameters<GitopsWords["object"]>[0] | undefined): string {
  const what =
    d.observedPercent === undefined
      ? `its route is not what the wave left: ${d.raw}`
      : d.observedPercent !== 100
        ? `its route sends ${d.observedPercent}% to ${r.canary} (${d.raw}); the wave had verified 100%`
        : `${d.change ?? "something the bot manages on its route was changed"} (the weights are still all on ${r.canary})`;
  const split = d.observedPercent !== undefined ? `${100 - d.observedPercent}/${d.observedPercent}` : undefined;
  const who = d.by
    ? d.by.gitops
      ? ` ${w.driftAuthor(d.by, split)}: a GitOps revert, which the owner repeats whatever the bot writes. Make git say what the wave wrote${object ? ` on ${w.object(object)}` : ""}, or have the owner leave the bot's fields alone.`
      : ` Last changed by ${w.manager(d.by.manager)}${d.by.time ? ` at ${d.by.time.slice(11, 16)} UTC` : ""}.`
    : "";
  return (
    `${cluster} changed since the wave finished there: ${what}.${who} Nothing was overwritten. The wave does not go on over it: the gate stays closed ` +
    `and the last cluster does not finish. Put all traffic back on ${r.canary} in ${cluster} (the next check sees it and the wave may go on), or Abort, which reverts every cluster.`
  );
}

import { redactUrlsIn } from "../../engine/urls.ts";
import { markAborted, withProblem, withWarning, type Rollout } from "../../engine/rollout.ts";
import { clusterDone, clusterReverted, inCluster, markReachable, markUnreachable } from "../../engine/wave-rollout.ts";
import { nextToRevert, waveReverted } from "../../engine/wave.ts";
import { RouterError, verifyPercent, type Observed, type RoutePair } from "../../routers/router.ts";
import type { RouterRegistry } from "../../routers/registry.ts";
import { KubeApiError } from "../../kube/call.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { Target } from "../../engine/target.ts";

/**
 * A wave in the worker (src/engine/wave-rollout.ts decides): a cluster's Finish that only opens the gate,
 * the clean-up of every cluster once the whole wave completed, Abort's revert of every touched cluster newest
 * first, each verified before the next, and the hold while a cluster does not answer.
 */

export type WaveDeps = {
  store: RolloutStore;
  routers: RouterRegistry;
  now: () => number;
  scaleDown?: (namespace: string, deployment: string, cluster?: string) => Promise<string | undefined>;
};

/** An error met in a wave's cluster other than the record's own (the clean-up, a revert): which one. */
export class ClusterError extends Error {
  constructor(
    readonly cluster: string,
    readonly error: unknown,
  ) {
    super(error instanceof Error ? error.message : String(error));
    this.name = "ClusterError";
  }
}

const pair = (r: Rollout): RoutePair => ({ stable: r.stable, canary: r.canary });

/**
 * Finish in a cluster that is not the wave's last: the canary keeps all the traffic there, checked against
 * what the bot last verified (a hand edit since is drift, as for any Finish), and the wave waits at the gate.
 * The stable's objects are left as they are: an Abort later in the wave sends this cluster back to them.
 */
export async function finishCluster(deps: WaveDeps, r: Rollout): Promise<void> {
  const router = deps.routers.for(r.target);
  const obs = await router.apply(r.target, pair(r), 100, {
    canaryPercent: r.appliedPercent ?? 100,
    print: r.meshPrint,
    ...(r.takeOwnership ? { takeOwnership: true } : {}),
  });
  verifyPercent(obs, 100);
  await deps.store.update(r.id, (x) => (x.status === "finishing" ? clusterDone(x, obs.raw, deps.now(), obs.print) : x));
}

/**
 * The wave's last cluster was made final: now every earlier cluster is too (the router's Finish, e.g. a
 * Gateway route's stable backendRef removed), and each one's clean-up runs. A cluster that does not answer
 * throws (the Finish is retried; nothing is marked completed meanwhile); any other failure is a line.
 */
export async function finishEarlierClusters(
  deps: WaveDeps,
  r: Rollout,
  cleanup: (t: Target, seen: Rollout["stableWorkload"]) => Promise<string | undefined>,
): Promise<string[]> {
  const w = r.wave;
  if (!w) return [];
  const problems: string[] = [];
  for (const row of w.rows.slice(0, w.position)) {
    const t = inCluster(r.target, row.cluster);
    try {
      // Over what the wave verified there only: a change since is drift, reported, never written over.
      const obs = await deps.routers.for(t).finalize(t, pair(r), "canary", { expect: { canaryPercent: 100, print: row.print } });
      verifyPercent(obs, 100);
    } catch (err) {
      if (isUnreachable(err)) throw new ClusterError(row.cluster, err);
      problems.push(`${row.cluster}: could not make ${r.canary} final: ${redactUrlsIn(err instanceof Error ? err.message : String(err))}`);
      continue;
    }
    const p = await cleanup(t, row.stableWorkload);
    if (p) problems.push(`${row.cluster}: ${p}`);
  }
  return problems;
}

/**
 * Abort in a wave: every touched cluster, newest first, written back to stable (over whatever it holds: a
 * person chose Abort) and read back at 0% before the next; once all are verified, `end` runs (what git must
 * say in each cluster, the pauses) and only then is the rollout aborted. A cluster that fails throws, so the
 * job retries from the cluster the record says is next (or from `end`, when all were reverted).
 */
export async function revertWave(deps: WaveDeps, r: Rollout, end: (x: Rollout) => Promise<void>): Promise<void> {
  let x: Rollout | undefined = r;
  while (x && x.status === "aborting" && x.wave && nextToRevert(x.wave) === x.target.cluster) {
    const cluster = x.target.cluster!;
    let obs: Observed;
    try {
      obs = await deps.routers.for(x.target).finalize(x.target, pair(x), "stable", { force: true });
      verifyPercent(obs, 0);
    } catch (err) {
      throw new ClusterError(cluster, err);
    }
    const res = await deps.store.update(x.id, (y) => {
      if (y.status !== "aborting" || y.target.cluster !== cluster) return y;
      const next = clusterReverted(markReachable(y, deps.now()), obs.raw, deps.now());
      return next.ok ? next.value.rollout : y;
    });
    x = res.ok ? res.value.rollout : undefined;
  }
  if (!x || x.status !== "aborting" || !x.wave || !waveReverted(x.wave)) return;
  await end(x);
  await deps.store.update(x.id, (y) => (y.status === "aborting" && y.wave && waveReverted(y.wave) ? markAborted(y, y.observedRaw ?? "", deps.now()) : y));
}

/** A cluster that does not answer: no connection, no answer in time, or a 5xx (a refusal, 403 or 409, answers). */
export function isUnreachable(err: unknown): boolean {
  const inner = err instanceof ClusterError ? err.error : err;
  const kube = inner instanceof KubeApiError ? inner : inner instanceof RouterError && inner.detail instanceof KubeApiError ? inner.detail : undefined;
  if (kube) return kube.failure.kind !== "status" || kube.failure.code >= 500;
  return inner instanceof RouterError && inner.code === "unavailable" && !/no longer served/.test(inner.message);
}

/** How the wave's hold reads on the message: which cluster, since when, why; nothing moves anywhere. */
export function unreachableProblem(cluster: string, since: number, error: string): string {
  const at = new Date(since).toISOString().slice(11, 16);
  return `${cluster} does not answer since ${at} UTC: ${error}. The wave holds; nothing moves anywhere until it answers (it is never skipped).`;
}

/** Record the hold: the wave names the cluster and since when, the message says it (announced once). */
export async function holdUnreachable(deps: WaveDeps, r: Rollout, err: unknown): Promise<boolean> {
  if (!r.wave || !isUnreachable(err)) return false;
  const cluster = err instanceof ClusterError ? err.cluster : (r.target.cluster ?? "");
  const inner = err instanceof ClusterError ? err.error : err;
  const message = redactUrlsIn(inner instanceof Error ? inner.message : String(inner));
  const now = deps.now();
  await deps.store.update(r.id, (x) => {
    const held = markUnreachable(x, cluster, message, now);
    const since = held.wave?.unreachable?.since ?? now;
    return withProblem(held, unreachableProblem(cluster, since, message), now, false);
  });
  return true;
}

/** A write in the wave went through: a hold on an unreachable cluster ends. */
export async function clearUnreachable(deps: WaveDeps, id: string): Promise<void> {
  await deps.store.update(id, (x) => (x.wave?.unreachable ? markReachable(x, deps.now()) : x));
}

/** A clean-up line for the thread (kept out of the completed event). */
export function withCleanupProblems(r: Rollout, problems: string[], now: number): Rollout {
  return problems.length ? withWarning(r, problems.join("\n"), now) : r;
}

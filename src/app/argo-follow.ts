import type { Logger } from "pino";
import { argoSent, isFullyPromoted, isNewRevision, newArgoRollout, observeArgo, supersede } from "../engine/argo.ts";
import type { Rollout } from "../engine/rollout.ts";
import { kubeNamespace, type Target } from "../engine/target.ts";
import type { ArgoRead, SendOutcome } from "../controllers/argo-rollouts.ts";
import { KubeApiError } from "../kube/call.ts";
import type { ArgoAction } from "../engine/argo-types.ts";
import type { EffectQueue } from "../queue/queues.ts";
import type { RolloutStore } from "../store/rollout-store.ts";

/**
 * Following a Rollout that Argo Rollouts runs: each reading is folded into the bot's record of the
 * revision (a new revision gets a new record and a new message), and a person's decision, once recorded,
 * is sent as the plugin's request by the worker. The controller decides how the Rollout moves; the bot
 * shows it, and asks it to move only when a person did.
 */

export type ArgoReader = { read(namespace: string, name: string): Promise<ArgoRead> };
export type ArgoSender = {
  send(namespace: string, name: string, action: ArgoAction, expect: { podHash: string; step: number }): Promise<SendOutcome>;
};

export type FollowDeps = { store: RolloutStore; queue: Pick<EffectQueue, "afterUpdate">; now: () => number; log: Logger; argo: ArgoReader };

/** Why a target cannot be followed (said once in its channel), or what the reading did. */
export type FollowOutcome =
  | { kind: "followed"; rolloutId?: string; changed: boolean }
  | { kind: "waiting" } // the controller has not yet observed the latest spec
  | { kind: "refused"; why: "not-found" | "blue-green" | "unreadable"; message?: string };

export function argoRolloutName(target: Target): { namespace: string; name: string } {
  return { namespace: kubeNamespace(target), name: target.argoRollouts?.rollout ?? target.name };
}

export async function followArgo(deps: FollowDeps, target: Target): Promise<FollowOutcome> {
  const { namespace, name } = argoRolloutName(target);
  const read = await deps.argo.read(namespace, name);
  if (read.kind !== "ok") return { kind: "refused", why: read.kind, ...(read.kind === "unreadable" ? { message: read.message } : {}) };
  const s = read.state;
  // A spec the controller has not reconciled yet says nothing reliable about phase or step.
  if (s.observedGeneration !== null && s.observedGeneration !== s.generation) return { kind: "waiting" };
  const now = deps.now();
  const active = await deps.store.activeFor(target.name);
  if (active && !active.argo) return { kind: "followed", changed: false };
  if (active && !isNewRevision(active, s)) {
    const res = await deps.store.update(active.id, (r) => observeArgo(r, s, now));
    if (res.ok && res.value.changed) await deps.queue.afterUpdate(res.value.rollout);
    return { kind: "followed", rolloutId: active.id, changed: res.ok && res.value.changed };
  }
  if (!isNewRevision(active, s) || isFullyPromoted(s) || !s.podHash) return { kind: "followed", changed: false };
  if (active) {
    const ended = await deps.store.update(active.id, (r) => (r.canary === s.podHash || !r.argo ? r : supersede(r, s, now)));
    if (ended.ok && ended.value.changed) await deps.queue.afterUpdate(ended.value.rollout);
  }
  const id = await deps.store.nextId(target.name);
  const created = await deps.store.create(newArgoRollout({ id, target, channel: target.argoRollouts!.channel, state: s, now }));
  // Another process created it first: its record is the one followed.
  if (!created.ok) return { kind: "followed", changed: false };
  await deps.queue.afterUpdate(created.value);
  deps.log.info({ rolloutId: id, revision: s.revision, podHash: s.podHash }, "following a new Argo Rollouts revision");
  return { kind: "followed", rolloutId: id, changed: true };
}

/**
 * The worker's half of a person's decision: send the pending request (the client checks the Rollout has
 * not moved on first) and record what happened. Run under the rollout's mesh lease, so one request per decision.
 */
export async function sendArgoRequest(deps: { store: RolloutStore; now: () => number; argo: ArgoSender }, r: Rollout): Promise<void> {
  const p = r.argo?.pending;
  if (!p) return;
  const { namespace, name } = argoRolloutName(r.target);
  let outcome: SendOutcome;
  try {
    outcome = await deps.argo.send(namespace, name, p.action, { podHash: r.canary, step: p.step });
  } catch (err) {
    // A refusal that trying again cannot change (403 without the RBAC, 422) is told in the thread and the
    // buttons come back; anything else is retried by the job (Abort until it goes through).
    if (!(err instanceof KubeApiError) || err.transient) throw err;
    await deps.store.update(r.id, (x) => argoSent(x, p.seq, { sent: false, why: "refused", message: err.message }, deps.now()));
    return;
  }
  const result = outcome.sent
    ? ({ sent: true } as const)
    : { sent: false as const, why: outcome.why, ...(outcome.now !== undefined ? { now: outcome.now } : {}) };
  await deps.store.update(r.id, (x) => argoSent(x, p.seq, result, deps.now()));
}

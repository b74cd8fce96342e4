import { err, ok } from "./result.ts";
import type { RolloutRefusal } from "./refusal.ts";
import { withEvent, type Actor, type Rollout, type TransitionResult } from "./rollout.ts";

/**
 * "Pause Flux for this rollout", offered on a GitOps revert by Flux's kustomize-controller: the rollout is
 * resumed as Re-apply resumes it (the bot's weights written over what Flux put back, taking the fields with a
 * forced apply), and before that write the worker sets `kustomize.toolkit.fluxcd.io/reconcile: disabled` on
 * the object as `gitops: pause` does (recorded on the rollout, taken off when it ends). Pure.
 * Only Flux's Kustomization honours that annotation: Argo CD (pausing it means editing the Application) and a
 * HelmRelease are refused, saying what helps instead.
 */

/** Whether the drift the rollout is held on is a revert the button can pause: Flux's kustomize-controller. */
/** Never in a wave: a pause is recorded per rollout, not per cluster, so it could outlive its cluster. */
export function fluxPausable(r: Pick<Rollout, "drift" | "status" | "wave">): boolean {
  return !r.wave && r.status === "held" && r.drift?.observedPercent !== undefined && r.drift.by?.gitops?.owner.kind === "flux-kustomization";
}

export function pauseFlux(r: Rollout, actor: Actor, now: number): TransitionResult {
  if (r.status === "completed" || r.status === "aborted") return err({ code: "ended", id: r.id, status: r.status });
  if (r.status === "rejected") return err({ code: "never-started", id: r.id, ...(r.problem ? { problem: r.problem } : {}) });
  if (r.status === "aborting") return err({ code: "being-aborted", id: r.id });
  // A late click: the revert was answered meanwhile (Adopt, Abort, another Pause).
  if (!r.drift || r.status !== "held") return err({ code: "no-drift", id: r.id });
  const by = r.drift.by;
  if (by?.gitops?.owner.kind !== "flux-kustomization") {
    const refusal: RolloutRefusal = {
      code: "not-flux-revert",
      id: r.id,
      ...(by ? { manager: by.manager } : {}),
      ...(by?.gitops ? { ownerKind: by.gitops.owner.kind } : {}),
    };
    return err(refusal);
  }
  if (r.wave) return err({ code: "pause-in-wave", id: r.id, cluster: r.target.cluster ?? "" });
  if (r.drift.observedPercent === undefined) return err({ code: "no-split-to-reapply", stable: r.stable, canary: r.canary, raw: r.drift.raw });
  const owner = by.gitops.owner;
  const moved: Rollout = {
    ...r,
    updatedAt: now,
    status: "active",
    appliedPercent: r.drift.observedPercent,
    drift: undefined,
    problem: undefined,
    resync: true,
    // Flux applied its values with force: the bot takes the fields back the same way, once Flux is paused.
    takeOwnership: true,
    gitopsPauseAsked: true,
    last: { kind: "resumed", actor, at: now, stepIndex: r.stepIndex },
  };
  const ks = owner.name ? `Kustomization \`${owner.name}\`` : "its Kustomization";
  const text = `pausing Flux (${ks}) on this object for the rollout, then taking the fields from \`${by.manager}\` (force)`;
  return ok(withEvent(moved, now, { kind: "resumed", actor, from: r.drift.observedPercent, to: r.desiredPercent, how: "reapply", text }));
}

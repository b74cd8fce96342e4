import type { Actor, RolloutStatus } from "./status.ts";
import type { ActionKind, PolicyRefusal } from "./policy.ts";
import type { ArgoAction } from "./argo-types.ts";
import type { FlaggerConfirm } from "./flagger-types.ts";
import type { WaveRefusal } from "./wave.ts";

/**
 * Why a decision about a rollout was not taken, as a code with the data a view needs to say it in its own
 * words (`src/slack/views/refusal.ts` for Slack). `by` is who made the rollout end or move first, when known.
 */
export type RolloutRefusal =
  | { code: "ended"; id: string; status: "completed" | "aborted"; by?: Actor }
  | { code: "never-started"; id: string; problem?: string }
  | { code: "being-aborted"; id: string; by?: Actor }
  | { code: "already-aborting"; id: string; by?: Actor }
  | { code: "already-finishing"; id: string; by?: Actor }
  | { code: "already-advanced"; to: number | undefined; by?: Actor }
  | { code: "moved-on"; id: string; percent: number }
  | { code: "held"; id: string; problem?: string }
  | { code: "starting"; id: string }
  | { code: "in-flight"; id: string; percent: number }
  | { code: "last-step"; id: string }
  | { code: "not-at-full"; id: string; percent: number }
  | { code: "no-drift"; id: string }
  | { code: "no-split-to-reapply"; stable: string; canary: string; raw: string }
  /** The drift was a GitOps owner putting git back: Re-apply would only fight it (Adopt, Abort, or fix the owner). */
  | { code: "gitops-revert"; id: string; manager: string; owner?: { kind: string; name?: string; namespace?: string } }
  /** "Pause Flux for this rollout" on drift that Flux's kustomize-controller did not make (Argo CD, a HelmRelease, a hand edit). */
  | { code: "not-flux-revert"; id: string; manager?: string; ownerKind?: string }
  | { code: "pause-in-wave"; id: string; cluster: string }
  | { code: "no-split-to-adopt"; stable: string; canary: string }
  | { code: "already-held"; id: string }
  | { code: "cannot-hold"; id: string; status: RolloutStatus }
  | { code: "not-held"; id: string; status: RolloutStatus }
  | { code: "has-ended"; id: string; status: RolloutStatus }
  | { code: "already-manual"; id: string }
  | { code: "needs-interval" }
  /** Automatic steps faster than a clean reading can follow a weight change (see minEvidenceSeconds). */
  | AutoTooFast
  | { code: "no-rollout"; id: string }
  /** The bot's own decision was taken on a stage that has since moved on (held and resumed, say). */
  | { code: "stage-restarted" }
  /** Argo Rollouts: a decision that has no meaning for a controller's rollout (Re-apply, automatic steps). */
  | { code: "not-for-controller"; id: string; kind: ActionKind }
  /** Argo Rollouts: a request is already on its way to the controller. */
  | { code: "request-pending"; id: string; action: ArgoAction; by: Actor }
  /** Argo Rollouts: the click was on step `seen`; the Rollout is at `now` (of `total`). */
  | { code: "step-passed"; id: string; seen: number; now: number; total: number; by?: Actor }
  | { code: "argo-aborted"; id: string }
  | { code: "argo-not-aborted"; id: string }
  | { code: "argo-no-step"; id: string }
  /** Flagger: no gate is waiting for an Approve. */
  | { code: "flagger-not-waiting"; id: string }
  /** Flagger: the button was shown for gate `seen`; Flagger now waits on `now`. */
  | { code: "flagger-gate-moved"; id: string; seen: FlaggerConfirm; now: FlaggerConfirm }
  | { code: "flagger-already-open"; id: string; gate: FlaggerConfirm; by: Actor; steps?: "one" | "all" }
  /** A decision that only a Flagger Canary has (Approve all remaining steps), on another rollout. */
  | { code: "flagger-only"; id: string; kind: ActionKind }
  /** A wave waits at the gate before `next`: Finish and Promote have nothing to do; Advance opens it. */
  | { code: "at-gate"; id: string; next: string }
  /** Why the gate of a wave does not open (or a wave decision does not apply), as src/engine/wave.ts says. */
  | WaveRefusal;

/** A refusal of any kind: the rollout's state, or the policy (who may, where). */
export type Refusal = RolloutRefusal | PolicyRefusal;

/** Whether a refusal came from the policy (the person may not), as opposed to the rollout's state. */
export function isDenied(r: Refusal): r is PolicyRefusal {
  return r.code === "denied";
}

export type AutoTooFast = {
  code: "auto-too-fast";
  target: string;
  intervalMs: number;
  minSeconds: number;
  refreshSeconds: number;
  scrapeSeconds: number;
  lagSeconds: number;
};

import type { Actor, RolloutStatus } from "./status.ts";
import type { PolicyRefusal } from "./policy.ts";

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
  | { code: "no-split-to-adopt"; stable: string; canary: string }
  | { code: "already-held"; id: string }
  | { code: "cannot-hold"; id: string; status: RolloutStatus }
  | { code: "not-held"; id: string; status: RolloutStatus }
  | { code: "has-ended"; id: string; status: RolloutStatus }
  | { code: "already-manual"; id: string }
  | { code: "needs-interval" }
  | { code: "no-rollout"; id: string }
  /** The bot's own decision was taken on a stage that has since moved on (held and resumed, say). */
  | { code: "stage-restarted" };

/** A refusal of any kind: the rollout's state, or the policy (who may, where). */
export type Refusal = RolloutRefusal | PolicyRefusal;

/** Whether a refusal came from the policy (the person may not), as opposed to the rollout's state. */
export function isDenied(r: Refusal): r is PolicyRefusal {
  return r.code === "denied";
}

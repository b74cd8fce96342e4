import type { Rollout } from "../../engine/rollout.ts";

/** The action_ids of the rollout message's buttons and what a button carries. Pure. */

export type Block = Record<string, unknown>;
export type Rendered = { text: string; blocks: Block[] };

export const ACTION = {
  advance: "rollout.advance",
  finish: "rollout.finish",
  abort: "rollout.abort",
  hold: "rollout.hold",
  resume: "rollout.resume",
  refresh: "rollout.refresh",
  reapply: "rollout.reapply",
  adopt: "rollout.adopt",
  /** A GitOps revert by Flux's kustomize-controller: pause Flux on the object for the rollout, then re-apply. */
  pauseFlux: "rollout.pause-flux",
  retry: "rollout.retry",
  /** Flagger: approve every remaining traffic increase of the revision at once. */
  approveAll: "rollout.approve-all",
} as const;
export type ActionId = (typeof ACTION)[keyof typeof ACTION];

/** A button's value names the rollout and the step the person saw, so late clicks are recognised. */
export function buttonValue(r: Pick<Rollout, "id" | "stepIndex">): string {
  return `${r.id}|${r.stepIndex}`;
}

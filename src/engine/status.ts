/** Who decides, and where a rollout is in its life: the vocabulary the rest of the engine builds on. Pure. */

export type RolloutStatus =
  | "deploying" // `--image`: the new version's Deployment is being created and waited for; nothing routed yet
  | "starting" // recorded, target claimed, not yet validated against the mesh
  | "active" // walking the plan; a person (or the scheduler) moves it
  | "held" // paused by a person or by drift; nothing moves until resumed
  | "finishing" // making the canary permanent
  | "at-gate" // a wave: one cluster finished, waiting for the gate to the next (a person's Advance, or the bake time)
  | "completed"
  | "aborting" // reverting to stable
  | "aborted"
  | "rejected"; // the mesh could not carry this rollout; nothing was changed

export const TERMINAL: ReadonlySet<RolloutStatus> = new Set(["completed", "aborted", "rejected"]);

/** A person (by Slack user id), or the bot itself with a short reason (`auto: canary healthy`, `drift`). */
export type Actor = { kind: "user"; id: string } | { kind: "bot"; why: string };

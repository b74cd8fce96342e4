import type { WeightChange } from "./evidence.ts";
import type { Rollout } from "./rollout.ts";

/**
 * When the canary's share was not constant, from the record's events: every movement from its request (a step,
 * an abort, a finish, a re-apply, the start) to the weights read back ("applied"). A hand edit found as drift
 * happened at some moment since the previous drift check (`driftCheckMs` before it was found). A movement still
 * unverified is open-ended. The evidence drops every interval that straddles one of these (evidence.ts).
 */
export function weightChanges(r: Pick<Rollout, "events" | "appliedPercent" | "desiredPercent" | "createdAt">, driftCheckMs: number): WeightChange[] {
  const out: WeightChange[] = [];
  // The start writes the first step: the record's creation opens it.
  let open: number | undefined = r.createdAt;
  for (const e of r.events) {
    switch (e.kind) {
      case "advanced":
      case "abort-requested":
      case "finish-requested":
        open ??= e.at;
        break;
      case "resumed":
        if (e.how === "adopt") out.push({ from: open ?? e.at, to: e.at });
        else if (e.how === "reapply") open ??= e.at;
        if (e.how === "adopt") open = undefined;
        break;
      case "held":
        if (e.actor.kind === "bot" && e.actor.why === "drift") out.push({ from: e.at - driftCheckMs, to: e.at });
        break;
      case "started": // the first step, verified
      case "applied":
      case "completed":
      case "aborted":
        out.push({ from: open ?? e.at, to: e.at });
        open = undefined;
        break;
      default:
        break;
    }
  }
  if (open !== undefined) out.push(r.appliedPercent === r.desiredPercent && r.appliedPercent !== null ? { from: open, to: open } : { from: open });
  return out;
}

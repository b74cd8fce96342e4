import type { Rollout, RolloutEvent } from "../../engine/rollout.ts";
import { actorText, escapeMrkdwn, slackTime, split } from "./format.ts";

/** One thread reply per event: who, what, weights before -> after, when. Pure. */
export function renderEvent(r: Rollout, e: RolloutEvent): string {
  const who = actorText(e.actor);
  const when = slackTime(e.at);
  const weights = e.from !== undefined && e.to !== undefined ? ` (${r.stable}/${r.canary} ${split(e.from)} → ${split(e.to)})` : "";
  const extra = e.text ? `: ${escapeMrkdwn(e.text)}` : "";
  switch (e.kind) {
    case "started":
      return `:rocket: ${who} started rollout ${r.id}, ${r.canary} now gets ${e.to}% ${when}${extra ? `\n${extra.slice(2)}` : ""}`;
    case "advanced":
      return `:arrow_forward: ${who} advanced to ${e.to}%${weights} ${when}`;
    case "applied":
      return `:white_check_mark: Applied and verified ${split(e.to ?? 0)}${weights}: \`${escapeMrkdwn(e.text ?? "")}\` ${when}`;
    case "finish-requested":
      return `:checkered_flag: ${who} is finishing the rollout: making ${r.canary} permanent ${when}`;
    case "completed":
      return `:white_check_mark: Rollout ${r.id} completed: ${r.canary} is permanent. Mesh now: \`${escapeMrkdwn(e.text ?? "")}\` ${when}`;
    case "abort-requested":
      return `:rewind: ${who} aborted${weights}${extra} ${when}`;
    case "aborted":
      return `:x: Rollout ${r.id} aborted by ${who}: all traffic back on ${r.stable}, verified. Mesh now: \`${escapeMrkdwn(e.text ?? "")}\` ${when}`;
    case "rejected":
      return `:no_entry: Rollout ${r.id} rejected${extra} ${when}`;
    case "held":
      return `:double_vertical_bar: ${who} held the rollout${extra} ${when}`;
    case "resumed":
      return `:arrow_forward: ${who} resumed the rollout ${when}`;
    case "warning":
      return `:warning: ${escapeMrkdwn(e.text ?? "problem")} ${when}`;
  }
}

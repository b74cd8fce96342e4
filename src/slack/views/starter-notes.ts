import type { Rollout } from "../../engine/rollout.ts";

/**
 * What the bot tells the person who started a rollout, privately, when the worker cannot carry it out as
 * asked: the start was rejected (preflight, the mesh's own validation), or Slack refuses the channel
 * message. The same words go through a response_url (a command), an ephemeral or a DM (a form).
 */

export function startRejectedText(r: Pick<Rollout, "target" | "problem">): string {
  return `:no_entry: Cannot start rollout of \`${r.target.name}\`: ${r.problem}. Nothing was changed.`;
}

/**
 * `slackError`: Slack's own code for refusing the message (not_in_channel, is_archived, ...). `where`: shown in
 * the rollout's channel (a command's reply, an ephemeral) or in a direct message, which needs the channel named.
 */
export function cannotPostText(r: Pick<Rollout, "id" | "channel">, slackError: string, where: "channel" | "dm" = "channel"): string {
  const place = where === "channel" ? "here" : `in <#${r.channel}>`;
  const invite = where === "channel" ? "invite me to this channel" : "invite me there";
  return `:warning: Rollout \`${r.id}\` is running, but I cannot post its message ${place} (Slack says \`${slackError}\`): ${invite}. \`/rollout status ${r.id}\` shows it meanwhile.`;
}

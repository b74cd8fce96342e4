import type { Rollout, RolloutEvent } from "../../engine/rollout.ts";
import { actorText, clip, duration, escapeMrkdwn, slackTime, split } from "./format.ts";

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
      return `:white_check_mark: Rollout ${r.id} completed: ${r.canary} is permanent ${when}. Mesh now:${meshText(e.text)}\n${summary(r, e.at)}`;
    case "abort-requested":
      return `:rewind: ${who} aborted${weights}${extra} ${when}`;
    case "aborted":
      return `:x: Rollout ${r.id} aborted by ${who}: all traffic back on ${r.stable}, verified ${when}. Mesh now:${meshText(e.text)}\n${summary(r, e.at)}`;
    case "rejected":
      return `:no_entry: Rollout ${r.id} rejected${extra} ${when}`;
    case "held":
      return `:double_vertical_bar: ${who} held the rollout${extra} ${when}`;
    case "resumed":
      return `:arrow_forward: ${who} resumed the rollout${extra}${weights} ${when}`;
    case "warning":
      return `:warning: ${escapeMrkdwn(e.text ?? "problem")} ${when}`;
    case "mode":
      return `:gear: ${escapeMrkdwn(e.text ?? "mode changed")} ${when}`;
    case "notice":
    case "reminder":
    case "alert":
      // These texts are composed by the bot for people (they carry mentions): not escaped.
      return `${e.kind === "alert" ? ":rotating_light:" : e.kind === "notice" ? ":alarm_clock:" : ":bell:"} ${e.text ?? ""}`;
  }
}

/**
 * Blocks for events that offer a decision in the thread: a notice of an automatic step carries a Hold
 * button while the rollout can still be held. Other events are plain text.
 */
export function renderEventBlocks(r: Rollout, e: RolloutEvent): Record<string, unknown>[] | undefined {
  if (e.kind !== "notice" || r.status !== "active" || !r.auto) return undefined;
  return [
    { type: "section", text: { type: "mrkdwn", text: clip(renderEvent(r, e), 3000) } },
    {
      type: "actions",
      block_id: `notice:${r.id}:${e.seq}`,
      elements: [{ type: "button", text: { type: "plain_text", text: "Hold" }, action_id: "rollout.hold", value: `${r.id}|${r.stepIndex}` }],
    },
  ];
}

/** Completion and abort summaries: how long, which steps, and who or what decided each. */
export function summary(r: Rollout, endedAt: number): string {
  const decisions = r.events.filter((e) => e.kind === "advanced" || e.kind === "finish-requested" || e.kind === "abort-requested");
  const lines = decisions.map((e) => {
    const what = e.kind === "advanced" ? `→ ${e.to}%` : e.kind === "finish-requested" ? "finish" : "abort";
    return `${what} by ${actorText(e.actor)}`;
  });
  const reached = Math.max(0, ...r.events.filter((e) => e.kind === "applied" || e.kind === "started").map((e) => e.to ?? 0));
  return `*Summary*: ${duration(endedAt - r.createdAt)}, ${decisions.filter((e) => e.kind === "advanced").length} step(s) taken, highest ${reached}% on ${r.canary}. ${lines.length ? `Decisions: ${lines.join(", ")}.` : ""}`.trim();
}

/** A one-line rendering inline; a whole dtab (namerctl's lines) as a code block. */
function meshText(raw: string | undefined): string {
  const text = escapeMrkdwn(raw ?? "");
  return text.includes("\n") ? `\n\`\`\`${text}\`\`\`` : ` \`${text}\``;
}

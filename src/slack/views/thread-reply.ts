import type { Rollout, RolloutEvent } from "../../engine/rollout.ts";
import { renderEvent, renderEventBlocks } from "./event-text.ts";

/**
 * One thread reply per event, and whether the channel must see it too. What the bot decided by itself
 * (an automatic abort or hold, a hold on drift or on a write it could not make) is broadcast
 * (`reply_broadcast`) and mentions the starter: production traffic moved, or stopped moving, without a person.
 * Pure.
 */
export type ThreadReply = { text: string; blocks?: Record<string, unknown>[]; broadcast: boolean };

export function threadReply(r: Rollout, e: RolloutEvent): ThreadReply {
  const blocks = renderEventBlocks(r, e);
  const text = renderEvent(r, e);
  if (e.kind === "alert") return { text, broadcast: true, ...(blocks ? { blocks } : {}) };
  if (isUnannouncedBotHold(e)) {
    const mention = `<@${r.startedBy}>`;
    return { text: text.includes(mention) ? text : `${mention} ${text}`, broadcast: true };
  }
  return { text, broadcast: false, ...(blocks ? { blocks } : {}) };
}

/**
 * A hold the bot made by itself that carries no alert of its own: drift, or a write the mesh refused. The
 * automatic decisions (`auto: ...`) are followed by an alert event, which is the one broadcast.
 */
function isUnannouncedBotHold(e: RolloutEvent): boolean {
  return e.kind === "held" && e.actor.kind === "bot" && !e.actor.why.startsWith("auto:");
}

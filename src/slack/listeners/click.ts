import { targetKey } from "../../engine/target.ts";
import type { AllMiddlewareArgs, BlockButtonAction, SlackActionMiddlewareArgs } from "@slack/bolt";
import type { AppDeps } from "../../app/deps.ts";
import { auditClick, type ClickAudit } from "../../app/refresh.ts";
import { openedHome } from "../../app/home.ts";
import type { Rollout } from "../../engine/rollout.ts";
import { clip, escapeMrkdwn } from "../views/format.ts";

/**
 * What every button listener needs from a click: who, where, which button and its value, and a way to
 * answer privately. Slack always sends a response_url and a user with a click on a message; a payload that
 * lacks them (or carries something else) is still answered where possible and audited, never dropped.
 */

export type ClickArgs = SlackActionMiddlewareArgs<BlockButtonAction> & AllMiddlewareArgs;

/**
 * What our own buttons carry: `<rollout id>|<step index the person saw>`. The step is -1 (a test stage)
 * or 0..99 (plans have at most 20 steps); anything else did not come from a message of ours.
 */
// A rollout id (`shop#3`, or `shop@prod-eu#3` in another cluster), `|`, the step index the button was drawn at.
const BUTTON_VALUE = /^([a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:@[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)?#\d{1,9})\|(-1|\d{1,2})$/;

export function parseButtonValue(value: unknown): { id: string; step: number } | undefined {
  if (typeof value !== "string" || value.length > 300) return undefined;
  const m = BUTTON_VALUE.exec(value);
  return m ? { id: m[1]!, step: Number(m[2]) } : undefined;
}

/** Slack user ids (`U…`, or `W…` on Enterprise Grid): anything else cannot be recorded as who decided. */
const SLACK_USER_ID = /^[UW][A-Z0-9]{2,31}$/;

export type Click = {
  /** The clicking user, when the payload names one the way Slack does. */
  userId?: string;
  /** For the audit trail: the user id as sent (clipped), or a placeholder. */
  actor: string;
  channelId?: string;
  actionId: string;
  value: unknown;
  /** `action_id value` as sent, clipped: the audit entry's detail. */
  detail: string;
  /** Answer privately: the response_url, else chat.postEphemeral; never throws. */
  tell(text: string): Promise<void>;
};

export function readClick(args: ClickArgs, deps: Pick<AppDeps, "log"> & Partial<AppDeps>): Click {
  const { action, body, client } = args;
  const fromHome = (body.view as { type?: unknown } | undefined)?.type === "home";
  // Bolt only sets respond when the payload has a response_url, whatever its type says.
  const respond = (args as Partial<ClickArgs>).respond;
  const rawUser: unknown = body.user?.id;
  const userId = typeof rawUser === "string" && SLACK_USER_ID.test(rawUser) ? rawUser : undefined;
  const channel: unknown = body.channel?.id ?? (body.container as { channel_id?: unknown } | undefined)?.channel_id;
  const channelId = typeof channel === "string" && channel.length > 0 && channel.length <= 40 ? channel : undefined;
  const actionId = String(action.action_id);
  // A button carries `value`; an overflow menu carries the option picked.
  const value: unknown =
    "value" in action ? (action as { value?: unknown }).value : (action as { selected_option?: { value?: unknown } }).selected_option?.value;
  return {
    ...(userId ? { userId } : {}),
    actor: userId ?? (typeof rawUser === "string" && rawUser ? `unknown:${clip(rawUser, 40)}` : "unknown"),
    ...(channelId ? { channelId } : {}),
    actionId,
    value,
    detail: clip(`${actionId} ${value === undefined ? "(no value)" : typeof value === "string" ? value : JSON.stringify(value)}`, 200),
    async tell(text) {
      const message = { response_type: "ephemeral" as const, replace_original: false, text };
      if (respond) {
        try {
          await respond(message);
          return;
        } catch (err) {
          deps.log.warn({ err }, "could not answer a click through its response_url; trying chat.postEphemeral");
        }
      }
      if (userId && channelId) {
        try {
          await client.chat.postEphemeral({ channel: channelId, user: userId, text });
          return;
        } catch (err) {
          deps.log.warn({ err }, "could not answer a click with chat.postEphemeral");
          return;
        }
      }
      // A click on the App Home tab has neither: the answer goes at the top of the person's board.
      if (userId && fromHome && deps.queue && deps.now) {
        try {
          await openedHome({ queue: deps.queue, now: deps.now, ...(deps.homeViewers ? { homeViewers: deps.homeViewers } : {}) }, userId, text);
          return;
        } catch (err) {
          deps.log.warn({ err }, "could not answer a click on the Home tab");
          return;
        }
      }
      deps.log.warn({ actionId }, "could not answer a click: it has no response_url, user or channel");
    },
  };
}

/** A value as it may be quoted back to the person: one line, inline code, at most 60 characters. */
export function quote(value: unknown): string {
  const s = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  if (!s.trim()) return s ? "(blank)" : "(empty)";
  return `\`${escapeMrkdwn(clip(s.replace(/\s+/g, " ").replace(/`/g, "'"), 60))}\``;
}

/** The rollout a click is about, for its audit entry: its stream, and its weights (unchanged by a refusal). */
export type ClickRollout = Partial<Pick<ClickAudit, "rolloutId" | "target" | "before" | "after">>;

export function aboutRollout(r: Pick<Rollout, "id" | "target" | "appliedPercent">): ClickRollout {
  return { rolloutId: r.id, target: targetKey(r.target), ...(r.appliedPercent != null ? { before: r.appliedPercent, after: r.appliedPercent } : {}) };
}

/**
 * A click's audit entry (done, refused or failed), with who, where and what was clicked. Without `rolloutId`
 * it goes to the global stream only: a click that names no rollout, or one that does not exist, opens no
 * per-rollout stream.
 */
export function auditClickOf(deps: Pick<AppDeps, "audit" | "log" | "now">, click: Click) {
  return (entry: Pick<ClickAudit, "action" | "outcome"> & Partial<Pick<ClickAudit, "reason">> & ClickRollout): Promise<void> =>
    auditClick(deps, { actor: click.actor, ...(click.channelId ? { channel: click.channelId } : {}), detail: click.detail, ...entry });
}

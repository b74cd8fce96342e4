import type { Logger } from "pino";
import type { AuditLog, AuditVia } from "../store/audit.ts";
import type { SeenRequests } from "../store/seen-requests.ts";

/**
 * Replays refused: a request whose signature checked out is taken only the first time it is received.
 * A second delivery of the same request (the same signed bytes within their five minutes, a retried Events
 * API event, a redelivered Socket Mode envelope) is answered 200 by the surface with nothing done, and
 * audited as a replay.
 */

/** What identifies one request, as the surface received it. */
export type DeliveredRequest = {
  /**
   * `signature:<hex>` and `event:<id>` over HTTP; `envelope:<id>`, `trigger:<id>` and `event:<id>` over Socket
   * Mode: any one seen before makes it a replay.
   */
  ids: string[];
  via: AuditVia;
  /** Who the payload says sent it, and where (recorded on the replay's audit entry). */
  actor?: string;
  channel?: string;
  /** What it was (`/rollout advance ...`, `block_actions rollout.advance`), clipped by the audit trail. */
  detail: string;
};

export type ReplayDeps = { seen: SeenRequests; audit: AuditLog; now: () => number; log: Logger };

/**
 * Whether the request is taken. Redis unreachable: taken (and logged), because everything a request can do
 * needs Redis too, so it fails there at once; refusing here would only hide the bot's own error message.
 */
export async function firstDelivery(deps: ReplayDeps, req: DeliveredRequest): Promise<boolean> {
  let first: boolean;
  try {
    first = await deps.seen.firstTime(req.ids);
  } catch (err) {
    deps.log.warn({ err }, "could not check whether a request was seen before (Redis); taking it");
    return true;
  }
  if (first) return true;
  deps.log.warn({ via: req.via, actor: req.actor }, "refused a replayed request (already received)");
  await deps.audit
    .append({
      at: deps.now(),
      actor: req.actor ?? "unknown",
      action: "replay",
      via: req.via,
      outcome: "refused",
      ...(req.channel ? { channel: req.channel } : {}),
      reason: "this request was received before (same signature, trigger, event or envelope); nothing was done",
      detail: req.detail,
    })
    .catch((err: unknown) => deps.log.error({ err }, "could not append to the audit trail"));
  return false;
}

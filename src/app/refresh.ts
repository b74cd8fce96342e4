import { isTerminal, type Rollout } from "../engine/rollout.ts";
import { err, ok, type Result } from "../engine/result.ts";
import type { AuditEntry } from "../store/audit.ts";
import type { AppDeps } from "./deps.ts";
import { withinLimit, type RateLimited } from "./rate-limits.ts";
import { canSeeRollout } from "./visibility.ts";

/** Why a reading cannot be taken now. */
export type RefreshRefusal = { code: "no-rollout"; id: string } | { code: "ended"; rollout: Rollout } | { code: "no-metrics"; rollout: Rollout } | RateLimited;

/**
 * Ask for a success-rate reading now. It changes no state, so anyone may (a few a minute each, see rate-limits.ts); the surface audits the click with
 * what this returns (the rollout it was about, done or refused).
 */
export async function refreshReadings(
  deps: Pick<AppDeps, "store" | "queue" | "now" | "limits" | "channels">,
  userId: string,
  id: string,
): Promise<Result<Rollout, RefreshRefusal>> {
  const limited = await withinLimit(deps.limits, "refresh", userId);
  if (!limited.ok) return limited;
  const r = await deps.store.get(id);
  // A rollout of a channel the person cannot see is answered as if it did not exist (its state is a read).
  if (!r || !(await canSeeRollout(deps, userId, r))) return err({ code: "no-rollout", id });
  if (isTerminal(r)) return err({ code: "ended", rollout: r });
  if (!r.target.metrics || r.target.metrics.source === "none") return err({ code: "no-metrics", rollout: r });
  await deps.queue.snapshot(r.id, { refresh: true, now: deps.now(), asked: true });
  return ok(r);
}

/** A click's audit entry: who, where, what they clicked and about which rollout. */
export type ClickAudit = Pick<AuditEntry, "actor" | "action" | "outcome"> &
  Partial<Pick<AuditEntry, "channel" | "detail" | "reason" | "rolloutId" | "target" | "before" | "after">>;

/** Every click is audited, even one that names no rollout (then only in the global trail). Never throws. */
export async function auditClick(deps: Pick<AppDeps, "audit" | "log" | "now">, entry: ClickAudit): Promise<void> {
  try {
    await deps.audit.append({ at: deps.now(), via: "button", ...entry });
  } catch (e) {
    deps.log.error({ err: e, action: entry.action }, "could not append to the audit trail");
  }
}

/** Look a rollout up by id for a click (no policy: reading). */
export function rolloutById(deps: Pick<AppDeps, "store">, id: string): Promise<Rollout | undefined> {
  return deps.store.get(id);
}

import { targetKey } from "../engine/target.ts";
import type { ActionKind } from "../engine/policy.ts";
import type { Refusal } from "../engine/refusal.ts";
import { err, type Result } from "../engine/result.ts";
import type { AuditVia } from "../store/audit.ts";
import { decide, type Decided } from "./decide.ts";
import type { AppDeps } from "./deps.ts";

/** A person's decision about a rollout, from any surface (a command, a button, later a form or a page). */
export type ActRequest = {
  userId: string;
  kind: ActionKind;
  rolloutId: string;
  /** The step the person saw (buttons): a second click on the same message is then late, not a second step. */
  fromStep?: number;
  channelId?: string;
  via: AuditVia;
  /** For `auto`: the interval of automatic steps. */
  intervalMs?: number;
};

export type ActRefusal = Refusal | { code: "no-metrics-for-auto"; target: string };

/**
 * Take a person's decision: automatic steps need a success-rate source; then authorize, compare-and-set,
 * audit and enqueue (`decide`).
 */
export async function act(deps: AppDeps, req: ActRequest): Promise<Result<Decided, ActRefusal>> {
  let auto;
  if (req.intervalMs !== undefined) {
    const r = await deps.store.get(req.rolloutId);
    if (r) {
      if (!deps.metrics.for(r.target)) return err({ code: "no-metrics-for-auto", target: targetKey(r.target) });
      const t = r.target.auto;
      auto = { intervalMs: req.intervalMs, maxWaitMs: t?.maxWait ?? 30 * 60_000, noticeMs: Math.min(t?.notice ?? 60_000, req.intervalMs / 2) };
    }
  }
  return decide(deps, { kind: "user", id: req.userId }, req.kind, req.rolloutId, req.fromStep, {
    via: req.via,
    ...(req.channelId ? { channelId: req.channelId } : {}),
    ...(auto ? { auto } : {}),
  });
}

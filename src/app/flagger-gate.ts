import { createHash, timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import { z } from "zod";
import { flaggerCall, flaggerCanaryName, isNewFlaggerRevision, newFlaggerRollout, supersedeFlagger, type GateAnswer } from "../engine/flagger.ts";
import { FLAGGER_HOOKS, type FlaggerCall, type FlaggerHook } from "../engine/flagger-types.ts";
import type { Rollout } from "../engine/rollout.ts";
import { kubeNamespace, type Target } from "../engine/target.ts";
import type { EffectQueue } from "../queue/queues.ts";
import type { AuditLog } from "../store/audit.ts";
import type { RolloutStore } from "../store/rollout-store.ts";

/**
 * The webhook gates Flagger calls (PROGRESSIVE-DELIVERY.md 2.3-2.5), one path per target and hook:
 * `POST /flagger/<target>/<hook>`. Flagger signs nothing, so each Canary's webhooks carry the target's token
 * in `metadata.token` (never in the URL, which lands in logs); it is compared in constant time. A call is
 * folded into the record of its revision (checksum) and answered from the decisions recorded there: 200
 * opens a gate (for `rollback`: roll back), 403 keeps it closed. Refusals change nothing and are audited.
 */

export type FlaggerGateDeps = {
  store: RolloutStore;
  queue: Pick<EffectQueue, "afterUpdate">;
  audit: Pick<AuditLog, "append">;
  now: () => number;
  log: Logger;
  targets: ReadonlyMap<string, Target>;
  /** Each flagger target's token (config.ts resolves `tokenFile` / `tokenEnv` at start-up). */
  tokens: ReadonlyMap<string, string>;
};

export type GateReply = { status: number; body: string };

const PayloadSchema = z.object({
  name: z.string().min(1).max(253),
  namespace: z.string().min(1).max(63),
  phase: z.string().max(40).default(""),
  checksum: z.string().max(100).default(""),
  metadata: z.record(z.string(), z.string()).optional(),
});

export function sameToken(given: string, expected: string): boolean {
  // Hashed first so the comparison takes the same time whatever the lengths.
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

const reply = (status: number, body: string): GateReply => ({ status, body });

export async function answerFlaggerCall(deps: FlaggerGateDeps, targetName: string, hookName: string, rawBody: string): Promise<GateReply> {
  const refuse = async (status: number, why: string, target?: string): Promise<GateReply> => {
    await deps.audit
      .append({
        at: deps.now(),
        actor: "flagger",
        action: "flagger-gate",
        via: "webhook",
        outcome: "refused",
        ...(target ? { target } : {}),
        reason: `${hookName}: ${why}`,
      })
      .catch((err: unknown) => deps.log.error({ err }, "could not append to the audit trail"));
    deps.log.warn({ target: targetName.slice(0, 63), hook: hookName.slice(0, 40), status }, `flagger webhook refused: ${why}`);
    return reply(status, why);
  };
  const target = deps.targets.get(targetName);
  if (!target || target.router !== "flagger") return refuse(404, "no flagger target of that name");
  if (!(FLAGGER_HOOKS as readonly string[]).includes(hookName)) return refuse(404, `unknown hook: the paths are ${FLAGGER_HOOKS.join(", ")}`, target.name);
  const hook = hookName as FlaggerHook;
  let parsed;
  try {
    parsed = PayloadSchema.safeParse(JSON.parse(rawBody));
  } catch {
    return refuse(400, "the body is not JSON", target.name);
  }
  if (!parsed.success) return refuse(400, "the body is not Flagger's webhook payload (name, namespace, phase, checksum, metadata)", target.name);
  const body = parsed.data;
  const token = body.metadata?.token;
  const expected = deps.tokens.get(target.name);
  if (!token) return refuse(401, "no token: add `token` to the webhook's metadata (docs/routers/flagger.md)", target.name);
  if (!expected || !sameToken(token, expected)) return refuse(401, "the token does not match this target's", target.name);
  if (body.name !== flaggerCanaryName(target) || body.namespace !== kubeNamespace(target)) {
    return refuse(404, `this target gates Canary ${kubeNamespace(target)}/${flaggerCanaryName(target)}, not ${body.namespace}/${body.name}`, target.name);
  }
  if (!body.checksum) return refuse(400, "the payload has no checksum", target.name);

  const call: FlaggerCall =
    hook === "event"
      ? {
          hook,
          name: body.name,
          namespace: body.namespace,
          phase: body.phase,
          checksum: body.checksum,
          message: (body.metadata?.eventMessage ?? "").slice(0, 1000),
          warning: body.metadata?.eventType === "Warning",
        }
      : { hook, name: body.name, namespace: body.namespace, phase: body.phase, checksum: body.checksum };

  const record = await recordFor(deps, target, call);
  if (!record) {
    // Nothing to answer from: a revision the bot has not seen a gate of (events before the first gate call).
    return hook === "rollback"
      ? reply(403, "no rollback asked")
      : hook === "event" || hook === "post-rollout"
        ? reply(202, "no rollout for this revision yet")
        : reply(403, "closed");
  }
  let answer: GateAnswer = { open: false, why: "waiting" };
  const res = await deps.store.update(record.id, (r) => {
    const out = flaggerCall(r, call, deps.now());
    answer = out.answer;
    return out.rollout;
  });
  if (!res.ok) return refuse(409, "the rollout record could not be read", target.name);
  if (res.value.changed) {
    await deps.queue.afterUpdate(res.value.rollout);
    await deps.audit
      .append({
        at: deps.now(),
        actor: "flagger",
        action: "flagger-gate",
        via: "webhook",
        outcome: "done",
        rolloutId: record.id,
        target: target.name,
        reason: `${hook} (${call.phase || "?"}) answered ${answer.open ? "open" : "closed"}: ${answer.why}`,
      })
      .catch((err: unknown) => deps.log.error({ err }, "could not append to the audit trail"));
  }
  return answer.open ? reply(200, answer.why) : reply(403, answer.why);
}

/** The record a call is answered from: its revision's, or a new one when a gate asks about a new revision. */
async function recordFor(deps: FlaggerGateDeps, target: Target, call: FlaggerCall): Promise<Rollout | undefined> {
  const latest = await deps.store.latestOf(target.name);
  if (latest?.flagger && !isNewFlaggerRevision(latest, call.checksum)) return latest;
  // Only a confirm gate starts a rollout in chat: events and the rollback gate also come for revisions
  // Flagger is not running (initialization), and a rollback can only be asked on a message.
  if (!call.hook.startsWith("confirm-")) return undefined;
  const active = await deps.store.activeFor(target.name);
  const now = deps.now();
  if (active?.flagger) {
    const ended = await deps.store.update(active.id, (r) => (r.flagger && r.canary !== call.checksum ? supersedeFlagger(r, call.checksum, now) : r));
    if (ended.ok && ended.value.changed) await deps.queue.afterUpdate(ended.value.rollout);
  }
  const id = await deps.store.nextId(target.name);
  const created = await deps.store.create(newFlaggerRollout({ id, target, channel: target.flagger!.channel, checksum: call.checksum, phase: call.phase, now }));
  if (!created.ok) return deps.store.latestOf(target.name);
  await deps.queue.afterUpdate(created.value);
  deps.log.info({ rolloutId: id, checksum: call.checksum }, "gating a new Flagger revision");
  return created.value;
}

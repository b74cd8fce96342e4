import type { Logger } from "pino";
import { flaggerCanaryName, observeCanary } from "../engine/flagger.ts";
import type { CanaryReading, FlaggerHook } from "../engine/flagger-types.ts";
import { kubeNamespace, type Target } from "../engine/target.ts";
import type { CanaryRead } from "../controllers/flagger.ts";
import { KubeApiError } from "../kube/call.ts";
import type { EffectQueue } from "../queue/queues.ts";
import type { RolloutStore } from "../store/rollout-store.ts";
import { sameToken } from "./flagger-gate.ts";

/**
 * Reading a Canary that Flagger runs and the bot gates: each reading is folded into the record of the
 * revision Flagger is running (the weight, phase, checks and analysis settings the message shows), and what
 * makes the target unable to work (no such Canary, one that cannot be read, webhooks that do not call the
 * bot or carry another token) is found at start-up instead of when Flagger calls, or never calls.
 */

export type CanaryReader = { read(namespace: string, name: string, target: string): Promise<CanaryRead> };

export type FlaggerFollowDeps = {
  store: RolloutStore;
  queue: Pick<EffectQueue, "afterUpdate">;
  now: () => number;
  log: Logger;
  flagger: CanaryReader;
  /** Each flagger target's token, to check the one the Canary's webhooks carry. */
  tokens: ReadonlyMap<string, string>;
};

/** What is wrong with a Canary the bot can read: Flagger would never ask, or be refused at every call. */
export type CanaryProblem = { why: "no-gates" } | { why: "bad-token"; hooks: FlaggerHook[] };

export type FlaggerFollowOutcome =
  | { kind: "followed"; rolloutId?: string; changed: boolean; problem?: CanaryProblem; reading: CanaryReading }
  | { kind: "refused"; why: "not-found" | "unreadable"; message?: string };

export function flaggerCanaryRef(target: Target): { namespace: string; name: string } {
  return { namespace: kubeNamespace(target), name: flaggerCanaryName(target) };
}

export async function followFlagger(deps: FlaggerFollowDeps, target: Target): Promise<FlaggerFollowOutcome> {
  const { namespace, name } = flaggerCanaryRef(target);
  let read: CanaryRead;
  try {
    read = await deps.flagger.read(namespace, name, target.name);
  } catch (err) {
    // Forbidden (no RBAC), or another refusal a retry will not change: said like an unreadable Canary.
    if (err instanceof KubeApiError && !err.transient) return { kind: "refused", why: "unreadable", message: err.message };
    throw err;
  }
  if (read.kind !== "ok") return { kind: "refused", why: read.kind, ...(read.kind === "unreadable" ? { message: read.message } : {}) };
  const problem = problemOf(deps, target, read);
  const active = await deps.store.activeFor(target.name);
  if (!active?.flagger) return { kind: "followed", changed: false, reading: read.reading, ...(problem ? { problem } : {}) };
  const res = await deps.store.update(active.id, (r) => observeCanary(r, read.reading, deps.now()));
  const changed = res.ok && res.value.changed;
  if (res.ok && res.value.changed) await deps.queue.afterUpdate(res.value.rollout);
  return { kind: "followed", rolloutId: active.id, changed, reading: read.reading, ...(problem ? { problem } : {}) };
}

function problemOf(deps: FlaggerFollowDeps, target: Target, read: Extract<CanaryRead, { kind: "ok" }>): CanaryProblem | undefined {
  if (!read.reading.hooks.some((h) => h.startsWith("confirm-"))) return { why: "no-gates" };
  const expected = deps.tokens.get(target.name);
  const bad = read.webhooks.filter(
    (w) => w.toBot && read.reading.hooks.includes(w.type as FlaggerHook) && (!expected || w.token === undefined || !sameToken(w.token, expected)),
  );
  if (bad.length) return { why: "bad-token", hooks: [...new Set(bad.map((w) => w.type as FlaggerHook))] };
  return undefined;
}

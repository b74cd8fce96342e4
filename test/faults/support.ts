import type { SlackPeer } from "../../sandbox/peers/slack/index.ts";
import type { Harness } from "../support/bot-harness.ts";
import { percentOnSplit, seedTrafficSplit } from "../support/split.ts";

/** Helpers shared by the issue-6 proof suites (test/faults/*.test.ts). */

export const SPLIT = "backend-ts";
export const SEED = "start backend-svc --from backend-v1 --to backend-v2 --steps 10,80,100 --namespace default";

/** The TrafficSplit backend-ts for backend-svc, all traffic on backend-v1. */
export function seedSplit(
  h: Pick<Harness, "kube">,
  backends = [
    { service: "backend-v1", weight: 100 },
    { service: "backend-v2", weight: 0 },
  ],
): void {
  seedTrafficSplit(h.kube, { name: SPLIT, service: "backend-svc" }, backends);
}

/** Percent of the split's weight on `service` (v1alpha1 quantities like "900m" included). */
export function percentOn(h: Pick<Harness, "kube">, service: string): number {
  return percentOnSplit(h.kube.get("trafficsplits", "default", SPLIT)?.spec, service);
}

export const splitWrites = (h: Pick<Harness, "kube">): number => h.kube.mutations("trafficsplits", "default", SPLIT).length;

export type RetryAfterGap = { method: string; retryAfterSeconds: number; gapMs: number };

/**
 * For each Slack 429 the bot read: its Retry-After and how long after it the same call (same method and
 * arguments) reached Slack again. Throws when a rate-limited call never came again.
 */
export function retryAfterGaps(slack: Pick<SlackPeer, "calls">): RetryAfterGap[] {
  const calls = slack.calls;
  return calls.flatMap((c, i) => {
    if (c.status !== 429 || c.clientGone) return []; // a 429 nobody read asks nothing of the client
    const same = JSON.stringify(c.args);
    const retry = calls.slice(i + 1).find((n) => n.method === c.method && JSON.stringify(n.args) === same);
    if (!retry) throw new Error(`${c.method} was rate-limited and never retried`);
    return [{ method: c.method, retryAfterSeconds: c.retryAfterSeconds ?? Number.NaN, gapMs: retry.at - c.at }];
  });
}

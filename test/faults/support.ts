import type { KubeObject } from "../peers/kube-api.ts";
import type { SlackPeer } from "../peers/slack/index.ts";
import type { Harness } from "../support/bot-harness.ts";

/** Helpers shared by the issue-6 proof suites (test/faults/*.test.ts). */

export const SPLIT = "backend-ts";
export const SEED = "start backend-svc --from backend-v1 --to backend-v2 --steps 10,80,100 --namespace default";

/** The TrafficSplit backend-ts for backend-svc, all traffic on backend-v1. */
export function seedSplit(h: Pick<Harness, "kube">, backends = [{ service: "backend-v1", weight: 100 }, { service: "backend-v2", weight: 0 }]): void {
  h.kube.seed("trafficsplits", "default", {
    kind: "TrafficSplit",
    metadata: { name: SPLIT, namespace: "default" },
    spec: { service: "backend-svc", backends },
  } as KubeObject);
}

/** Percent of the split's weight on `service` (v1alpha1 quantities like "900m" included). */
export function percentOn(h: Pick<Harness, "kube">, service: string): number {
  const ts = h.kube.get("trafficsplits", "default", SPLIT);
  const backends = (ts?.spec as { backends?: { service: string; weight: number | string }[] } | undefined)?.backends ?? [];
  const q = (w: number | string) => (typeof w === "number" ? w : w.endsWith("m") ? Number(w.slice(0, -1)) / 1000 : Number(w));
  const total = backends.reduce((n, b) => n + q(b.weight), 0);
  const mine = backends.filter((b) => b.service === service).reduce((n, b) => n + q(b.weight), 0);
  return total === 0 ? 0 : Math.round((100 * mine) / total);
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

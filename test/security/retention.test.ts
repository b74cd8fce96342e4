import { afterAll, beforeAll, expect, it } from "vitest";
import { CHANNEL, startHarness, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { testRedis } from "../support/redis.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { SEED, seedSplit } from "../faults/support.ts";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";

/**
 * Issue 20, item 7: nothing an ended rollout leaves in Redis lives forever (Redis runs `noeviction`: writes
 * would fail one day). With ROLLOUT_RETENTION_DAYS at 4 seconds: every key of an aborted rollout (record,
 * audit timeline, Slack bookkeeping, readings, the target's sequence) expires with it, a running rollout's
 * keys do not, and once they are gone the next ending trims the index and the global audit stream.
 */

const ALICE = "UALICE";
const RETENTION_SECONDS = 4;
let h: Harness;
const redis = testRedis();

beforeAll(async () => {
  h = await startHarness({ extraEnv: { ROLLOUT_RETENTION_DAYS: String(RETENTION_SECONDS / 86_400) } });
  seedSplit(h);
});
afterAll(async () => {
  await h.close();
  redis.disconnect();
});

/** Every key of the target's hash slot but its leases (which carry their own short expiry), with its TTL. */
async function targetKeys(): Promise<Record<string, number>> {
  const keys = (await redis.keys(`${h.prefix}:{backend-svc}:*`)).filter((k) => !k.includes(":lock:"));
  const ttls = await Promise.all(keys.map((k) => redis.ttl(k)));
  return Object.fromEntries(keys.map((k, i) => [k.slice(h.prefix.length + 1), ttls[i]!]));
}

it("an ended rollout's keys expire after the retention; a running one's do not; then the index and the global audit are trimmed", async () => {
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
  await waitForMessage(h, "backend-svc#1", "Advance to 80%");
  await waitForStatus(h, "backend-svc#1", "active");
  const running = await targetKeys();
  // Running: nothing of it expires (readings keep their own month-long window until it ends).
  expect(
    Object.entries(running)
      .filter(([k]) => !k.includes(":readings:"))
      .map(([k, ttl]) => [k, ttl]),
  ).toEqual(
    Object.keys(running)
      .filter((k) => !k.includes(":readings:"))
      .map((k) => [k, -1]),
  );

  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "abort backend-svc#1" });
  await waitForStatus(h, "backend-svc#1", "aborted");
  const ended = await targetKeys();
  // (No readings here: the target has no metrics source. Their key follows the record like the Slack one.)
  expect(Object.keys(ended).sort()).toEqual(["{backend-svc}:audit:1", "{backend-svc}:r:1", "{backend-svc}:seq", "{backend-svc}:slack:1"]);
  for (const [key, ttl] of Object.entries(ended)) {
    expect(ttl, key).toBeGreaterThan(0);
    expect(ttl, key).toBeLessThanOrEqual(RETENTION_SECONDS);
  }
  const index = `${h.prefix}:index`;
  expect(await redis.zrange(index, 0, -1)).toEqual(["backend-svc#1"]);
  const globalBefore = await redis.xlen(`${h.prefix}:audit`);
  expect(globalBefore).toBeGreaterThan(0);

  // The retention passes: all of it is gone.
  await waitFor(async () => (Object.keys(await targetKeys()).length === 0 ? true : undefined), {
    timeoutMs: (RETENTION_SECONDS + 3) * 1000,
    what: "the keys expired",
  });
  // The next ending (another target's rollout, aborted) trims the index and the global stream.
  await sleep(1_000);
  h.kube.seed("trafficsplits", "default", {
    kind: "TrafficSplit",
    metadata: { name: "other-ts", namespace: "default" },
    spec: {
      service: "other-svc",
      backends: [
        { service: "other-v1", weight: 100 },
        { service: "other-v2", weight: 0 },
      ],
    },
  } as KubeObject);
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start other-svc --from other-v1 --to other-v2 --steps 10,100 --namespace default" });
  await waitForStatus(h, "other-svc#1", "active");
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "abort other-svc#1" });
  await waitFor(async () => ((await redis.zrange(index, 0, -1)).includes("backend-svc#1") ? undefined : true), { what: "the index trimmed" });
  const audit = await redis.xrange(`${h.prefix}:audit`, "-", "+");
  const cutoff = Date.now() - (RETENTION_SECONDS + 2) * 1000;
  expect(audit.filter(([id]) => Number(id.split("-")[0]) < cutoff)).toEqual([]);
  expect(audit.length).toBeLessThan(globalBefore + 10);
});

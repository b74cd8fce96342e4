import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { QUEUE_NAME } from "../../src/queue/queues.ts";
import { Keys } from "../../src/store/keys.ts";
import { CHANNEL, clickButton, startHarness, waitForEphemeral, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { LocalRedisCluster } from "../support/redis-cluster.ts";
import { testRedis } from "../support/redis.ts";
import { percentOnSplit } from "../support/split.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 13, Redis Cluster: a local 3-master cluster (password required), the real bot pointed at it with
 * `REDIS_URL=redis+cluster://...`, and a rollout driven as Slack would drive it: start, advance, finish.
 * Then where the keys are: spread over the masters, BullMQ's under its hash tag, none on the ordinary Redis.
 */

const ALICE = "UALICE";
const TARGET = "backend-svc";
const SEED = `start ${TARGET} --from backend-v1 --to backend-v2 --steps 10,80,100 --namespace default`;

let cluster: LocalRedisCluster | undefined;
let h: Harness | undefined;
afterAll(async () => {
  await h?.close();
  await cluster?.close();
});

/**
 * A key prefix whose global keys (index, BullMQ) are served by two different masters, so the keys must end
 * up on more than one node: with everything behind one hash tag, or on one server, they would not.
 */
async function spreadPrefix(c: LocalRedisCluster): Promise<string> {
  for (;;) {
    const prefix = `rbtest:cluster:${randomBytes(4).toString("hex")}`;
    const keys = new Keys(prefix, true);
    if ((await c.ownerOf(keys.index())) !== (await c.ownerOf(`${keys.bullPrefix()}:${QUEUE_NAME}:meta`))) return prefix;
  }
}

describe("Redis Cluster (REDIS_URL=redis+cluster://...)", () => {
  it("runs a rollout start -> advance -> finish over a 3-master cluster, its keys spread over the masters", async () => {
    cluster = await LocalRedisCluster.start({ masters: 3, password: `pw-${randomBytes(6).toString("hex")}` });
    const prefix = await spreadPrefix(cluster);
    h = await startHarness({ extraEnv: { REDIS_URL: cluster.url, ROLLOUT_KEY_PREFIX: prefix } });
    h.kube.seed("trafficsplits", "default", {
      kind: "TrafficSplit",
      metadata: { name: "backend-ts", namespace: "default" },
      spec: {
        service: TARGET,
        backends: [
          { service: "backend-v1", weight: 100 },
          { service: "backend-v2", weight: 0 },
        ],
      },
    });
    const canary = () => percentOnSplit(h!.kube.get("trafficsplits", "default", "backend-ts")?.spec, "backend-v2");

    // Ready once the cluster's slot map is known (the request connection does not queue until then).
    const ready = await waitFor(
      async () => {
        const r = await fetch(`${h!.bot.healthUrl}/readyz`);
        return r.status === 200 ? r.text() : undefined;
      },
      { timeoutMs: 10_000, what: "/readyz to answer 200" },
    );
    expect(ready).toBe("ready");

    const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
    expect(res.status).toBe(200);
    await waitForEphemeral(h, ALICE, `Starting rollout \`${TARGET}#1\``);
    const first = await waitForMessage(h, `${TARGET}#1`, "Advance to 80%", 15_000);
    expect(canary()).toBe(10);

    await clickButton(h, `${TARGET}#1`, ALICE, "Advance to 80%");
    await waitForMessage(h, `${TARGET}#1`, "Advance to 100%", 15_000);
    expect(canary()).toBe(80);
    await clickButton(h, `${TARGET}#1`, ALICE, "Advance to 100%");
    await waitForMessage(h, `${TARGET}#1`, "Finish", 15_000);
    expect(canary()).toBe(100);
    await clickButton(h, `${TARGET}#1`, ALICE, "Finish");
    const done = await waitForMessage(h, `${TARGET}#1`, "Completed", 15_000);
    expect(done.ts).toBe(first.ts);
    expect((await h.bot.store.get(`${TARGET}#1`))?.status).toBe("completed");
    const thread = await waitFor(() => {
      const t = h!.slack.thread(CHANNEL, first.ts).map((m) => m.text ?? "");
      return t.some((x) => x.includes("completed")) ? t : undefined;
    });
    expect(thread.some((t) => t.includes(`<@${ALICE}> started rollout ${TARGET}#1`))).toBe(true);
    expect(thread.some((t) => t.includes(`<@${ALICE}> advanced to 80% (backend-v1/backend-v2 90/10 → 20/80)`))).toBe(true);
    expect(thread.some((t) => t.includes(`<@${ALICE}> is finishing the rollout`))).toBe(true);

    // Where the data is, node by node (plain connections: each sees only what its node holds).
    const keys = new Keys(prefix, true);
    const byNode = await cluster.keysByNode(`*${prefix}*`);
    const all = [...byNode.values()].flat();
    const recordKey = keys.record(TARGET, 1);
    expect(byNode.get(await cluster.ownerOf(recordKey))).toContain(recordKey);
    expect(byNode.get(await cluster.ownerOf(keys.index()))).toContain(keys.index());
    expect(all).toContain(keys.audit(TARGET, 1));
    expect(all).toContain(keys.globalAudit());
    // BullMQ's keys all carry the hash tag {<prefix>:bull}; the single-Redis prefix is not used.
    const bull = all.filter((k) => k.includes(":bull"));
    expect(bull).toContain(`{${prefix}:bull}:${QUEUE_NAME}:meta`);
    expect(bull.filter((k) => !k.startsWith(`{${prefix}:bull}:`))).toEqual([]);
    expect(new Set(bull.map((k) => [...byNode].find(([, ks]) => ks.includes(k))![0])).size).toBe(1);
    expect([...byNode.values()].filter((ks) => ks.length > 0).length).toBeGreaterThan(1);
    // Nothing went to the ordinary Redis the tests otherwise use.
    const plain = testRedis();
    try {
      expect(await plain.keys(`*${prefix}*`)).toEqual([]);
    } finally {
      plain.disconnect();
    }

    // A master lost: the cluster can no longer serve all its slots, and /readyz says so.
    await cluster.kill(cluster.nodes[2]!.port);
    const unready = await waitFor(
      async () => {
        const r = await fetch(`${h!.bot.healthUrl}/readyz`);
        return r.status === 503 ? r.text() : undefined;
      },
      { timeoutMs: 20_000, what: "/readyz to answer 503 with a master down" },
    );
    expect(unready).toBe("redis unavailable");

    await h.close();
    h = undefined;
    const { dir, nodes } = cluster;
    await cluster.close();
    cluster = undefined;
    expect(existsSync(dir)).toBe(false);
    expect(nodes.map((n) => n.child.exitCode !== null || n.child.signalCode !== null)).toEqual([true, true, true]);
  }, 60_000);
});

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { Bot } from "../../src/bot.ts";
import { LANES } from "../../src/queue/lanes.ts";
import { Keys } from "../../src/store/keys.ts";
import { startKubeApiPeer, type KubeApiPeer } from "../../sandbox/peers/kube-api.ts";
import { freePort } from "../../sandbox/peers/net.ts";
import { SlackDriver, startSlackPeer, type SlackPeer } from "../../sandbox/peers/slack/index.ts";
import { CHANNEL, clickButton, startHarness, waitForEphemeral, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { startBareBot } from "../support/bare-bot.ts";
import { botProcessEnv } from "../support/bot-process.ts";
import { LocalRedisCluster } from "../support/redis-cluster.ts";
import { randomPrefix, testRedis } from "../support/redis.ts";
import { percentOnSplit } from "../support/split.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 13, Redis Cluster: a local 3-master cluster (password required), the real bot pointed at it with
 * `REDIS_URL=redis+cluster://...`, and a rollout driven as Slack would drive it: start, advance, finish.
 * Then where the keys are: spread over the masters, BullMQ's under its hash tag, none on the ordinary Redis.
 * And the TLS form (rediss+cluster://) through the production entry point, which trusts the cluster's CA only
 * by NODE_EXTRA_CA_CERTS (read at process start, hence a process of its own).
 */

const REPO = fileURLToPath(new URL("../..", import.meta.url));

const ALICE = "UALICE";
const TARGET = "backend-svc";
const SEED = `start ${TARGET} --from backend-v1 --to backend-v2 --steps 10,80,100 --namespace default`;

let cluster: LocalRedisCluster | undefined;
let h: Harness | undefined;
let proc: ChildProcess | undefined;
let peers: { slack: SlackPeer; kube: KubeApiPeer } | undefined;
let bare: Bot | undefined;
afterAll(async () => {
  await bare?.stop();
  await h?.close();
  if (proc && proc.exitCode === null) proc.kill("SIGKILL");
  await peers?.slack.close();
  await peers?.kube.close();
  await cluster?.close();
});

function seedSplit(kube: KubeApiPeer) {
  kube.seed("trafficsplits", "default", {
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
}

const canaryPercent = (kube: KubeApiPeer) => percentOnSplit(kube.get("trafficsplits", "default", "backend-ts")?.spec, "backend-v2");

/** /readyz's answer once it has the status wanted. */
async function readyz(healthUrl: string, status: 200 | 503, timeoutMs: number): Promise<string> {
  return waitFor(
    async () => {
      const r = await fetch(`${healthUrl}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
      return r?.status === status ? r.text() : undefined;
    },
    { timeoutMs, what: `/readyz to answer ${status}` },
  );
}

/**
 * A key prefix whose global keys (index, BullMQ) are served by two different masters, so the keys must end
 * up on more than one node: with everything behind one hash tag, or on one server, they would not.
 */
async function spreadPrefix(c: LocalRedisCluster): Promise<string> {
  for (;;) {
    const prefix = `rbtest:cluster:${randomBytes(4).toString("hex")}`;
    const keys = new Keys(prefix, true);
    if ((await c.ownerOf(keys.index())) !== (await c.ownerOf(`${keys.bullPrefix()}:${LANES.effects}:meta`))) return prefix;
  }
}

describe("Redis Cluster (REDIS_URL=redis+cluster://...)", () => {
  it("runs a rollout start -> advance -> finish over a 3-master cluster, its keys spread over the masters", async () => {
    cluster = await LocalRedisCluster.start({ masters: 3, password: `pw-${randomBytes(6).toString("hex")}` });
    const prefix = await spreadPrefix(cluster);
    h = await startHarness({ extraEnv: { REDIS_URL: cluster.url, ROLLOUT_KEY_PREFIX: prefix } });
    seedSplit(h.kube);
    const canary = () => canaryPercent(h!.kube);

    // A request at once after the start is taken (the bot waited for the cluster's slot map), and it is ready.
    const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
    expect(res.status).toBe(200);
    expect(await readyz(h.bot.healthUrl, 200, 10_000)).toBe("ready");
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
    // BullMQ's keys, both lanes', all carry the hash tag {<prefix>:bull} (one master for both); the
    // single-Redis prefix is not used.
    const bull = all.filter((k) => k.includes(":bull"));
    for (const queue of Object.values(LANES)) expect(bull).toContain(`{${prefix}:bull}:${queue}:meta`);
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

    await h.close();
    h = undefined;
    const { dir, nodes } = cluster;
    await cluster.close();
    cluster = undefined;
    expect(existsSync(dir)).toBe(false);
    expect(nodes.map((n) => n.child.exitCode !== null || n.child.signalCode !== null)).toEqual([true, true, true]);
  }, 60_000);

  it("over TLS (rediss+cluster://, a certificate naming hosts only): the production entry point starts a rollout and exits 0", async () => {
    cluster = await LocalRedisCluster.start({ masters: 3, password: `pw-${randomBytes(6).toString("hex")}`, tls: true });
    const botToken = `xoxb-${randomBytes(6).toString("hex")}`;
    peers = {
      slack: await startSlackPeer({ botToken, channels: [{ id: CHANNEL, name: "deploys" }] }),
      kube: await startKubeApiPeer({ smiFlavour: "nginx", implicitWorkloads: true }),
    };
    seedSplit(peers.kube);
    const [port, healthPort, signingSecret, prefix] = [await freePort(), await freePort(), randomBytes(8).toString("hex"), randomPrefix("cluster-tls")];
    proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: REPO,
      env: botProcessEnv({
        signingSecret,
        slack: peers.slack,
        kube: peers.kube,
        redisUrl: cluster.url,
        port,
        healthPort,
        prefix,
        logLevel: "warn",
        // A short drain: with a master gone, work in hand may not finish, and the deadline ends it.
        extra: { NODE_EXTRA_CA_CERTS: cluster.caFile, ROLLOUT_SHUTDOWN_SECONDS: "5" },
      }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    proc.stderr!.on("data", (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => proc!.once("exit", (code) => resolve(code)));
    const health = `http://127.0.0.1:${healthPort}`;
    expect(await readyz(health, 200, 30_000).catch((e: Error) => `${e.message}\n${out}`)).toBe("ready");

    const driver = new SlackDriver({ botUrl: `http://127.0.0.1:${port}/slack/events`, signingSecret, peer: peers.slack });
    expect((await driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED })).status).toBe(200);
    await waitFor(() => peers!.slack.messages(CHANNEL).find((m) => JSON.stringify(m.blocks ?? []).includes("Advance to 80%")), {
      timeoutMs: 15_000,
      what: `the rollout's message: ${out}`,
    });
    expect(canaryPercent(peers.kube)).toBe(10);
    const recordKey = new Keys(prefix, true).record(TARGET, 1);
    const owner = cluster.client(await cluster.ownerOf(recordKey));
    try {
      expect(JSON.parse((await owner.hget(recordKey, "doc")) ?? "{}")).toMatchObject({ status: "active", appliedPercent: 10 });
    } finally {
      owner.disconnect();
    }

    expect(out).not.toMatch(/cannot reach Redis|CROSSSLOT|MOVED|ASK /);

    // A master lost: the cluster can no longer serve all its slots; /readyz says so and the process stays up
    // (in its own process, so that whatever ioredis or BullMQ leave behind during the outage meets the bot's
    // own handlers, as in production, not the test runner's).
    await cluster.kill(cluster.nodes[2]!.port);
    expect(await readyz(health, 503, 20_000)).toBe("redis unavailable");
    await sleep(2_000);
    expect(proc.exitCode, out).toBeNull();
    expect(await fetch(`${health}/healthz`).then((r) => r.status)).toBe(200);

    proc.kill("SIGTERM");
    expect(await exited, out).toBe(0);
  }, 60_000);

  it("unreachable at start-up: the ports open within seconds, one line names it (password masked), alive but not ready", async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const url = `redis+cluster://:s3cret@127.0.0.1:${p1},127.0.0.1:${p2}`;
    const started = Date.now();
    const bareBot = await startBareBot(url);
    bare = bareBot.bot;
    const lines = bareBot.lines;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await fetch(`${bare.healthUrl}/healthz`)).status).toBe(200);
    expect(await readyz(bare.healthUrl, 503, 1_000)).toBe("redis unavailable");

    await sleep(3_000);
    const trouble = lines.filter((l) => l.level >= 40 && l.component !== "bolt");
    expect(trouble.map((l) => l.msg)).toEqual([
      `cannot reach Redis at redis+cluster://:***@127.0.0.1:${p1},127.0.0.1:${p2}; retrying with backoff (not ready until it answers)`,
    ]);
    expect(JSON.stringify(lines)).not.toContain("s3cret");
  }, 30_000);
});

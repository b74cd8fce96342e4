import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { RolloutStore } from "../../src/store/rollout-store.ts";
import { startKubeApiPeer, type KubeApiPeer } from "../../sandbox/peers/kube-api.ts";
import { SlackDriver, startSlackPeer, type SlackPeer } from "../../sandbox/peers/slack/index.ts";
import { freePort } from "../../sandbox/peers/net.ts";
import { botProcessEnv } from "../support/bot-process.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL, testRedis } from "../support/redis.ts";
import { percentOnSplit, seedTrafficSplit } from "../support/split.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 24: SIGKILL in the middle of a wave, with the real bot process (`src/main.ts`) and a new process on the
 * same Redis. The bot is killed the moment prod-eu's API receives the write of its second step, after staging
 * finished; the next process carries on in prod-eu (the record's cluster), writes nothing to staging or
 * prod-us, and its Abort reverts prod-eu then staging. The peers live in this process and survive the kill.
 */

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CHANNEL = "C0ROLLOUT";
const ALICE = "UALICE";
const THREE = ["staging", "prod-eu", "prod-us"];

const procs: ChildProcess[] = [];
let slack: SlackPeer | undefined;
const peers = new Map<string, KubeApiPeer>();
let own: KubeApiPeer | undefined;
let dir = "";
const redis = testRedis();
const prefix = randomPrefix("killwave");
const signingSecret = randomBytes(8).toString("hex");

afterAll(async () => {
  for (const p of procs) await killBot(p);
  await slack?.close();
  for (const p of [own, ...peers.values()]) await p?.close();
  await cleanupPrefix(redis, prefix);
  await redis.quit();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Bot = { proc: ChildProcess; driver: SlackDriver };

async function spawnBot(targetsFile: string): Promise<Bot> {
  const [port, healthPort] = [await freePort(), await freePort()];
  const proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: REPO,
    env: botProcessEnv({
      signingSecret,
      slack: slack!,
      kube: own!,
      redisUrl: REDIS_URL,
      port,
      healthPort,
      prefix,
      logLevel: "warn",
      extra: { ROLLOUT_TARGETS: targetsFile },
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  procs.push(proc);
  let out = "";
  const keep = (b: Buffer) => (out = (out + b.toString()).slice(-3000));
  proc.stdout!.on("data", keep);
  proc.stderr!.on("data", keep);
  await waitFor(
    async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the bot process exited: ${out}`);
      const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
      return res?.status === 200;
    },
    { timeoutMs: 60_000, intervalMs: 50, what: "a bot process to be ready" },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}: ${out}`);
  });
  return { proc, driver: new SlackDriver({ botUrl: `http://127.0.0.1:${port}/slack/events`, signingSecret, peer: slack! }) };
}

async function killBot(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGKILL");
  await exited;
}

const messageOf = (id: string) =>
  slack!.messages(CHANNEL).find((m) => (!m.thread_ts || m.thread_ts === m.ts) && JSON.stringify(m.blocks ?? []).includes(`Rollout ${id}:`));

async function waitForMessage(id: string, test: (blocks: string) => boolean, what: string) {
  return waitFor(
    () => {
      const m = messageOf(id);
      return m && test(JSON.stringify(m.blocks ?? [])) ? m : undefined;
    },
    { timeoutMs: 45_000, what: `rollout ${id} message: ${what}` },
  );
}

async function click(bot: Bot, id: string, label: string | RegExp) {
  const m = messageOf(id);
  if (!m) throw new Error(`no message for ${id}`);
  const res = await bot.driver.click({ userId: ALICE, channelId: CHANNEL, messageTs: m.ts, button: slack!.findButton(CHANNEL, m.ts, label) });
  expect(res.status).toBe(200);
}

const canary = (c: string) => percentOnSplit(peers.get(c)!.get("trafficsplits", "web", "shop")?.spec, "shop-v2");
const writes = (c: string) => peers.get(c)!.requests.filter((r) => r.mutating).length;

it("SIGKILLed while writing prod-eu's step: the next process goes on in prod-eu only, and its Abort reverts prod-eu then staging", async () => {
  slack = await startSlackPeer({ botToken: `xoxb-${randomBytes(6).toString("hex")}`, channels: [{ id: CHANNEL, name: "deploys" }] });
  own = await startKubeApiPeer({ smiFlavour: "nginx", implicitWorkloads: true });
  for (const c of THREE) {
    const peer = await startKubeApiPeer({ smiFlavour: "nginx", implicitWorkloads: true, cluster: c });
    seedTrafficSplit(peer, { name: "shop", service: "shop", namespace: "web" }, [
      { service: "shop-v1", weight: 100 },
      { service: "shop-v2", weight: 0 },
    ]);
    peers.set(c, peer);
  }
  dir = await mkdtemp(join(tmpdir(), "rollout-bot-killwave-"));
  const targetsFile = join(dir, "targets.yaml");
  await writeFile(
    targetsFile,
    `clusters:\n${THREE.map((c) => `  - { name: ${c}, kubeconfig: "${peers.get(c)!.kubeconfigPath}" }`).join("\n")}
targets:
  - name: shop
    clusters: [staging, prod-eu, prod-us]
    namespace: web
    stable: shop-v1
    steps: [50, 100]
`,
  );
  const store = new RolloutStore(redis, prefix);

  const first = await spawnBot(targetsFile);
  await first.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shop --to shop-v2" });
  await waitForMessage("shop#1", (t) => t.includes("Advance to 100%") && t.includes("in cluster staging"), "staging at 50%");
  await click(first, "shop#1", /Advance to 100%/);
  await waitForMessage("shop#1", (t) => t.includes("Finish") && t.includes("in cluster staging"), "staging at 100%");
  await click(first, "shop#1", /^Finish/);
  await waitForMessage("shop#1", (t) => t.includes("Advance to prod-eu"), "the gate before prod-eu");
  await click(first, "shop#1", /Advance to prod-eu/);
  await waitForMessage("shop#1", (t) => t.includes("Advance to 100%") && t.includes("in cluster prod-eu"), "prod-eu at 50%");

  // The bot dies as prod-eu's API receives the write of 100%: the record still says 50% applied there.
  let killed: Promise<void> | undefined;
  // (A step is written with PUT over the read resourceVersion, or with server-side apply: whichever comes.)
  for (const method of ["PUT", "PATCH"])
    peers.get("prod-eu")!.onNext({ method, pathIncludes: "trafficsplits" }, () => {
      killed ??= killBot(first.proc);
    });
  await click(first, "shop#1", /Advance to 100%/);
  await waitFor(() => (killed ? true : undefined), { what: "the kill during prod-eu's write" });
  await killed;
  const atKill = await store.get("shop#1");
  expect(atKill?.target.cluster).toBe("prod-eu");
  expect(atKill?.desiredPercent).toBe(100);
  const before = { staging: writes("staging"), "prod-us": writes("prod-us") };

  const second = await spawnBot(targetsFile);
  await waitFor(async () => ((await store.get("shop#1"))?.appliedPercent === 100 ? true : undefined), { timeoutMs: 45_000, what: "prod-eu's 100% verified" });
  expect(canary("prod-eu")).toBe(100);
  expect(canary("staging")).toBe(100);
  expect(canary("prod-us")).toBe(0);
  expect({ staging: writes("staging"), "prod-us": writes("prod-us") }).toEqual(before);

  await waitForMessage("shop#1", (t) => t.includes("Finish") && t.includes("in cluster prod-eu"), "prod-eu at 100% on the message");
  await click(second, "shop#1", "Abort");
  await waitFor(async () => ((await store.get("shop#1"))?.status === "aborted" ? true : undefined), { timeoutMs: 45_000, what: "the wave aborted" });
  expect([canary("staging"), canary("prod-eu"), canary("prod-us")]).toEqual([0, 0, 0]);
  expect(writes("prod-us")).toBe(0);
  const ended = await store.get("shop#1");
  expect(ended?.wave?.rows.map((r) => `${r.cluster}:${r.state}`)).toEqual(["staging:reverted", "prod-eu:reverted", "prod-us:untouched"]);
  const reverted = ended!.events.filter((e) => e.kind === "wave" && e.wave?.what === "reverted").map((e) => e.cluster);
  expect(reverted).toEqual(["prod-eu", "staging"]);
}, 180_000);

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RolloutStore } from "../../src/store/rollout-store.ts";
import { startKubeApiPeer, type KubeApiPeer } from "../../sandbox/peers/kube-api.ts";
import { SlackDriver, startSlackPeer, type SlackPeer } from "../../sandbox/peers/slack/index.ts";
import { freePort } from "../../sandbox/peers/net.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL, testRedis } from "../support/redis.ts";
import { botProcessEnv } from "../support/bot-process.ts";
import { waitFor } from "../support/wait.ts";
import { percentOn, SEED, seedSplit } from "./support.ts";

/**
 * Issue 13: SIGTERM through the run command (`npm start`, docs/getting-started.md). Readiness turns 503 at once, the job in
 * hand (a TrafficSplit write the API answers slowly) finishes and is recorded, a second SIGTERM does not cut
 * that short, and npm exits 0 (not by a signal: the shell between npm and node no longer dies first).
 */

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CHANNEL = "C0ROLLOUT";

let slack: SlackPeer;
let kube: KubeApiPeer;
let proc: ChildProcess | undefined;
const prefix = randomPrefix("sigterm");
const redis = testRedis();

beforeAll(async () => {
  slack = await startSlackPeer({
    botToken: `xoxb-${randomBytes(6).toString("hex")}`,
    channels: [{ id: CHANNEL, name: "deploys" }],
  });
  // Every Service and Deployment the start names exists and is ready: this test is about the drain, not preflight.
  kube = await startKubeApiPeer({ smiFlavour: "nginx", implicitWorkloads: true });
});

afterAll(async () => {
  if (proc && proc.exitCode === null) proc.kill("SIGKILL");
  await slack.close();
  await kube.close();
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

it("npm start + SIGTERM (twice): not ready at once, the write in hand finishes and is recorded, exit 0", async () => {
  const [port, healthPort] = [await freePort(), await freePort()];
  const signingSecret = randomBytes(8).toString("hex");
  proc = spawn("npm", ["start", "--silent"], {
    cwd: REPO,
    env: botProcessEnv({
      signingSecret,
      slack,
      kube,
      redisUrl: REDIS_URL,
      port,
      healthPort,
      prefix,
      logLevel: "info",
      extra: { ROLLOUT_SHUTDOWN_SECONDS: "20" },
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
  }>((resolve) => proc!.once("exit", (code, signal) => resolve({ code, signal })));
  const health = `http://127.0.0.1:${healthPort}`;
  const status = (path: string) =>
    fetch(`${health}${path}`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.status,
      () => 0,
    );
  await waitFor(async () => ((await status("/readyz")) === 200 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 100,
    what: `npm start to be ready: ${out}`,
  });

  seedSplit({ kube });
  // The TrafficSplit write takes 3 s to be answered: SIGTERM lands while it is in flight.
  kube.failNext({
    method: "PATCH",
    pathIncludes: "trafficsplits",
    delayMs: 3_000,
    times: 1,
  });
  const driver = new SlackDriver({
    botUrl: `http://127.0.0.1:${port}/slack/events`,
    signingSecret,
    peer: slack,
  });
  expect((await driver.slash({ userId: "UALICE", channelId: CHANNEL, text: SEED })).status).toBe(200);
  await waitFor(() => (kube.mutations("trafficsplits", "default", "backend-ts").length > 0 ? true : undefined), {
    timeoutMs: 15_000,
    intervalMs: 10,
    what: "the write to reach the API",
  });

  const signalled = Date.now();
  proc.kill("SIGTERM");
  await waitFor(async () => ((await status("/readyz")) === 503 ? true : undefined), { timeoutMs: 1_000, intervalMs: 20, what: "/readyz to turn 503" });
  expect(Date.now() - signalled).toBeLessThan(1_000);
  expect(await status("/healthz")).toBe(200);
  proc.kill("SIGTERM"); // a second signal must not cut the drain short

  const { code, signal } = await exited;
  expect({ code, signal }).toEqual({ code: 0, signal: null });
  // The write in hand finished, was read back and recorded before the process went.
  expect(percentOn({ kube }, "backend-v2")).toBe(10);
  const r = await new RolloutStore(redis, prefix).get("backend-svc#1");
  expect(r?.appliedPercent).toBe(10);
  expect(out).toContain("already shutting down");
  expect(out).toContain('"msg":"stopped"');
}, 90_000);

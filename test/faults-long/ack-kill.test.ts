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
import { percentOn, seedSplit } from "../faults/support.ts";

/**
 * Issue 13, "a click acknowledged is a click kept": two live bot processes (the real src/main.ts) over one
 * Redis serve Advance clicks alternately; on every other click the process that answered is SIGKILLed the
 * moment its 200 arrives, then replaced. Every acknowledged click must have been applied: the record moved
 * one step per click and the mesh reached every step, in order, none skipped or written twice.
 */

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CHANNEL = "C0ROLLOUT";
const PLAN = [10, 20, 30, 40, 50, 60, 100];

let slack: SlackPeer;
let kube: KubeApiPeer;
const procs = new Set<ChildProcess>();
const prefix = randomPrefix("ackkill");
const redis = testRedis();
const signingSecret = randomBytes(8).toString("hex");

beforeAll(async () => {
  slack = await startSlackPeer({
    botToken: `xoxb-${randomBytes(6).toString("hex")}`,
    channels: [{ id: CHANNEL, name: "deploys" }],
  });
  // Every Service and Deployment the start names exists and is ready: this test is about acks, not preflight.
  kube = await startKubeApiPeer({ smiFlavour: "nginx", implicitWorkloads: true });
});

afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  await slack.close();
  await kube.close();
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

type Bot = { proc: ChildProcess; driver: SlackDriver; out: () => string };

async function spawnBot(): Promise<Bot> {
  const [port, healthPort] = [await freePort(), await freePort()];
  const proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: REPO,
    env: botProcessEnv({ signingSecret, slack, kube, redisUrl: REDIS_URL, port, healthPort, prefix, logLevel: "warn" }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  procs.add(proc);
  let out = "";
  proc.stdout!.on("data", (b: Buffer) => (out = (out + b.toString()).slice(-3000)));
  proc.stderr!.on("data", (b: Buffer) => (out = (out + b.toString()).slice(-3000)));
  const ready = () =>
    fetch(`http://127.0.0.1:${healthPort}/readyz`, {
      signal: AbortSignal.timeout(1_000),
    }).then(
      (r) => r.status === 200,
      () => false,
    );
  await waitFor(async () => ((await ready()) ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 50,
    what: `a bot process to be ready: ${out}`,
  });
  return {
    proc,
    driver: new SlackDriver({
      botUrl: `http://127.0.0.1:${port}/slack/events`,
      signingSecret,
      peer: slack,
    }),
    out: () => out,
  };
}

const parent = () => slack.messages(CHANNEL).find((m) => JSON.stringify(m.blocks ?? []).includes("Rollout backend-svc#1:"));

it("two processes, clicks alternating, the acking one SIGKILLed after every other ack: every click applied once", async () => {
  seedSplit({ kube });
  const bots: Bot[] = [await spawnBot(), await spawnBot()];
  const store = new RolloutStore(redis, prefix);
  const res = await bots[0]!.driver.slash({
    userId: "UALICE",
    channelId: CHANNEL,
    text: `start backend-svc --from backend-v1 --to backend-v2 --steps ${PLAN.join(",")} --namespace default`,
  });
  expect(res.status).toBe(200);
  await waitFor(async () => ((await store.get("backend-svc#1"))?.appliedPercent === PLAN[0] ? true : undefined), { timeoutMs: 20_000, what: "the first step" });

  let kills = 0;
  for (let step = 1; step < PLAN.length; step++) {
    const at = step % 2;
    const label = `Advance to ${PLAN[step]}%`;
    const m = await waitFor(
      () => {
        const p = parent();
        return p && JSON.stringify(p.blocks).includes(label) ? p : undefined;
      },
      { timeoutMs: 30_000, what: `the message to offer ${label}` },
    );
    const button = slack.findButton(CHANNEL, m.ts, label);
    const answer = await bots[at]!.driver.click({
      userId: "UALICE",
      channelId: CHANNEL,
      messageTs: m.ts,
      button,
    });
    expect(answer.status).toBe(200);
    if (step % 2 === 1) {
      // Killed the instant its 200 arrived: whatever it had not recorded by now is lost.
      bots[at]!.proc.kill("SIGKILL");
      kills++;
      // Recorded before the ack: the record already says so, with no process left alive that took the click.
      const r = await store.get("backend-svc#1");
      expect(r?.desiredPercent).toBe(PLAN[step]);
      bots[at] = await spawnBot();
    }
    // The other process (or the replacement) carries the write out.
    await waitFor(
      async () => {
        const r = await store.get("backend-svc#1");
        return r?.appliedPercent === PLAN[step] && r?.desiredPercent === PLAN[step] ? true : undefined;
      },
      {
        timeoutMs: 40_000,
        what: `step ${PLAN[step]}% applied after the click`,
      },
    );
  }
  expect(kills).toBe(3);
  expect(percentOn({ kube }, "backend-v2")).toBe(100);
  const written = kube.mutations("trafficsplits", "default", "backend-ts").map(
    (w) =>
      (
        w.body as {
          spec?: { backends?: { service: string; weight: number }[] };
        }
      )?.spec?.backends?.find((b) => b.service === "backend-v2")?.weight,
  );
  // Every step in order; a write retried after a kill may repeat the same weight, never skip one.
  expect([...new Set(written)]).toEqual(PLAN);
}, 600_000);

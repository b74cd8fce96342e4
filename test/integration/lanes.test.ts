import { Queue } from "bullmq";
import { afterEach, describe, expect, it } from "vitest";
import { advance } from "../../src/engine/rollout.ts";
import { LANES } from "../../src/queue/lanes.ts";
import { timerJobId } from "../../src/queue/queues.ts";
import { CHANNEL, rolloutMessage, clickButton, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { REDIS_URL } from "../support/redis.ts";
import { percentOnSplit } from "../support/split.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 24: mesh writes and timers have a queue and a worker of their own (`rollout-mesh`), so a click's
 * write never waits for a slot behind readings and message renders (`rollout-effects`, 16 slots). And a
 * job an earlier version of the bot queued in `rollout-effects` still runs after an upgrade, once.
 */

const ALICE = "UALICE";
const connection = { url: REDIS_URL, maxRetriesPerRequest: null };
/** More targets reading every 5 s than the readings' lane has slots (16). */
const BACKGROUND = 20;
/** How long each of their Kubernetes reads takes once the API slows down (within the bot's 10 s deadline). */
const SLOW_MS = 6_000;

const target = (name: string, extra: string) => `
  - name: ${name}
    stable: ${name}-v1
    steps: [10, 80, 100]
    smi: { trafficSplit: ${name} }${extra}`;

let hs: Harness[] = [];
afterEach(async () => {
  for (const h of hs.reverse()) await h.close();
  hs = [];
});

const startAt10 = async (h: Harness, name: string, extra = "") => {
  expect((await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `start ${name} --to ${name}-v2${extra}` })).status).toBe(200);
  await waitForMessage(h, `${name}#1`, "Advance to 80%", 20_000);
};

/** When the mesh first got `percent` on `name`'s split, after `since`. */
const writtenAt = (h: Harness, name: string, percent: number, since = 0) =>
  h.kube
    .mutations("trafficsplits", "default", name)
    .find((r) => r.at >= since && percentOnSplit((r.body as { spec?: unknown })?.spec, `${name}-v2`) === percent)?.at;

describe("a lane of their own for mesh writes and timers", () => {
  it("a click's mesh write lands at once while every slot of the readings' lane waits on a slow Kubernetes API", async () => {
    const names = Array.from({ length: BACKGROUND }, (_, i) => `bg-${i}`);
    const busy = names.map((n) => target(n, "\n    namespace: busy\n    metrics: { source: none, refreshSeconds: 5 }")).join("");
    const h = await startHarness({ targetsYaml: `targets:${busy}${target("front", "\n    metrics: { source: none, refreshSeconds: 3600 }")}\n` });
    hs.push(h);
    for (const n of [...names, "front"]) await startAt10(h, n);

    // The Kubernetes API answers reads in namespace `busy` 6 s late: each periodic check (a drift read, then the
    // canary's readiness) of the 20 background rollouts now holds a slot of the readings' lane for that long.
    const slowFrom = Date.now();
    h.kube.failNext({ method: "GET", pathIncludes: "/namespaces/busy/", delayMs: SLOW_MS, times: 10_000 });
    const effects = h.bot.queue.queue.queues.effects;
    try {
      const slowReads = () => h.kube.requests.filter((r) => r.at >= slowFrom && r.method === "GET" && r.namespace === "busy");
      await waitFor(() => (slowReads().length >= 16 ? true : undefined), { timeoutMs: 10_000, what: "16 periodic checks waiting on the slow reads" });
      expect((await effects.getJobCounts("active")).active).toBe(16);
      const firstSlowAt = Math.min(...slowReads().map((r) => r.at));

      const clickedAt = Date.now();
      expect((await clickButton(h, "front#1", ALICE, "Advance to 80%")).status).toBe(200);
      const at = await waitFor(() => writtenAt(h, "front", 80, clickedAt), { timeoutMs: 15_000, what: "the click's 80% write" });
      console.log(`mesh lane: click -> mesh write ${at - clickedAt} ms with the readings' 16 slots busy`);
      // Before the lanes it waited for a slot to free, 6 s at the least (14 s measured).
      expect(at - clickedAt).toBeLessThan(1_000);
      expect(at).toBeLessThan(firstSlowAt + SLOW_MS);
      // Its message is a render, in the readings' lane: it follows once a slot frees.
      await waitForMessage(h, "front#1", "Advance to 100%", 30_000);
    } finally {
      // The slow reads finish before the bot stops: a job still running when the bot gives up waiting for it
      // would end on closed connections.
      h.kube.reset();
      await waitFor(async () => ((await effects.getJobCounts("active")).active === 0 ? true : undefined), { timeoutMs: 20_000, what: "the reads to finish" });
    }
  }, 120_000);
});

describe("after an upgrade from one queue", () => {
  it("a mesh write an earlier replica queued in rollout-effects runs", async () => {
    const h = await startHarness({ targetsYaml: `targets:${target("up", "\n    metrics: { source: none, refreshSeconds: 3600 }")}\n` });
    hs.push(h);
    await startAt10(h, "up");

    // A replica still on the earlier version takes Alice's click (a rolling upgrade): it records the advance
    // and queues the write as it always did, in rollout-effects, under the same id.
    const legacy = new Queue(LANES.effects, { connection, prefix: h.bot.store.keys.bullPrefix() });
    try {
      const since = Date.now();
      const res = await h.bot.store.update("up#1", (x) => {
        const moved = advance(x, { kind: "user", id: ALICE }, x.stepIndex, Date.now());
        return moved.ok ? moved.value : x;
      });
      expect(res.ok && res.value.changed).toBe(true);
      const version = res.ok ? res.value.rollout.version : 0;
      const jobId = `up#1.v${version}.reconcile`;
      await legacy.add("reconcile", { rolloutId: "up#1", version }, { jobId, priority: 1, attempts: 1_000_000, backoff: { type: "capped" } });

      await waitFor(() => writtenAt(h, "up", 80, since), { timeoutMs: 10_000, what: "the 80% write" });
      await waitForMessage(h, "up#1", "Advance to 100%");
      await waitFor(async () => ((await legacy.getJobState(jobId)) === "completed" ? true : undefined), { what: "the earlier version's job to complete" });
      expect(await h.bot.queue.queue.queues.mesh.getJob(jobId)).toBeUndefined(); // it ran where it was queued
    } finally {
      await legacy.close();
    }
  }, 60_000);

  it("a timer left in rollout-effects and queued again in rollout-mesh by the start-up fires once", async () => {
    const targetsYaml = `targets:${target("dl", "\n    metrics: { source: none, refreshSeconds: 3600 }")}\n`;
    const first = await startHarness({ targetsYaml });
    hs.push(first);
    // The deadline is announced 30 s before it: 12 s from now.
    await startAt10(first, "dl", " --deadline 42s");
    const r = (await first.bot.store.get("dl#1"))!;
    await first.stopBot();

    // What an earlier version left behind: the rollout's pending jobs in rollout-effects, none in rollout-mesh.
    const prefix = first.bot.store.keys.bullPrefix();
    const legacy = new Queue(LANES.effects, { connection, prefix });
    const mesh = new Queue(LANES.mesh, { connection, prefix });
    try {
      const pending = await mesh.getJobs(["delayed", "waiting", "prioritized"]);
      expect(pending.map((j) => j.id)).toContain(timerJobId("dl#1", "deadline-warn", 0));
      for (const j of pending) {
        await j.remove();
        const delay = Math.max(0, j.timestamp + (j.opts.delay ?? 0) - Date.now());
        await legacy.add(j.name, j.data, { ...j.opts, jobId: j.id!, delay });
      }

      // The upgraded bot starts: it queues every running rollout's effects again, now in rollout-mesh.
      const second = await startHarness({ reuse: first, targetsYaml });
      hs.push(second);
      const warnId = timerJobId("dl#1", "deadline-warn", 0);
      await waitFor(async () => ((await mesh.getJob(warnId)) ? true : undefined), { what: "the timer queued again in rollout-mesh" });
      expect(await legacy.getJobState(warnId)).toBe("delayed");

      const thread = () => first.slack.thread(CHANNEL, rolloutMessage(first, "dl#1")!.ts).map((m) => m.text ?? "");
      const warnings = () => thread().filter((t) => t.includes("reaches its deadline"));
      await waitFor(() => (warnings().length > 0 ? true : undefined), { timeoutMs: r.deadline!.warnAt - Date.now() + 10_000, what: "the deadline notice" });
      await waitFor(async () => ((await legacy.getJobState(warnId)) === "completed" ? true : undefined), { what: "the left-behind timer to be taken" });
      await waitFor(async () => ((await mesh.getJobState(warnId)) === "completed" ? true : undefined), { what: "its twin to run" });
      await sleep(1_000);
      expect(warnings()).toHaveLength(1);
    } finally {
      await legacy.close();
      await mesh.close();
    }
  }, 90_000);
});

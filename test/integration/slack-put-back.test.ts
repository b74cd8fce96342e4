import { afterEach, describe, expect, it } from "vitest";
import { bucketFor, DEFAULT_BUDGET } from "../../src/slack/budget.ts";
import { CHANNEL, clickButton, rolloutMessage, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { testRedis } from "../support/redis.ts";
import { percentOnSplit } from "../support/split.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 13: with the workspace's chat.update budget spent, the Slack jobs of many clicks have to wait for
 * their turns. They must wait out of the worker's slots (the worker runs 16 jobs at once), so each click's
 * mesh write still goes at once, and their messages follow one turn at a time, with no 429.
 */

const ALICE = "UALICE";
const ROLLOUTS = 28;
/** Clicked first: more rollouts than the worker's 16 slots, each with a message to update. */
const FIRST = 20;
// All of Slack's rate, a minute deep, so the starts go at once (the test spends chat.update's burst itself).
const SPEND_ALL = { ROLLOUT_SLACK_BUDGET_PERCENT: "100", ROLLOUT_SLACK_BURST_SECONDS: "60" };

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("Slack jobs over budget", () => {
  it("give their worker slots back: clicks reach the mesh at once and their thread events go ahead of the messages' updates", async () => {
    h = await startHarness({ slackBudget: true, extraEnv: SPEND_ALL });
    const hh = h;
    const ids = Array.from({ length: ROLLOUTS }, (_, i) => `svc-${i}#1`);
    for (let i = 0; i < ROLLOUTS; i++) {
      await hh.driver.slash({
        userId: ALICE,
        channelId: CHANNEL,
        text: `start svc-${i} --from svc-${i}-v1 --to svc-${i}-v2 --steps 10,80,100 --namespace default`,
      });
    }
    for (const id of ids) await waitForMessage(hh, id, "Advance to 80%", 20_000);

    // Another replica has just spent chat.update's whole burst: the next turn is 10 s away, then one per 1.2 s.
    const redis = testRedis();
    try {
      const b = bucketFor("chat.update", undefined, { percent: 100, burstSeconds: 60, maxWaitMs: 20_000 });
      const [sec, micro] = await redis.time();
      const redisNow = Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
      await redis.set(hh.bot.store.keys.slackBudget(b.name), String(redisNow + (b.burst - 1) * b.intervalMs + 10_000), "PX", 120_000);
    } finally {
      redis.disconnect();
    }
    const updatesBefore = hh.slack.callsOf("chat.update").length;

    // Most clicks first: each asks for two chat.update (the decision, then the verified weight), more Slack
    // jobs than the worker has slots. Then the rest, once those jobs have met the spent budget.
    const clickedAt = new Map<string, number>();
    const click = async (id: string) => {
      clickedAt.set(id, Date.now());
      expect((await clickButton(hh, id, ALICE, "Advance to 80%")).status).toBe(200);
    };
    for (const id of ids.slice(0, FIRST)) await click(id);
    await sleep(1_000);
    for (const id of ids.slice(FIRST)) await click(id);
    // Every click reached the mesh promptly, though no chat.update could go for 10 s. Before, the first clicks'
    // Slack jobs sat in all 16 slots waiting for their turns, and the last clicks' writes queued behind them
    // for most of those 10 s.
    const writeDelays = await waitFor(
      () => {
        const delays = ids.map((id) => {
          const name = id.split("#")[0]!;
          const put = hh.kube
            .mutations("trafficsplits", "default", name)
            .find((r) => percentOnSplit((r.body as { spec?: unknown })?.spec, `${name}-v2`) === 80);
          return put ? put.at - clickedAt.get(id)! : undefined;
        });
        return delays.every((d) => d !== undefined) ? (delays as number[]) : undefined;
      },
      { timeoutMs: 15_000, what: "every click's 80% write" },
    );
    console.log(`slack put back: click -> mesh write ${Math.max(...writeDelays)} ms at most over ${ROLLOUTS} clicks`);
    expect(Math.max(...writeDelays)).toBeLessThan(2_000); // 30-64 ms measured; 4 s and more before
    // The thread's events have a budget of their own (one channel: a post a second once its burst went on the
    // starts): they are posted as it allows, without waiting for the messages' updates.
    const advancedInThread = () =>
      ids.filter((id) => {
        const m = rolloutMessage(hh, id);
        return m && hh.slack.thread(CHANNEL, m.ts).some((t) => (t.text ?? "").includes(`<@${ALICE}> advanced to 80%`));
      }).length;
    await waitFor(() => advancedInThread() >= 5 || undefined, { timeoutMs: 6_000, what: "clicks' events in their threads" });
    expect(hh.slack.callsOf("chat.update").length).toBe(updatesBefore); // the budget held them all back

    // The messages then follow as turns come, the first clicked first, one per turn.
    await waitForMessage(hh, ids[0]!, (t) => t.includes("80%") && !t.includes("Advance to 80%"), 15_000);
    await sleep(4_000);
    // One per turn (1.2 s), not a burst, counted over the whole span so that one late call cannot fail it.
    const shown = hh.slack.callsOf("chat.update").slice(updatesBefore);
    expect(shown.length).toBeGreaterThanOrEqual(3);
    expect(shown.length).toBeLessThanOrEqual(2 + Math.floor((shown.at(-1)!.at - shown[0]!.at) / 1_200));
  }, 90_000);

  it("a Home board over budget waits in line out of its slot and is published at its turn, counted in /metrics", async () => {
    h = await startHarness({ slackBudget: true });
    const hh = h;
    // Another replica has just spent views.publish's whole burst: the next turn is 2 s away.
    const b = bucketFor("views.publish", undefined, DEFAULT_BUDGET);
    const redis = testRedis();
    let spentAt: number;
    try {
      const [sec, micro] = await redis.time();
      const redisNow = Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
      spentAt = Date.now();
      await redis.set(hh.bot.store.keys.slackBudget(b.name), String(redisNow + (b.burst - 1) * b.intervalMs + 2_000), "PX", 60_000);
    } finally {
      redis.disconnect();
    }
    expect((await hh.driver.homeOpened({ userId: ALICE })).status).toBe(200);
    const published = await waitFor(() => hh.slack.callsOf("views.publish")[0], { what: "Alice's board", timeoutMs: 10_000 });
    expect(published.at - spentAt).toBeGreaterThanOrEqual(1_900);
    const metrics = await (await fetch(`${hh.bot.healthUrl}/metrics`)).text();
    expect(metrics).toMatch(/rollout_bot_slack_calls_put_back_total\{method="views.publish"\} [1-9]/);
    expect(metrics).not.toMatch(/rollout_bot_slack_budget_wait_seconds_count\{method="views.publish"\}/); // it never waited in a slot
  });
});

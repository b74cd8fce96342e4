import { afterAll, expect, it } from "vitest";
import { CHANNEL, clickButton, rolloutMessage, startHarness, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { RedisServer } from "../support/redis-server.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { percentOn, SEED, seedSplit, splitWrites } from "./support.ts";

/**
 * Issue 6, R3: Redis (AOF, fsync always) is killed with SIGKILL and restarted on the same port and
 * directory in the middle of a rollout. A click while Redis is down is answered with an error and changes
 * nothing, not even later; after the restart the rollout carries on from where the record says; a
 * transition whose job was being worked when Redis died is applied after the restart (no job lost); the
 * rollout finishes.
 */

const ALICE = "UALICE";
const BOB = "UBOB";
const ID = "backend-svc#1";

let redis: RedisServer | undefined;
let h: Harness | undefined;
afterAll(async () => {
  if (redis && !redis.running) await redis.restart(); // so the bot can stop cleanly
  await h?.close();
  await redis?.close();
});

const threadOf = (h: Harness) => {
  const m = rolloutMessage(h, ID);
  return m ? h.slack.thread(CHANNEL, m.ts).map((t) => t.text ?? "") : [];
};

async function readyz(h: Harness): Promise<number> {
  const res = await fetch(`${h.bot.healthUrl}/readyz`, { signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
  return res?.status ?? 0;
}

it("a Redis killed and restarted mid-rollout: clicks while it is down are refused, nothing is lost, the rollout finishes", async () => {
  const started = Date.now();
  redis = await RedisServer.start();
  h = await startHarness({ extraEnv: { REDIS_URL: redis.url } });
  seedSplit(h);

  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
  await waitForMessage(h, ID, "Advance to 80%");
  await clickButton(h, ID, BOB, "Advance to 80%");
  await waitForMessage(h, ID, "Advance to 100%");
  const at80 = await waitForStatus(h, ID, "active");
  expect(at80.appliedPercent).toBe(80);
  await waitFor(() => threadOf(h!).some((t) => t.includes("Applied and verified 20/80")), { what: "80% in the thread" });
  await sleep(200);
  const writesAt80 = splitWrites(h);

  // 1. Redis dies (SIGKILL). A click while it is down is answered with an error and changes nothing.
  await redis.kill("SIGKILL");
  expect(await readyz(h)).toBe(503);
  const clickedWhileDown = await clickButton(h, ID, ALICE, "Advance to 100%");
  expect(clickedWhileDown.status).toBe(200);
  const refusal = await waitFor(() => h!.slack.responses(clickedWhileDown.responseUrl)[0]?.text, {
    timeoutMs: 8_000,
    what: "an answer to the click while Redis is down",
  });
  expect(refusal).toMatch(/went wrong|unavailable|Redis/i);
  expect(refusal).toContain("nothing was changed");
  const slashWhileDown = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `abort ${ID}` });
  expect(slashWhileDown.status).toBe(200);
  const slashRefusal = await waitFor(() => h!.slack.responses(slashWhileDown.responseUrl)[0]?.text, {
    timeoutMs: 8_000,
    what: "an answer to the command while Redis is down",
  });
  expect(slashRefusal).toContain("nothing was changed");

  // 2. Redis comes back from its append-only file: the record is exactly as it was; the refused click and
  //    command were not queued up to be applied later.
  await redis.restart();
  await waitFor(async () => (await readyz(h!)) === 200, { what: "readyz after the restart" });
  await sleep(1_000);
  const after = await h.bot.store.get(ID);
  expect(after).toMatchObject({ status: "active", desiredPercent: 80, appliedPercent: 80 });
  expect(after!.events.map((e) => e.kind)).toEqual(at80.events.map((e) => e.kind));
  expect(splitWrites(h)).toBe(writesAt80);
  expect(percentOn(h, "backend-v2")).toBe(80);

  // 3. A transition whose job is being worked when Redis is killed: the worker is between reading the
  //    split and writing it when Redis dies; Redis is back a moment later. The job is not lost.
  h.kube.onNext({ method: "PATCH", pathIncludes: "trafficsplits/backend-ts" }, async () => {
    await redis!.kill("SIGKILL");
    await sleep(500);
    await redis!.restart();
  });
  await clickButton(h, ID, BOB, "Advance to 100%");
  const at100 = await waitFor(
    async () => {
      const r = await h!.bot.store.get(ID);
      return r?.appliedPercent === 100 ? r : undefined;
    },
    { timeoutMs: 20_000, what: "100% applied after the restart" },
  );
  expect(at100).toMatchObject({ status: "active", desiredPercent: 100 });
  expect(percentOn(h, "backend-v2")).toBe(100);
  expect(redis.running).toBe(true);

  // 4. And once more while a job waits out its retry backoff: when the Finish job reads the split, Redis
  //    dies and the read fails (503); Redis is restarted, and the retried job still applies Finish.
  //    (Other jobs, e.g. success-rate snapshots, read the split too: the hook waits for the Finish job's read.)
  const killOnFinishRead = (): void =>
    h!.kube.onNext({ method: "GET", pathIncludes: "/trafficsplits" }, async (): Promise<void> => {
      if ((await h!.bot.store.get(ID))?.status !== "finishing") return killOnFinishRead();
      h!.kube.failNext({ method: "GET", pathIncludes: "/trafficsplits", status: 503, times: 1 }); // this very request
      await redis!.kill("SIGKILL");
    });
  killOnFinishRead();
  await waitForMessage(h, ID, "Finish");
  await clickButton(h, ID, ALICE, "Finish");
  await waitFor(() => !redis!.running, { what: "redis killed by the hook" });
  await sleep(300);
  await redis.restart();
  await waitForMessage(h, ID, "Completed", 20_000);
  const done = await h.bot.store.get(ID);
  expect(done).toMatchObject({ status: "completed", appliedPercent: 100 });
  expect(percentOn(h, "backend-v2")).toBe(100);
  expect(done!.events.filter((e) => e.kind === "advanced").map((e) => e.to)).toEqual([80, 100]);
  // The Finish job did fail once (the 503 while Redis was down) and was retried after the restart.
  const finishing = done!.events.slice(done!.events.findIndex((e) => e.kind === "finish-requested"));
  expect(finishing.map((e) => e.kind)).toEqual(["finish-requested", "warning", "completed"]);
  expect(finishing[1]!.text).toContain("503");

  console.log(
    `R3: Redis (AOF, fsync always) SIGKILLed 3 times mid-rollout and restarted on the same port/dir -> a click and a command while down answered "${refusal.slice(0, 60)}…", nothing changed (not later either); ` +
      `a transition in flight across a restart and one waiting out its retry both applied; rollout completed (${Math.round((Date.now() - started) / 100) / 10} s)`,
  );
});

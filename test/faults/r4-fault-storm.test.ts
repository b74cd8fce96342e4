import { afterEach, expect, it } from "vitest";
import { eventsAfter, type Rollout } from "../../src/engine/rollout.ts";
import { leaf, replaceDentry } from "../../src/routers/dtab.ts";
import { renderEvent } from "../../src/slack/views/event-text.ts";
import type { NamerdPeer } from "../peers/namerd.ts";
import { CHANNEL, clickButton, rolloutMessage, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { percentOn, SEED, seedSplit } from "./support.ts";

/**
 * Issue 6, R4: the peers misbehave the way real ones do, several ways at once: the Kubernetes API drops
 * connections, answers 503 and storms 409 Conflicts; namerd answers 503, drops connections, is unreachable
 * for a while, and someone edits another dentry between the bot's read and its write (412); Slack answers
 * 429 with Retry-After. Everything is retried with backoff; an abort always completes and is read back;
 * afterwards nothing is in an unrecorded state: the mesh holds exactly the record's appliedPercent, and
 * every event of the record is in the thread exactly once, in order.
 */

const ALICE = "UALICE";
const BOB = "UBOB";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const threadOf = (h: Harness, id: string) => {
  const m = rolloutMessage(h, id);
  return m ? h.slack.thread(CHANNEL, m.ts).map((t) => t.text ?? "") : [];
};

/** Wait until the record is settled (applied = desired, or ended) and Slack shows all of it. */
async function settled(h: Harness, id: string, timeoutMs = 20_000): Promise<Rollout> {
  return waitFor(
    async () => {
      const r = await h.bot.store.get(id);
      if (!r || (r.appliedPercent !== r.desiredPercent && !["aborted", "completed"].includes(r.status))) return undefined;
      return threadOf(h, id).length === eventsAfter(r, 0).length ? r : undefined;
    },
    { timeoutMs, what: `${id} settled, with every event in its thread` },
  );
}

/** The invariant after any storm: the thread is the record's events, each once, in order. */
function expectEveryEventOnce(h: Harness, r: Rollout): void {
  const thread = threadOf(h, r.id);
  expect(thread).toEqual(r.events.map((e) => renderEvent(r, e)));
  expect(new Set(thread).size).toBe(thread.length);
}

const statusCount = (h: Harness, status: number) => h.kube.requests.filter((r) => r.status === status && r.path.includes("trafficsplits")).length;

it("SMI: resets, 503s and 409 storms on every transition, Slack 429s; every step and the abort complete, verified, recorded once", async () => {
  const started = Date.now();
  h = await startHarness();
  seedSplit(h);
  const ID = "backend-svc#1";
  const SPLIT_PATH = "trafficsplits/backend-ts";

  // Start: a read is dropped, a write gets 503, then 6 conflicts (more than one apply's 5 tries).
  h.kube.failNext({ method: "GET", pathIncludes: SPLIT_PATH, reset: true, times: 1 });
  h.kube.failNext({ method: "PUT", pathIncludes: SPLIT_PATH, status: 503, times: 1 });
  h.kube.failNext({ method: "PUT", pathIncludes: SPLIT_PATH, status: 409, times: 6 });
  h.slack.rateLimit("chat.postMessage", { retryAfterSeconds: 1, times: 1 });
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
  await waitForMessage(h, ID, "Advance to 80%", 20_000);
  let r = await settled(h, ID);
  expect(r).toMatchObject({ status: "active", appliedPercent: 10 });
  expect(percentOn(h, "backend-v2")).toBe(r.appliedPercent);
  expect(threadOf(h, ID).some((t) => t.includes("Retrying (attempt 1)"))).toBe(true);

  // Advance: a write whose connection is reset, one 503, 3 conflicts; Slack rate-limits the update.
  h.kube.failNext({ method: "PUT", pathIncludes: SPLIT_PATH, reset: true, times: 1 });
  h.kube.failNext({ method: "PUT", pathIncludes: SPLIT_PATH, status: 503, times: 1 });
  h.kube.failNext({ method: "PUT", pathIncludes: SPLIT_PATH, status: 409, times: 3 });
  h.slack.rateLimit("chat.update", { retryAfterSeconds: 1, times: 1 });
  await clickButton(h, ID, BOB, "Advance to 80%");
  await waitForMessage(h, ID, "Advance to 100%", 20_000);
  r = await settled(h, ID);
  expect(r).toMatchObject({ status: "active", appliedPercent: 80 });
  expect(percentOn(h, "backend-v2")).toBe(r.appliedPercent);

  // Abort in the worst of it: reads dropped, writes refused, a conflict storm, Slack rate limits.
  h.kube.failNext({ method: "GET", pathIncludes: SPLIT_PATH, reset: true, times: 1 });
  h.kube.failNext({ method: "PUT", pathIncludes: SPLIT_PATH, status: 503, times: 1 });
  h.kube.failNext({ method: "PUT", pathIncludes: SPLIT_PATH, status: 409, times: 6 });
  h.slack.rateLimit("chat.postMessage", { retryAfterSeconds: 1, times: 1 });
  await clickButton(h, ID, ALICE, "Abort");
  await waitForMessage(h, ID, "Aborted", 25_000);
  r = await settled(h, ID);
  expect(r).toMatchObject({ status: "aborted", appliedPercent: 0 });
  // Read back: the split holds what the record says, and the bot read it after its last write.
  expect(percentOn(h, "backend-v2")).toBe(0);
  expect(percentOn(h, "backend-v1")).toBe(100);
  const splitLog = h.kube.requests.filter((x) => x.path.includes(SPLIT_PATH));
  expect(splitLog.map((x) => x.method).lastIndexOf("GET")).toBeGreaterThan(splitLog.map((x) => x.method).lastIndexOf("PUT"));
  expect(threadOf(h, ID).some((t) => t.includes("Abort is retrying (attempt 1)"))).toBe(true);

  // Every fault was really served, and nothing is left unrecorded.
  const resets = statusCount(h, 0);
  const unavailable = statusCount(h, 503);
  const conflicts = statusCount(h, 409);
  const limited = h.slack.calls.filter((c) => c.status === 429).length;
  expect([resets, unavailable, conflicts, limited]).toEqual([3, 3, 15, 3]);
  await sleep(300);
  expectEveryEventOnce(h, (await h.bot.store.get(ID))!);
  expect(await h.bot.store.activeFor("backend-svc")).toBeUndefined();

  console.log(
    `R4 (SMI): ${resets} connection resets, ${unavailable} Kubernetes 503s, ${conflicts} 409 conflicts, ${limited} Slack 429s over start, advance and abort -> ` +
      `all retried with backoff; abort completed and read back (mesh ${percentOn(h, "backend-v2")}% = record ${r.appliedPercent}%); ` +
      `${threadOf(h, ID).length} events, each in the thread once (${Math.round((Date.now() - started) / 100) / 10} s)`,
  );
});

const NAMERD_SEED = "/srv => /#/io.l5d.k8s/default/http ; /host => /srv ; /tmp => /srv ; /svc => /host ; /host/world => /srv/world-v1 ;";
const NAMERD_TARGETS = `
targets:
  - name: world
    namespace: web
    router: namerd
    steps: [10, 100]
    namerd:
      url: "{{NAMERD_URL}}"
      dtabNamespace: internal
      prefix: /host/world
      dst: /srv/{version}
`;
const dtabWith = (tmp: string, world: string) =>
  ["/srv => /#/io.l5d.k8s/default/http ;", "/host => /srv ;", `/tmp => ${tmp} ;`, "/svc => /host ;", `/host/world => ${world} ;`].join("\n");

it("namerd: 503s, dropped connections, a concurrent edit (412) and an outage; the abort completes, read back, their edit kept", async () => {
  const started = Date.now();
  h = await startHarness({ namerd: { internal: NAMERD_SEED }, targetsYaml: NAMERD_TARGETS });
  const namerd = h.namerd as NamerdPeer;
  const ID = "world#1";

  h.slack.rateLimit("chat.postMessage", { retryAfterSeconds: 1, times: 1 });
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start world --to world-v2" });
  await waitForMessage(h, ID, "Start shifting (10%)", 15_000);

  // 10%: two 503s, a dropped connection, then someone edits /tmp between the bot's read and its write.
  namerd.failNext({ method: "PUT", status: 503, times: 2 });
  namerd.failNext({ method: "GET", drop: true, times: 1 });
  namerd.beforeNext("PUT", () => namerd.edit("internal", (d) => replaceDentry(d, "/tmp", leaf("/srv/tmp-v2"))));
  h.slack.rateLimit("chat.update", { retryAfterSeconds: 1, times: 1 });
  await clickButton(h, ID, ALICE, "Start shifting (10%)");
  await waitForMessage(h, ID, "Advance to 100%", 20_000);
  let r = await settled(h, ID);
  expect(r).toMatchObject({ status: "active", appliedPercent: 10 });
  expect(namerd.get("internal")!.text).toBe(dtabWith("/srv/tmp-v2", "90 * /srv/world-v1 & 10 * /srv/world-v2"));

  // Abort while namerd is down, then failing: it keeps retrying, says so, and completes once namerd is back.
  await namerd.stop();
  await clickButton(h, ID, BOB, "Abort");
  await waitFor(() => threadOf(h!, ID).find((t) => t.includes("Abort is retrying (attempt 1): namerd is unreachable")), { timeoutMs: 10_000, what: "abort retry warning" });
  expect((await h.bot.store.get(ID))?.status).toBe("aborting");
  namerd.failNext({ method: "PUT", status: 503, times: 1 });
  await namerd.restart();
  await waitForMessage(h, ID, "Aborted", 20_000);
  r = await settled(h, ID);
  expect(r).toMatchObject({ status: "aborted", appliedPercent: 0 });
  expect(namerd.get("internal")!.text).toBe(dtabWith("/srv/tmp-v2", "/srv/world-v1"));
  const methods = namerd.requests.map((x) => x.method);
  expect(methods.lastIndexOf("GET")).toBeGreaterThan(methods.lastIndexOf("PUT"));

  const statuses = namerd.requests.map((x) => x.status);
  const failed = { "503": statuses.filter((s) => s === 503).length, "412": statuses.filter((s) => s === 412).length, dropped: statuses.filter((s) => s === undefined).length };
  expect(failed["503"]).toBe(3);
  expect(failed["412"]).toBe(1);
  expect(failed.dropped).toBeGreaterThanOrEqual(1);
  await sleep(300);
  expectEveryEventOnce(h, (await h.bot.store.get(ID))!);

  console.log(
    `R4 (namerd): ${failed["503"]} namerd 503s, ${failed.dropped} dropped connections, ${failed["412"]} 412 from a concurrent edit (kept), an outage during abort, ` +
      `${h.slack.calls.filter((c) => c.status === 429).length} Slack 429s -> abort completed and read back (dtab routes world-v1 = record ${r.appliedPercent}%); ` +
      `${threadOf(h, ID).length} events, each in the thread once (${Math.round((Date.now() - started) / 100) / 10} s)`,
  );
});

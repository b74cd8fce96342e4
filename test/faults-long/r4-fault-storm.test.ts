import { afterEach, expect, it } from "vitest";
import { eventsAfter, type Rollout } from "../../src/engine/rollout.ts";
import { leaf, replaceDentry } from "../../src/routers/dtab.ts";
import { renderEvent } from "../../src/slack/views/event-text.ts";
import type { NamerdPeer } from "../../sandbox/peers/namerd.ts";
import { CHANNEL, clickButton, rolloutMessage, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { percentOn, retryAfterGaps, SEED, seedSplit, type RetryAfterGap } from "../faults/support.ts";

/**
 * Issue 6, R4: the peers misbehave the way real ones do, several ways at once: the Kubernetes API drops
 * connections, answers 503, storms 409 Conflicts and answers later than the client waits (a write that
 * times out and still lands); namerd answers 503, drops connections, answers too late (a read at start, a
 * write during the abort that lands after the client gave up), is unreachable for a while, and someone
 * edits another dentry between the bot's read and its write (412); Slack answers 429 with Retry-After, and
 * the retry must come no sooner than Retry-After says. Everything is retried with backoff; an abort always
 * completes and is read back; afterwards nothing is in an unrecorded state: the mesh holds exactly the
 * record's appliedPercent, and every event of the record is in the thread exactly once, in order.
 */

// Short client deadlines so a timed-out request costs a second, not the default 10 s (Kubernetes) or 5 s
// (namerd). The bot parses them from its environment and hands them to its clients, as main does.
const TIMEOUT_S = 1;
const LATE_MS = TIMEOUT_S * 1000 + 500; // answered after the client gave up, before its retry (>= 800 ms backoff)
const CLIENT_ENV = {
  ROLLOUT_SLACK_TIMEOUT_SECONDS: String(TIMEOUT_S),
  ROLLOUT_KUBE_TIMEOUT_SECONDS: String(TIMEOUT_S),
  ROLLOUT_NAMERD_TIMEOUT_SECONDS: String(TIMEOUT_S),
};

const ALICE = "UALICE";
const BOB = "UBOB";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

it("the clients run with the short deadlines", async () => {
  h = await startHarness({ extraEnv: CLIENT_ENV });
  expect([h.routerSettings.kubeTimeoutMs, h.routerSettings.namerdTimeoutMs]).toEqual([TIMEOUT_S * 1000, TIMEOUT_S * 1000]);
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

/** Answers the bot read (a late answer to a client that timed out is counted apart). */
const statusCount = (h: Harness, status: number) =>
  h.kube.requests.filter((r) => r.status === status && r.path.includes("trafficsplits") && r.delayedMs === undefined).length;

/** "Retry-After 3 s -> 4.4 s, 1 s -> 2.3 s": each 429 and how long until the same call came again. */
const describeGaps = (gaps: RetryAfterGap[]) => gaps.map((g) => `${g.retryAfterSeconds} s -> ${(g.gapMs / 1000).toFixed(1)} s`).join(", ");

/** Every 429 was retried (the same call again), no sooner than its Retry-After. */
function expectRetryAfterHonoured(h: Harness, expected: number): RetryAfterGap[] {
  const gaps = retryAfterGaps(h.slack);
  expect(gaps).toHaveLength(expected);
  for (const g of gaps) {
    expect(g.gapMs, `${g.method} retried ${g.gapMs} ms after a 429 with Retry-After ${g.retryAfterSeconds}`).toBeGreaterThanOrEqual(g.retryAfterSeconds * 1000);
  }
  return gaps;
}

it("SMI: resets, 503s, 409 storms and timeouts on every transition, Slack 429s; every step and the abort complete, verified, recorded once", async () => {
  const started = Date.now();
  h = await startHarness({ extraEnv: CLIENT_ENV });
  seedSplit(h);
  const ID = "backend-svc#1";
  const SPLIT_PATH = "trafficsplits/backend-ts";

  // Start: a read is dropped, a write gets 503, then 6 conflicts (more than one apply's 5 tries).
  h.kube.failNext({ method: "GET", pathIncludes: SPLIT_PATH, reset: true, times: 1 });
  h.kube.failNext({ method: "PATCH", pathIncludes: SPLIT_PATH, status: 503, times: 1 });
  h.kube.failNext({ method: "PATCH", pathIncludes: SPLIT_PATH, status: 409, times: 6 });
  h.slack.rateLimit("chat.postMessage", { retryAfterSeconds: 1, times: 1 });
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
  await waitForMessage(h, ID, "Advance to 80%", 20_000);
  let r = await settled(h, ID);
  expect(r).toMatchObject({ status: "active", appliedPercent: 10 });
  expect(percentOn(h, "backend-v2")).toBe(r.appliedPercent);
  expect(threadOf(h, ID).some((t) => t.includes("Retrying (attempt 1)"))).toBe(true);

  // Advance: a write whose connection is reset, one 503, 3 conflicts, then a write the API answers only
  // after the client gave up: it lands late, and the retry must find it there rather than call it drift.
  // Slack rate-limits the update with a Retry-After longer than its client's own first backoff (1-2 s).
  h.kube.failNext({ method: "PATCH", pathIncludes: SPLIT_PATH, reset: true, times: 1 });
  h.kube.failNext({ method: "PATCH", pathIncludes: SPLIT_PATH, status: 503, times: 1 });
  h.kube.failNext({ method: "PATCH", pathIncludes: SPLIT_PATH, status: 409, times: 3 });
  h.kube.failNext({ method: "PATCH", pathIncludes: SPLIT_PATH, delayMs: LATE_MS, times: 1 });
  h.slack.rateLimit("chat.update", { retryAfterSeconds: 3, times: 1 });
  await clickButton(h, ID, BOB, "Advance to 80%");
  await waitForMessage(h, ID, "Advance to 100%", 20_000);
  r = await settled(h, ID);
  expect(r).toMatchObject({ status: "active", appliedPercent: 80 }); // not held: the late write is no drift
  expect(percentOn(h, "backend-v2")).toBe(r.appliedPercent);
  const latePut = h.kube.requests.find((x) => x.method === "PATCH" && x.delayedMs !== undefined)!;
  expect(latePut).toMatchObject({ clientGone: true, status: 200 }); // timed out at the client, applied at the API
  expect(h.kube.requests.slice(h.kube.requests.indexOf(latePut) + 1).filter((x) => x.method === "PATCH")).toEqual([]); // found in place

  // Abort in the worst of it: a read dropped, a read answered too late, writes refused, a conflict storm,
  // Slack rate limits and answers the message's update late.
  h.kube.failNext({ method: "GET", pathIncludes: SPLIT_PATH, reset: true, times: 1 });
  h.kube.failNext({ method: "GET", pathIncludes: "/trafficsplits", delayMs: LATE_MS, times: 1 }); // a read (the remembered split by name, or a list)
  h.kube.failNext({ method: "PATCH", pathIncludes: SPLIT_PATH, status: 503, times: 1 });
  h.kube.failNext({ method: "PATCH", pathIncludes: SPLIT_PATH, status: 409, times: 6 });
  h.slack.rateLimit("chat.postMessage", { retryAfterSeconds: 1, times: 1 });
  h.slack.delayNext("chat.update", { delayMs: LATE_MS });
  await clickButton(h, ID, ALICE, "Abort");
  await waitForMessage(h, ID, "Aborted", 25_000);
  r = await settled(h, ID);
  expect(r).toMatchObject({ status: "aborted", appliedPercent: 0 });
  // Read back: the split holds what the record says, and the bot read it after its last write.
  expect(percentOn(h, "backend-v2")).toBe(0);
  expect(percentOn(h, "backend-v1")).toBe(100);
  const splitLog = h.kube.requests.filter((x) => x.path.includes(SPLIT_PATH));
  expect(splitLog.map((x) => x.method).lastIndexOf("GET")).toBeGreaterThan(splitLog.map((x) => x.method).lastIndexOf("PATCH"));
  expect(threadOf(h, ID).some((t) => t.includes("Abort is retrying (attempt 1)"))).toBe(true);

  // Every fault was really served, and nothing is left unrecorded.
  const resets = statusCount(h, 0);
  const unavailable = statusCount(h, 503);
  const conflicts = statusCount(h, 409);
  const timedOut = h.kube.requests.filter((x) => x.delayedMs !== undefined);
  const limited = h.slack.calls.filter((c) => c.status === 429).length;
  expect([resets, unavailable, conflicts, limited]).toEqual([3, 3, 15, 3]);
  expect(timedOut.map((x) => [x.method, x.clientGone])).toEqual([
    ["PATCH", true],
    ["GET", true],
  ]);
  const gaps = expectRetryAfterHonoured(h, 3);
  const slowUpdate = h.slack.calls.find((c) => c.method === "chat.update" && c.delayedMs !== undefined)!;
  expect(slowUpdate).toMatchObject({ ok: true });
  await sleep(300);
  expectEveryEventOnce(h, (await h.bot.store.get(ID))!);
  expect(await h.bot.store.activeFor("backend-svc")).toBeUndefined();

  console.log(
    `R4 (SMI): ${resets} connection resets, ${unavailable} Kubernetes 503s, ${conflicts} 409 conflicts, ` +
      `${timedOut.length} Kubernetes timeouts (a write answered ${LATE_MS} ms late, applied after the ${TIMEOUT_S} s client deadline and found in place by the retry; a read during the abort), ` +
      `${limited} Slack 429s (Retry-After honoured: ${describeGaps(gaps)}) over start, advance and abort -> ` +
      `all retried with backoff; abort completed and read back (mesh ${percentOn(h, "backend-v2")}% = record ${r.appliedPercent}%); ` +
      `${threadOf(h, ID).length} events, each in the thread once; a chat.update answered ${LATE_MS} ms late ` +
      `${slowUpdate.clientGone ? `was given up after ${TIMEOUT_S} s and retried` : "was waited for (the bot's Slack client has no timeout)"} ` +
      `(${Math.round((Date.now() - started) / 100) / 10} s)`,
  );
});

const GATEWAY_TARGETS = `
targets:
  - name: web
    namespace: shop
    router: gateway
    steps: [10, 100]
    gateway: { rule: api }
    metrics: { source: none, refreshSeconds: 3600 }
`;
type RouteRule = { name?: string; backendRefs: { name: string; weight: number }[] };
const routeRules = (h: Harness) => (h.kube.get("httproutes", "shop", "web")!.spec as { rules: RouteRule[] }).rules;
const apiWeights = (h: Harness) =>
  routeRules(h)
    .find((r) => r.name === "api")!
    .backendRefs.map((b) => `${b.name} ${b.weight}`);

it("Gateway API: resets, 503s, 409 storms and a late write on the HTTPRoute, a controller slow to confirm; the test stage, the steps and the abort complete, verified, recorded once", async () => {
  const started = Date.now();
  h = await startHarness({ targetsYaml: GATEWAY_TARGETS, extraEnv: CLIENT_ENV });
  const other = { name: "static", matches: [{ path: { type: "PathPrefix", value: "/static" } }], backendRefs: [{ name: "static-files", port: 80, weight: 3 }] };
  h.kube.seed("httproutes", "shop", {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "web", namespace: "shop" },
    spec: {
      parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }],
      rules: [other, { name: "api", backendRefs: [{ name: "web-v1", port: 8080 }] }],
    },
  });
  const otherBefore = JSON.stringify(routeRules(h)[0]);
  const ID = "web#1";
  const ROUTE_PATH = "httproutes/web";

  // Start (the test stage): a read dropped, a write refused with 503, then 6 conflicts (more than 5 tries).
  h.kube.failNext({ method: "GET", pathIncludes: ROUTE_PATH, reset: true, times: 1 });
  h.kube.failNext({ method: "PATCH", pathIncludes: ROUTE_PATH, status: 503, times: 1 });
  h.kube.failNext({ method: "PATCH", pathIncludes: ROUTE_PATH, status: 409, times: 6 });
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2" });
  await waitForMessage(h, ID, "Start shifting (10%)", 20_000);
  let r = await settled(h, ID);
  expect(r).toMatchObject({ status: "active", appliedPercent: 0 });
  expect(apiWeights(h)).toEqual(["web-v1 100", "web-v2 0"]);
  expect(routeRules(h)).toHaveLength(3); // the test rule

  // Shift: a write whose connection is reset, 3 conflicts, then a write answered after the client gave up
  // (it lands late: the retry must find it in place, not call it drift), and a controller that confirms
  // the new generation only after a while.
  // (The reset and the 503 each fail a try first, so the retry after the late write waits its backoff of
  // about a second: longer than the write is late, as with SMI above.)
  h.kube.failNext({ method: "PATCH", pathIncludes: ROUTE_PATH, reset: true, times: 1 });
  h.kube.failNext({ method: "PATCH", pathIncludes: ROUTE_PATH, status: 503, times: 1 });
  h.kube.failNext({ method: "PATCH", pathIncludes: ROUTE_PATH, status: 409, times: 3 });
  h.kube.failNext({ method: "PATCH", pathIncludes: ROUTE_PATH, delayMs: LATE_MS, times: 1 });
  await clickButton(h, ID, BOB, "Start shifting (10%)");
  await waitForMessage(h, ID, "Advance to 100%", 20_000);
  r = await settled(h, ID);
  expect(r).toMatchObject({ status: "active", appliedPercent: 10 });
  expect(apiWeights(h)).toEqual(["web-v1 90", "web-v2 10"]);
  const latePut = h.kube.requests.find((x) => x.method === "PATCH" && x.delayedMs !== undefined)!;
  expect(latePut).toMatchObject({ clientGone: true, status: 200 }); // timed out at the client, applied at the API
  expect(h.kube.requests.slice(h.kube.requests.indexOf(latePut) + 1).filter((x) => x.method === "PATCH")).toEqual([]); // found in place

  // Advance while no controller has looked at the route yet: written and read back, but not confirmed,
  // so the step is not recorded until the controller reports on the new generation.
  h.kube.gateway.mode = "silent";
  const okWrites = () => h!.kube.mutations("httproutes", "shop", "web").filter((x) => x.status === 200).length;
  const putsBefore = okWrites();
  await clickButton(h, ID, ALICE, "Advance to 100%");
  await waitFor(() => (okWrites() > putsBefore ? true : undefined), { what: "the write to 100%" });
  await sleep(1_200);
  expect(await h.bot.store.get(ID)).toMatchObject({ appliedPercent: 10, desiredPercent: 100 }); // not success yet
  h.kube.gateway.mode = "accept";
  h.kube.settle("httproutes", "shop", "web");
  r = await settled(h, ID);
  expect(r).toMatchObject({ status: "active", appliedPercent: 100 });
  expect(apiWeights(h)).toEqual(["web-v1 0", "web-v2 100"]);

  // Abort in the worst of it: reads dropped and late, writes refused, a conflict storm.
  h.kube.failNext({ method: "GET", pathIncludes: ROUTE_PATH, reset: true, times: 1 });
  h.kube.failNext({ method: "GET", pathIncludes: ROUTE_PATH, delayMs: LATE_MS, times: 1 });
  h.kube.failNext({ method: "PATCH", pathIncludes: ROUTE_PATH, status: 503, times: 1 });
  h.kube.failNext({ method: "PATCH", pathIncludes: ROUTE_PATH, status: 409, times: 6 });
  await clickButton(h, ID, ALICE, "Abort");
  await waitForMessage(h, ID, "Aborted", 25_000);
  r = await settled(h, ID);
  expect(r).toMatchObject({ status: "aborted", appliedPercent: 0 });
  expect(apiWeights(h)).toEqual(["web-v1 100", "web-v2 0"]);
  expect(routeRules(h)).toHaveLength(2); // the test rule is gone
  expect(JSON.stringify(routeRules(h)[0])).toBe(otherBefore);
  const log = h.kube.requests.filter((x) => x.path.includes(ROUTE_PATH));
  expect(log.map((x) => x.method).lastIndexOf("GET")).toBeGreaterThan(log.map((x) => x.method).lastIndexOf("PATCH"));
  expect(threadOf(h, ID).some((t) => t.includes("Abort is retrying (attempt 1)"))).toBe(true);

  const served = (status: number) => h!.kube.requests.filter((x) => x.status === status && x.path.includes(ROUTE_PATH) && x.delayedMs === undefined).length;
  const [resets, unavailable, conflicts] = [served(0), served(503), served(409)];
  const timedOut = h.kube.requests.filter((x) => x.delayedMs !== undefined);
  expect([resets, unavailable, conflicts]).toEqual([3, 3, 15]);
  expect(timedOut.map((x) => [x.method, x.clientGone])).toEqual([
    ["PATCH", true],
    ["GET", true],
  ]);
  await sleep(300);
  expectEveryEventOnce(h, (await h.bot.store.get(ID))!);
  expect(await h.bot.store.activeFor("web")).toBeUndefined();
  console.log(
    `R4 (Gateway API): ${resets} connection resets, ${unavailable} Kubernetes 503s, ${conflicts} 409 conflicts, ${timedOut.length} timeouts ` +
      `(a write answered ${LATE_MS} ms late, after the client gave up, found in place by the retry; a read during the abort) over the test stage, two steps and the abort, ` +
      `a step held back until the controller confirmed it -> ` +
      `all retried; abort completed and read back (route ${apiWeights(h).join(" / ")}, test rule removed, other rule byte for byte); ` +
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

it("namerd: 503s, dropped connections, timeouts, a concurrent edit (412) and an outage; the abort completes, read back, their edit kept", async () => {
  const started = Date.now();
  h = await startHarness({ namerd: { internal: NAMERD_SEED }, targetsYaml: NAMERD_TARGETS, extraEnv: CLIENT_ENV });
  const namerd = h.namerd as NamerdPeer;
  const ID = "world#1";

  // Start: the first read (which version is stable) is answered after the client gave up.
  namerd.failNext({ method: "GET", delayMs: LATE_MS });
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

  // Abort while namerd is down, then failing, then answering a write too late (it lands after the client
  // gave up): it keeps retrying, says so, and completes once namerd is back, finding its late write in place.
  await namerd.stop();
  await clickButton(h, ID, BOB, "Abort");
  await waitFor(() => threadOf(h!, ID).find((t) => t.includes("Abort is retrying (attempt 1): namerd is unreachable")), {
    timeoutMs: 10_000,
    what: "abort retry warning",
  });
  expect((await h.bot.store.get(ID))?.status).toBe("aborting");
  namerd.failNext({ method: "PUT", status: 503, times: 1 });
  namerd.failNext({ method: "PUT", delayMs: LATE_MS, times: 1 });
  await namerd.restart();
  await waitForMessage(h, ID, "Aborted", 20_000);
  r = await settled(h, ID);
  expect(r).toMatchObject({ status: "aborted", appliedPercent: 0 });
  expect(namerd.get("internal")!.text).toBe(dtabWith("/srv/tmp-v2", "/srv/world-v1"));
  const methods = namerd.requests.map((x) => x.method);
  expect(methods.lastIndexOf("GET")).toBeGreaterThan(methods.lastIndexOf("PUT"));

  const timedOut = namerd.requests.filter((x) => x.delayedMs !== undefined);
  // Both timed out at the client; the late PUT still landed (204), and the retry found the dtab already right.
  expect(timedOut.map((x) => [x.method, x.clientGone, x.unreadStatus])).toEqual([
    ["GET", true, 200],
    ["PUT", true, 204],
  ]);
  const lateWrite = namerd.requests.indexOf(timedOut[1]!);
  expect(namerd.requests.slice(lateWrite + 1).filter((x) => x.method === "PUT")).toEqual([]);
  const statuses = namerd.requests.filter((x) => x.delayedMs === undefined).map((x) => x.status);
  const failed = {
    "503": statuses.filter((s) => s === 503).length,
    "412": statuses.filter((s) => s === 412).length,
    dropped: statuses.filter((s) => s === undefined).length,
  };
  expect(failed["503"]).toBe(3);
  expect(failed["412"]).toBe(1);
  expect(failed.dropped).toBeGreaterThanOrEqual(1);
  const gaps = expectRetryAfterHonoured(h, 2);
  await sleep(300);
  expectEveryEventOnce(h, (await h.bot.store.get(ID))!);

  console.log(
    `R4 (namerd): ${failed["503"]} namerd 503s, ${failed.dropped} dropped connections, ${failed["412"]} 412 from a concurrent edit (kept), ` +
      `${timedOut.length} namerd timeouts (a read at start; a write during the abort answered ${LATE_MS} ms late, landed after the ${TIMEOUT_S} s client deadline, found in place by the retry), an outage during abort, ` +
      `${gaps.length} Slack 429s (Retry-After honoured: ${describeGaps(gaps)}) -> abort completed and read back (dtab routes world-v1 = record ${r.appliedPercent}%); ` +
      `${threadOf(h, ID).length} events, each in the thread once (${Math.round((Date.now() - started) / 100) / 10} s)`,
  );
});

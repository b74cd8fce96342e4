import { afterEach, describe, expect, it } from "vitest";
import type { Bot } from "../../src/bot.ts";
import { seedSplit, SEED } from "../faults/support.ts";
import { startBareBot } from "../support/bare-bot.ts";
import { CHANNEL, clickButton, startHarness, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 13, the operator's view: what /metrics shows after a rollout, when /readyz says no, and a start with
 * Redis unreachable. Against the real bot and the local peers.
 */

const ALICE = "UALICE";

/** One sample of a series from the exposition text: `name{labels} value`, labels given in any order. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function scrape(bot: Bot): Promise<string> {
  const res = await fetch(`${bot.healthUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return res.text();
}

const get = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(5_000) }).then(async (r) => ({
    status: r.status,
    text: await r.text(),
  }));

let h: Harness | undefined;
let bare: Bot | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  await bare?.stop();
  bare = undefined;
});

describe("/metrics", () => {
  it("after a start and an Advance: rollouts by state, transitions, mesh and Slack latency, API calls, jobs, queue, process", async () => {
    h = await startHarness();
    seedSplit(h);
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
    await waitForMessage(h, "backend-svc#1", "Advance to 80%");
    // One 429 on the next chat.update: the client waits it out and retries; the metric must show it.
    h.slack.rateLimit("chat.update", { retryAfterSeconds: 1, times: 1 });
    await clickButton(h, "backend-svc#1", ALICE, "Advance to 80%");
    await waitForStatus(h, "backend-svc#1", "active");
    await waitForMessage(h, "backend-svc#1", "Advance to 100%");

    const text = await waitFor(
      async () => {
        const t = await scrape(h!.bot);
        return (sample(t, "rollout_bot_slack_api_rate_limited_total", {
          method: "chat.update",
        }) ?? 0) >= 1
          ? t
          : undefined;
      },
      { what: "the 429 counted" },
    );
    expect(sample(text, "rollout_bot_active_rollouts", { state: "active" })).toBe(1);
    expect(
      sample(text, "rollout_bot_transitions_total", {
        action: "advance",
        outcome: "done",
      }),
    ).toBe(1);
    expect(
      sample(text, "rollout_bot_transitions_total", {
        action: "start",
        outcome: "done",
      }),
    ).toBe(1);
    // Two verified writes (10%, then 80%), each a write and its read-back, on the SMI router.
    expect(
      sample(text, "rollout_bot_mesh_call_duration_seconds_count", {
        router: "smi",
        op: "write",
      }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      sample(text, "rollout_bot_mesh_call_duration_seconds_bucket", {
        router: "smi",
        op: "write",
        le: "+Inf",
      }),
    ).toBeGreaterThanOrEqual(2);
    // The slash command and the click were both acknowledged well within Slack's 3 s.
    expect(
      sample(text, "rollout_bot_slack_ack_duration_seconds_count", {
        kind: "command",
      }),
    ).toBe(1);
    expect(
      sample(text, "rollout_bot_slack_ack_duration_seconds_count", {
        kind: "interactive",
      }),
    ).toBe(1);
    expect(
      sample(text, "rollout_bot_slack_ack_duration_seconds_bucket", {
        kind: "interactive",
        le: "1",
      }),
    ).toBe(1);
    expect(
      sample(text, "rollout_bot_slack_api_calls_total", {
        method: "chat.postMessage",
        outcome: "ok",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, "rollout_bot_slack_api_calls_total", {
        method: "chat.update",
        outcome: "ok",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, "rollout_bot_slack_api_rate_limited_total", {
        method: "chat.update",
      }),
    ).toBe(1);
    expect(
      sample(text, "rollout_bot_jobs_total", {
        job: "reconcile",
        outcome: "completed",
      }),
    ).toBeGreaterThanOrEqual(2);
    expect(sample(text, "rollout_bot_queue_jobs", { queue: "rollout-effects", state: "delayed" })).toBeGreaterThanOrEqual(1); // the next periodic check
    // Mesh writes and timers have a lane of their own, counted apart (the reminder of the 10% stage waits there).
    expect(sample(text, "rollout_bot_queue_jobs", { queue: "rollout-mesh", state: "delayed" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "rollout_bot_process_resident_memory_bytes")).toBeGreaterThan(10 * 1024 * 1024);

    // An abort ends it: no active rollout any more.
    await clickButton(h, "backend-svc#1", ALICE, /Abort/);
    await waitForStatus(h, "backend-svc#1", "aborted");
    const after = await scrape(h.bot);
    expect(sample(after, "rollout_bot_active_rollouts", { state: "active" })).toBeUndefined();
    expect(
      sample(after, "rollout_bot_transitions_total", {
        action: "abort",
        outcome: "done",
      }),
    ).toBe(1);
  });
});

describe("Slack Web API calls in /metrics, whichever part of the bot makes them", () => {
  /** The start form as ALICE opens it with `/rollout`: Slack shows her the modal (views.open by the listener). */
  async function openStartForm(hh: Harness): Promise<void> {
    const res = await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "" });
    expect(res.status).toBe(200);
    await waitFor(() => [...hh.slack.surfaces.views.values()].find((v) => v.type === "modal" && v.user === ALICE), { what: "the start form shown" });
  }

  it("over HTTP: the start form's views.open, and a 429 it met, are counted like the worker's calls", async () => {
    h = await startHarness();
    await openStartForm(h);
    expect(sample(await scrape(h.bot), "rollout_bot_slack_api_calls_total", { method: "views.open", outcome: "ok" })).toBe(1);

    // Slack answers the next views.open 429: the client waits it out and retries (whether the retry still
    // finds the 3 s trigger valid depends on the wait; either way Slack answered, and the 429 is shown).
    h.slack.rateLimit("views.open", { retryAfterSeconds: 1, times: 1 });
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "" });
    await waitFor(() => (h!.slack.callsOf("views.open").length === 3 ? true : undefined), { what: "the retried views.open" });
    expect(h.slack.callsOf("views.open").map((c) => c.status)).toEqual([200, 429, 200]);
    const text = await waitFor(
      async () => {
        const t = await scrape(h!.bot);
        return sample(t, "rollout_bot_slack_api_calls_total", { method: "views.open", outcome: "ok" }) === 2 ? t : undefined;
      },
      { what: "the second views.open counted" },
    );
    expect(sample(text, "rollout_bot_slack_api_rate_limited_total", { method: "views.open" })).toBe(1);
    expect(sample(text, "rollout_bot_slack_api_calls_total", { method: "views.open", outcome: "error" })).toBeUndefined();
  });

  it("over Socket Mode: the start form's views.open, and apps.connections.open on every connect and reconnect", async () => {
    h = await startHarness({ socketMode: true });
    const connections = (n: number) =>
      waitFor(() => (h!.slack.socket!.connections >= n && h!.slack.socket!.connected === 1 ? true : undefined), {
        timeoutMs: 15_000,
        what: `connection #${n}`,
      });
    await connections(1);
    await openStartForm(h);
    let text = await scrape(h.bot);
    expect(sample(text, "rollout_bot_slack_api_calls_total", { method: "views.open", outcome: "ok" })).toBe(1);
    expect(sample(text, "rollout_bot_slack_api_calls_total", { method: "apps.connections.open", outcome: "ok" })).toBe(
      h.slack.callsOf("apps.connections.open").length,
    );

    // Slack recycles the connection: the new apps.connections.open is counted too.
    h.slack.socket!.disconnect("refresh_requested");
    await connections(2);
    text = await scrape(h.bot);
    expect(h.slack.callsOf("apps.connections.open").length).toBeGreaterThanOrEqual(2);
    expect(sample(text, "rollout_bot_slack_api_calls_total", { method: "apps.connections.open", outcome: "ok" })).toBe(
      h.slack.callsOf("apps.connections.open").length,
    );
  });
});

describe("/readyz and /healthz", () => {
  it("ready with every dependency up; 503 naming the Kubernetes API once it cannot be reached, while /healthz stays 200", async () => {
    h = await startHarness();
    expect(await get(`${h.bot.healthUrl}/readyz`)).toEqual({
      status: 200,
      text: "ready",
    });
    await h.kube.close();
    expect(await get(`${h.bot.healthUrl}/readyz`)).toEqual({
      status: 503,
      text: "kubernetes API unavailable",
    });
    expect(await get(`${h.bot.healthUrl}/healthz`)).toEqual({
      status: 200,
      text: "ok",
    });
  });

  it("503 when Slack rejects the bot token, asking Slack once however often it is probed", async () => {
    h = await startHarness({
      extraEnv: { SLACK_BOT_TOKEN: "xoxb-revoked-token" },
    });
    expect(await get(`${h.bot.healthUrl}/readyz`)).toEqual({
      status: 503,
      text: "slack token unavailable",
    });
    const asked = h.slack.calls.filter((c) => c.method === "auth.test").length;
    for (let i = 0; i < 5; i++)
      expect(await get(`${h.bot.healthUrl}/readyz`)).toEqual({
        status: 503,
        text: "slack token unavailable",
      });
    expect(h.slack.calls.filter((c) => c.method === "auth.test")).toHaveLength(asked);
    expect(await get(`${h.bot.healthUrl}/healthz`)).toEqual({
      status: 200,
      text: "ok",
    });
  });
});

describe("Redis unreachable at start-up", () => {
  it("opens its ports, says so once naming the URL, is alive but not ready, and stays quiet while retrying", async () => {
    const url = "redis://:s3cret@127.0.0.1:1/0";
    const started = Date.now();
    const bareBot = await startBareBot(url);
    bare = bareBot.bot;
    const lines = bareBot.lines;
    expect(Date.now() - started).toBeLessThan(5_000);

    expect(await get(`${bare.healthUrl}/healthz`)).toEqual({
      status: 200,
      text: "ok",
    });
    expect(await get(`${bare.healthUrl}/readyz`)).toEqual({
      status: 503,
      text: "redis unavailable",
    });
    // Slack's port is open too: an unsigned request is refused, not left hanging.
    expect((await fetch(`${bare.url}/slack/events`, { method: "POST", body: "x" })).status).toBe(401);

    await sleep(3_000);
    // Bolt's own complaint that Slack (nowhere here) does not answer is not about Redis.
    const trouble = lines.filter((l) => l.level >= 40 && l.component !== "bolt" && !l.msg.startsWith("rejected an unsigned"));
    expect(trouble.map((l) => l.msg)).toEqual(["cannot reach Redis at redis://:***@127.0.0.1:1/0; retrying with backoff (not ready until it answers)"]);
    expect(JSON.stringify(lines)).not.toContain("s3cret");
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { CHANNEL, ephemeralTexts, startHarness, type Harness } from "../support/bot-harness.ts";
import { testRedis } from "../support/redis.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { seedSplit } from "../faults/support.ts";

/**
 * Issue 24: a slash command's answer rides in its ack (Slack's "immediate response": the 200's JSON body over
 * HTTP, the ack's payload over Socket Mode), so the bot makes no second request to response_url for it. Only
 * a command whose decision outlasts the 2 s safety ack is answered through response_url. What is asserted is
 * what the person sees (the peer shows an ack's message as Slack does) and which way it came.
 */

const ALICE = "UALICE";
const ID = "backend-svc#1";
const TARGETS = `
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 80, 100]
    deploy: true
`;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Long enough for a POST to response_url that followed the ack to have landed. */
const SETTLE_MS = 300;

async function socketHarness(): Promise<Harness> {
  const hh = await startHarness({ socketMode: true, targetsYaml: TARGETS });
  await waitFor(() => (hh.slack.socket!.connected === 1 ? true : undefined), { timeoutMs: 15_000, what: "the bot's Socket Mode connection" });
  return hh;
}

describe.each([
  ["HTTP", () => startHarness({ targetsYaml: TARGETS })],
  ["Socket Mode", socketHarness],
])("over %s", (transport, start) => {
  it("a start and a status are answered in the ack, privately, with nothing posted to response_url", async () => {
    h = await start();
    seedSplit(h);
    const started = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start backend-svc --to backend-v2" });
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ response_type: "ephemeral", text: expect.stringContaining(`Starting rollout \`${ID}\``) });
    if (transport === "HTTP") expect(started.headers.get("content-type")).toMatch(/^application\/json\b/);

    const status = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `status ${ID}` });
    expect(status.body).toMatchObject({ response_type: "ephemeral", blocks: expect.any(Array) });
    await sleep(SETTLE_MS);
    for (const res of [started, status]) {
      expect(h.slack.responses(res.responseUrl).map((p) => [p.via, p.status, p.effect])).toEqual([["ack", 200, "ephemeral"]]);
    }
    expect(h.slack.responses(status.responseUrl)[0]?.blocks?.length).toBeGreaterThan(0);
    const shown = ephemeralTexts(h, ALICE);
    expect(shown).toHaveLength(2);
    expect(shown[0]).toContain(`Starting rollout \`${ID}\``);
    expect(shown[1]).toContain(ID);
  });

  it("the generic apology for a command that failed rides in the ack too", async () => {
    h = await start();
    // A record this code cannot read: the status command throws, as on any unexpected failure.
    const redis = testRedis();
    await redis.hset(h.bot.store.keys.record("backend-svc", 7), "v", "1", "doc", "{}");
    redis.disconnect();
    const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "status backend-svc#7" });
    expect(res.body).toMatchObject({ response_type: "ephemeral", text: expect.stringContaining("Something went wrong on my side") });
    await sleep(SETTLE_MS);
    expect(h.slack.responses(res.responseUrl).map((p) => p.via)).toEqual(["ack"]);
  });

  it("a command still deciding at the safety ack is acked empty at 2 s and answered through response_url", async () => {
    h = await start();
    seedSplit(h);
    // `--image` without `--to` names the new version from the namespace's Deployments: a listing slower than
    // the safety ack (and refused) keeps the decision from being ready in time.
    h.kube.failNext({ method: "GET", pathIncludes: "/deployments", delayMs: 2_600, status: 403, message: "deployments is forbidden" });
    const sent = Date.now();
    const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start backend-svc --image registry.example.com/backend:2.0" });
    const ackedAfter = Date.now() - sent;
    expect(res.status).toBe(200);
    expect(res.body ?? {}).toEqual({}); // a plain ack (over Socket Mode an empty payload)
    expect(ackedAfter).toBeGreaterThanOrEqual(1_900);
    expect(ackedAfter).toBeLessThan(2_600);
    const reply = await waitFor(() => h!.slack.responses(res.responseUrl)[0], { timeoutMs: 5_000, what: "the answer through response_url" });
    expect(reply).toMatchObject({ via: "response_url", status: 200, effect: "ephemeral" });
    expect(reply.text).toContain("forbidden");
    await sleep(SETTLE_MS);
    expect(h.slack.responses(res.responseUrl)).toHaveLength(1);
    expect(await h.bot.store.active()).toEqual([]);
  }, 20_000);
});

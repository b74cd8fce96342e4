import { afterEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import {
  CHANNEL,
  clickButton,
  ephemeralTexts,
  parentMessages,
  rolloutMessage,
  startHarness,
  waitForEphemeral,
  waitForMessage,
  type Harness,
} from "../support/bot-harness.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { percentOnSplit } from "../support/split.ts";

/**
 * Issue 2: the NGINX Service Mesh canary (TrafficSplit backend-ts for backend-svc, 90/10 -> 20/80 -> 0/100)
 * driven end to end as Slack would drive it, against the real bot, real Redis and the local peers.
 */

const ALICE = "UALICE";
const BOB = "UBOB";
const SEED = "start backend-svc --from backend-v1 --to backend-v2 --steps 10,80,100 --namespace default";

/** v1alpha1 weights are Kubernetes quantities ("900m"): compare them as proportions of the total. */
function percentOf(ts: KubeObject | undefined, service: string): number {
  return percentOnSplit(ts?.spec, service);
}

function seedSplit(h: Harness, backends: { service: string; weight: number | string }[], name = "backend-ts") {
  h.kube.seed("trafficsplits", "default", {
    apiVersion: h.kube.get("trafficsplits", "default", name)?.apiVersion ?? undefined,
    kind: "TrafficSplit",
    metadata: { name, namespace: "default" },
    spec: { service: "backend-svc", backends },
  } as KubeObject);
}

const split = (h: Harness) => h.kube.get("trafficsplits", "default", "backend-ts");

/** The seed rollout started by Alice on a fresh bot, with its message showing 90/10. */
async function startSeedRollout(): Promise<Harness> {
  const hh = await startHarness();
  seedSplit(hh, [
    { service: "backend-v1", weight: 100 },
    { service: "backend-v2", weight: 0 },
  ]);
  await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
  await waitForMessage(hh, "backend-svc#1", "Advance to 80%");
  return hh;
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe.each([["nginx", "v1alpha3 integer weights", 100] as const, ["linkerd", "v1alpha1 quantity weights", "1"] as const])(
  "seed flow on the %s SMI flavour (%s)",
  (flavour, _what, fullWeight) => {
    it("90/10 -> 20/80 -> 0/100 -> completed, message updated in place, every event in the thread", async () => {
      h = await startHarness({ smiFlavour: flavour });
      seedSplit(h, [
        { service: "backend-v1", weight: fullWeight },
        { service: "backend-v2", weight: 0 },
      ]);

      const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
      expect(res.status).toBe(200);
      await waitForEphemeral(h, ALICE, "Starting rollout `backend-svc#1`");

      const first = await waitForMessage(h, "backend-svc#1", "Advance to 80%");
      expect(percentOf(split(h), "backend-v2")).toBe(10);
      expect(percentOf(split(h), "backend-v1")).toBe(90);
      const text = JSON.stringify(first.blocks);
      expect(text).toContain("`backend-svc`");
      expect(text).toContain("*▶ 10%*  →  80%  →  100%");
      expect(text).toContain("backend-v1 *90%* · backend-v2 *10%*");
      expect(text).toContain(`<@${ALICE}>`);
      const advance = h.slack.findButton(CHANNEL, first.ts, "Advance to 80%");
      expect(advance.style).toBe("primary");
      const abortBtn = h.slack.findButton(CHANNEL, first.ts, "Abort");
      expect(abortBtn.style).toBe("danger");
      expect(abortBtn.confirm).toBeTruthy();

      await clickButton(h, "backend-svc#1", BOB, "Advance to 80%");
      await waitForMessage(h, "backend-svc#1", "Advance to 100%");
      expect(percentOf(split(h), "backend-v2")).toBe(80);

      await clickButton(h, "backend-svc#1", ALICE, "Advance to 100%");
      await waitForMessage(h, "backend-svc#1", "Finish");
      expect(percentOf(split(h), "backend-v2")).toBe(100);

      await clickButton(h, "backend-svc#1", ALICE, "Finish");
      const done = await waitForMessage(h, "backend-svc#1", "Completed");
      expect(done.ts).toBe(first.ts); // one message, updated in place
      expect(h.slack.buttons(CHANNEL, done.ts)).toEqual([]);
      expect(percentOf(split(h), "backend-v2")).toBe(100);
      expect((await h.bot.store.get("backend-svc#1"))?.status).toBe("completed");
      expect(parentMessages(h)).toHaveLength(1);

      const thread = await waitFor(() => {
        const t = h!.slack.thread(CHANNEL, first.ts).map((m) => m.text ?? "");
        return t.some((x) => x.includes("completed")) ? t : undefined;
      });
      expect(thread.some((t) => t.includes(`<@${ALICE}> started rollout backend-svc#1`))).toBe(true);
      expect(thread.some((t) => t.includes(`<@${BOB}> advanced to 80% (backend-v1/backend-v2 90/10 → 20/80)`))).toBe(true);
      expect(thread.some((t) => t.includes(`<@${ALICE}> advanced to 100% (backend-v1/backend-v2 20/80 → 0/100)`))).toBe(true);
      expect(thread.some((t) => t.includes(`<@${ALICE}> is finishing the rollout`))).toBe(true);
    });
  },
);

describe("abort", () => {
  it("at 20/80 returns all traffic to stable, verified, and says who aborted", async () => {
    h = await startSeedRollout();
    await clickButton(h, "backend-svc#1", ALICE, "Advance to 80%");
    await waitForMessage(h, "backend-svc#1", "Advance to 100%");
    expect(percentOf(split(h), "backend-v2")).toBe(80);

    await clickButton(h, "backend-svc#1", BOB, "Abort");
    const m = await waitForMessage(h, "backend-svc#1", "Aborted");
    expect(percentOf(split(h), "backend-v1")).toBe(100);
    expect(JSON.stringify(m.blocks)).toContain(`by <@${BOB}>`);
    const r = await h.bot.store.get("backend-svc#1");
    expect(r).toMatchObject({ status: "aborted", appliedPercent: 0 });
    // The target is free again.
    expect(await h.bot.store.activeFor("backend-svc")).toBeUndefined();
  });
});

describe("concurrent clicks", () => {
  it("50 Advance clicks on the same step make one transition and one write; the rest are told who was first", async () => {
    h = await startSeedRollout();
    const m = rolloutMessage(h, "backend-svc#1")!;
    const button = h.slack.findButton(CHANNEL, m.ts, "Advance to 80%");
    const writesBefore = h.kube.mutations("trafficsplits", "default", "backend-ts").length;

    const users = Array.from({ length: 50 }, (_, i) => `UCLICK${String(i).padStart(2, "0")}`);
    const responses = await Promise.all(users.map((userId) => h!.driver.click({ userId, channelId: CHANNEL, messageTs: m.ts, button, stale: true })));
    expect(responses.every((r) => r.status === 200)).toBe(true);

    await waitForMessage(h, "backend-svc#1", "Advance to 100%");
    const refusals = await waitFor(
      () => {
        const told = users.filter((u) => ephemeralTexts(h!, u).some((t) => t.includes("Already advanced to 80% by <@UCLICK")));
        return told.length === 49 ? told : undefined;
      },
      { what: "49 refusals" },
    );
    expect(refusals).toHaveLength(49);
    const winner = users.find((u) => !refusals.includes(u))!;
    expect(
      ephemeralTexts(
        h,
        users.find((u) => u !== winner)!,
      ).join(),
    ).toContain(`by <@${winner}>`);

    await sleep(300); // let any stray job run before counting writes
    expect(h.kube.mutations("trafficsplits", "default", "backend-ts").length - writesBefore).toBe(1);
    const r = await h.bot.store.get("backend-svc#1");
    expect(r?.events.filter((e) => e.kind === "advanced")).toHaveLength(1);
    expect(percentOf(split(h), "backend-v2")).toBe(80);
  });
});

describe("restart", () => {
  it("a second bot process over the same Redis carries on a rollout the first one left mid-way", async () => {
    h = await startSeedRollout();
    await clickButton(h, "backend-svc#1", ALICE, "Advance to 80%");
    await waitForMessage(h, "backend-svc#1", "Advance to 100%");
    await h.stopBot();

    const second = await startHarness({ reuse: h });
    try {
      await clickButton(second, "backend-svc#1", BOB, "Advance to 100%");
      await waitForMessage(second, "backend-svc#1", "Finish");
      expect(percentOf(split(second), "backend-v2")).toBe(100);
      await clickButton(second, "backend-svc#1", BOB, "Finish");
      await waitForMessage(second, "backend-svc#1", "Completed");
      expect(parentMessages(h)).toHaveLength(1);
    } finally {
      await second.stopBot();
    }
  });
});

describe("bad input changes nothing", () => {
  const TARGETS = `
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 80, 100]
`;

  async function expectRefused(text: string, message: string) {
    const before = h!.kube.requests.filter((r) => r.mutating).length;
    const res = await h!.driver.slash({ userId: ALICE, channelId: CHANNEL, text });
    expect(res.status).toBe(200);
    const reply = await waitFor(() => h!.slack.responses(res.responseUrl)[0], { what: `reply to "${text}"` });
    expect(reply.text).toContain(message);
    expect(reply.response_type ?? "ephemeral").toBe("ephemeral");
    expect(h!.kube.requests.filter((r) => r.mutating).length).toBe(before);
  }

  it.each([
    ["start payments --to payments-v2", "unknown target `payments`: known targets are `backend-svc`"],
    ["start backend-svc --to Backend_V2", "--to `Backend_V2` is not a valid Kubernetes name"],
    ["start backend-svc --to backend-v2 --steps 50,10,100", "steps must be strictly increasing"],
    ["start backend-svc --to backend-v2 --steps 10,200", "step `200` is not a whole number from 1 to 100"],
    ["start backend-svc --to backend-v2 --steps 10,50", "the last step must be `100`"],
    ["start backend-svc --to backend-v2 --colour blue", "unknown flag `--colour`"],
    ["start backend-svc --steps 10,100", "`--to <version>` is required"],
    ["frobnicate", "unknown subcommand `frobnicate`"],
  ])("%s", async (text, message) => {
    h = await startHarness({ targetsYaml: TARGETS });
    await expectRefused(text, message);
    expect(await h.bot.store.active()).toEqual([]);
    expect(h.slack.messages(CHANNEL)).toEqual([]);
  });

  it("a busy target is refused with a pointer to the running rollout", async () => {
    h = await startHarness({ targetsYaml: TARGETS });
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start backend-svc --to backend-v2" });
    await waitForMessage(h, "backend-svc#1", "Advance to 80%");
    await expectRefused("start backend-svc --to backend-v3", "target is busy: rollout `backend-svc#1` started by <@UALICE>");
    expect((await h.bot.store.active()).map((r) => r.id)).toEqual(["backend-svc#1"]);
  });

  it("a TrafficSplit whose backends do not include the named services is refused, untouched", async () => {
    h = await startHarness({ targetsYaml: TARGETS });
    seedSplit(h, [
      { service: "backend-v1", weight: 100 },
      { service: "backend-v3", weight: 0 },
    ]);
    const before = structuredClone(split(h));
    const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start backend-svc --to backend-v2" });
    const reply = await waitFor(() => h!.slack.responses(res.responseUrl).find((p) => p.text?.includes("Cannot start")), { what: "rejection" });
    expect(reply.text).toContain("backend-v2");
    expect(reply.text).toContain("Nothing was changed");
    expect(split(h)).toEqual(before);
    expect(h.kube.mutations("trafficsplits", "default", "backend-ts")).toEqual([]);
    expect(h.slack.messages(CHANNEL)).toEqual([]);
    expect(await h.bot.store.activeFor("backend-svc")).toBeUndefined();
  });
});

describe("request signatures", () => {
  it.each([
    ["missing", { omitSignature: true }],
    ["missing timestamp", { omitTimestamp: true }],
    ["wrong", { signatureOverride: "v0=0000000000000000000000000000000000000000000000000000000000000000" }],
    ["tampered body", { tamperBody: true }],
    ["stale (6 minutes old)", { skewSeconds: -360 }],
    ["future-dated (6 minutes ahead)", { skewSeconds: 360 }],
  ])("%s -> 401 and nothing happens", async (_name, opts) => {
    h ??= await startHarness();
    // The skew is applied when the request is sent, not when the test table is built.
    const { skewSeconds, ...signing } = opts as typeof opts & { skewSeconds?: number };
    const timing = skewSeconds === undefined ? {} : { timestampOverride: Math.floor(Date.now() / 1000) + skewSeconds };
    const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED, ...signing, ...timing });
    expect(res.status).toBe(401);
    await sleep(100);
    expect(h.slack.responses(res.responseUrl)).toEqual([]);
    expect(await h.bot.store.active()).toEqual([]);
    expect(h.kube.requests.filter((r) => r.mutating)).toEqual([]);
  });
});

it("status, list and help answer privately", async () => {
  h = await startHarness();
  seedSplit(h, [
    { service: "backend-v1", weight: 100 },
    { service: "backend-v2", weight: 0 },
  ]);
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
  await waitForMessage(h, "backend-svc#1", "Advance to 80%");
  const ask = async (text: string) => {
    const res = await h!.driver.slash({ userId: BOB, channelId: CHANNEL, text });
    return waitFor(() => h!.slack.responses(res.responseUrl)[0], { what: text });
  };
  const status = await ask("status backend-svc");
  expect(JSON.stringify(status.blocks)).toContain("backend-v1 *90%* · backend-v2 *10%*");
  expect(JSON.stringify(status.blocks)).not.toContain("rollout.advance");
  expect((await ask("list")).text).toContain("`backend-svc#1` backend-v1 → backend-v2: *active*, 10% on the canary");
  const help = (await ask("help")).text ?? "";
  for (const sub of ["start", "status", "list", "advance", "finish", "hold", "resume", "abort", "help"]) expect(help).toContain(`/rollout ${sub}`);
  expect(rolloutMessage(h, "backend-svc#1")).toBeTruthy();
});

describe("Slack refusing a message", () => {
  it("tells the starter to invite the bot when the channel message is refused, and keeps the rollout going", async () => {
    h = await startHarness();
    seedSplit(h, [
      { service: "backend-v1", weight: 100 },
      { service: "backend-v2", weight: 0 },
    ]);
    h.slack.failNext("chat.postMessage", "not_in_channel");
    const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
    const told = await waitFor(() => h!.slack.responses(res.responseUrl).find((p) => p.text?.includes("cannot post its message here")), { what: "the hint" });
    expect(told.text).toContain("`not_in_channel`");
    expect((await h.bot.store.get("backend-svc#1"))?.status).toBe("active");
    expect(percentOf(split(h), "backend-v2")).toBe(10);
  });

  it("a thread message Slack refuses does not hold back the ones after it", async () => {
    h = await startSeedRollout();
    const m = rolloutMessage(h, "backend-svc#1")!;
    await waitFor(() => h!.slack.thread(CHANNEL, m.ts).length >= 1 || undefined);
    h.slack.failNext("chat.postMessage", "msg_too_long", 2);
    await clickButton(h, "backend-svc#1", BOB, "Advance to 80%");
    await waitForMessage(h, "backend-svc#1", "Advance to 100%");
    await clickButton(h, "backend-svc#1", BOB, "Abort");
    await waitForMessage(h, "backend-svc#1", "Aborted");
    const thread = await waitFor(
      () => {
        const t = h!.slack.thread(CHANNEL, m.ts).map((x) => x.text ?? "");
        return t.some((x) => x.includes("aborted by")) ? t : undefined;
      },
      { what: "the abort in the thread" },
    );
    expect(thread.some((x) => x.includes(`<@${BOB}> aborted`))).toBe(true);
    // The refused event (with blocks, then as plain text) was skipped, not retried ahead of the others.
    expect(thread.some((x) => x.includes(`<@${BOB}> advanced to 80%`))).toBe(false);
    expect(h.slack.callsOf("chat.postMessage").filter((c) => c.error === "msg_too_long")).toHaveLength(2);
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { seedTrafficSplit } from "../support/split.ts";
import { CHANNEL, clickButton, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 6: the audit trail and `/rollout history`, through Slack's HTTP calls against the real bot and Redis.
 */

const ALICE = "UALICE";
const BOB = "UBOB";
const SEED = "start backend-svc --from backend-v1 --to backend-v2 --steps 10,80,100 --split backend-ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function ask(h: Harness, userId: string, text: string) {
  const res = await h.driver.slash({ userId, channelId: CHANNEL, text });
  expect(res.status).toBe(200);
  const reply = await waitFor(() => h.slack.responses(res.responseUrl)[0], { what: `reply to ${text}` });
  expect(reply.response_type ?? "ephemeral").toBe("ephemeral");
  return reply.text ?? "";
}

/** backend-ts all on backend-v1, seeded: no field manager owns it, so the next rollout's apply meets no owner. */
function seedBackendSplit(harness: Harness): void {
  seedTrafficSplit(harness.kube, { name: "backend-ts", service: "backend-svc" }, [
    { service: "backend-v1", weight: 100 },
    { service: "backend-v2", weight: 0 },
  ]);
}

describe("/rollout history", () => {
  it("lists past rollouts with outcome and duration, and shows one rollout's timeline with who, what and weights", async () => {
    h = await startHarness();
    seedBackendSplit(h);

    // #1: completed by Alice and Bob; #2: aborted by Bob at 80%; #3: still running.
    await ask(h, ALICE, SEED);
    const first = await waitForMessage(h, "backend-svc#1", "Advance to 80%");
    const advanceTo80 = h.slack.findButton(CHANNEL, first.ts, "Advance to 80%");
    await clickButton(h, "backend-svc#1", BOB, "Advance to 80%");
    await waitForMessage(h, "backend-svc#1", "Advance to 100%");
    // A late double click on the old rendering: refused.
    const late = await h.driver.click({ userId: BOB, channelId: CHANNEL, messageTs: first.ts, button: advanceTo80, stale: true });
    await waitFor(() => h!.slack.responses(late.responseUrl)[0], { what: "the late click's refusal" });
    await clickButton(h, "backend-svc#1", ALICE, "Advance to 100%");
    await waitForMessage(h, "backend-svc#1", "Finish");
    await clickButton(h, "backend-svc#1", ALICE, "Finish");
    await waitForMessage(h, "backend-svc#1", "Completed");

    // The fixture put back as it was (seeded: no field manager owns it, so the next rollout's apply meets no owner).
    seedBackendSplit(h);
    await ask(h, ALICE, SEED);
    await waitForMessage(h, "backend-svc#2", "Advance to 80%");
    await clickButton(h, "backend-svc#2", ALICE, "Advance to 80%");
    await waitForMessage(h, "backend-svc#2", "Advance to 100%");
    await clickButton(h, "backend-svc#2", BOB, "Abort");
    await waitForMessage(h, "backend-svc#2", "Aborted");

    await ask(h, BOB, SEED);
    await waitForMessage(h, "backend-svc#3", "Advance to 80%");

    const list = await ask(h, BOB, "history backend-svc");
    const lines = list.split("\n").filter((l) => l.startsWith("•"));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^• `backend-svc#3` backend-v1 → backend-v2: \*active\*, 10% on the canary, running for \d+s · started by <@UBOB>/);
    expect(lines[1]).toMatch(/^• `backend-svc#2` backend-v1 → backend-v2: \*aborted\* after \d+s at 80% · started by <@UALICE>/);
    expect(lines[2]).toMatch(/^• `backend-svc#1` backend-v1 → backend-v2: \*completed\* in \d+s · started by <@UALICE>/);
    expect((await ask(h, BOB, "history --limit 1")).split("\n").filter((l) => l.startsWith("•"))).toHaveLength(1);
    expect(await ask(h, BOB, "history payments")).toContain("`payments` has no rollouts yet");
    expect(await ask(h, BOB, "history --limit 0")).toContain("--limit `0` is not a whole number from 1 to 50");

    const timeline = await ask(h, BOB, "history backend-svc#1");
    expect(timeline).toContain("*Timeline of `backend-svc#1`*: backend-v1 → backend-v2, *completed*");
    const steps = timeline.split("\n").filter((l) => l.startsWith("•"));
    const expected = [
      /<@UALICE> \*start\* \(command in <#C0ROLLOUT>\): → 10% \(backend-v1\/backend-v2 90\/10\).* — done/,
      /rollout-bot \(worker\) \*started\* \(worker\): → 10% \(backend-v1\/backend-v2 90\/10\).* — done/,
      /<@UBOB> \*advance\* \(button in <#C0ROLLOUT>\): 10% → 80% \(backend-v1\/backend-v2 90\/10 → 20\/80\) — done/,
      /rollout-bot \(worker\) \*applied\* \(worker\): 10% → 80% \(backend-v1\/backend-v2 90\/10 → 20\/80\).* — done/,
      /<@UBOB> \*advance\* \(button in <#C0ROLLOUT>\): at 80% \(backend-v1\/backend-v2 20\/80\) — \*refused\*: Already advanced to 80% by <@UBOB>/,
      /<@UALICE> \*advance\* \(button in <#C0ROLLOUT>\): 80% → 100% \(backend-v1\/backend-v2 20\/80 → 0\/100\) — done/,
      /rollout-bot \(worker\) \*applied\* .*80% → 100%.* — done/,
      /<@UALICE> \*finish\* \(button in <#C0ROLLOUT>\): at 100% \(backend-v1\/backend-v2 0\/100\) — done/,
      /rollout-bot \(worker\) \*completed\* .*→ 100%.* — done/,
    ];
    expect(steps).toHaveLength(expected.length);
    expected.forEach((re, i) => expect(steps[i]).toMatch(re));

    const aborted = (await ask(h, ALICE, "history backend-svc#2")).split("\n").filter((l) => l.startsWith("•"));
    expect(aborted.some((l) => /<@UBOB> \*abort\* \(button in <#C0ROLLOUT>\): 80% → 0% \(backend-v1\/backend-v2 20\/80 → 100\/0\) — done/.test(l))).toBe(true);
    expect(aborted.at(-1)).toMatch(/rollout-bot \(worker\) \*aborted\* .*80% → 0%.* — done/);

    const limited = await ask(h, ALICE, "history backend-svc#1 --limit 2");
    expect(limited).toContain("(7 earlier entries not shown; use --limit)");
    expect(limited.split("\n").filter((l) => l.startsWith("•"))).toHaveLength(2);
    expect(await ask(h, ALICE, "history backend-svc#9")).toContain("there is no rollout `backend-svc#9`");

    // Every command lands in the global trail, reads included.
    const global = await h.bot.audit.recent(1000);
    expect(global.filter((e) => e.action === "command:history").length).toBe(8);
    const refusedReads = global.filter((e) => e.action === "command:history" && e.outcome === "refused").map((e) => e.reason);
    expect(refusedReads).toEqual([expect.stringContaining("no rollout `backend-svc#9`"), expect.stringContaining("--limit `0`")]);
    console.log(
      `history: ${lines.length} rollouts listed (completed, aborted, running); timeline of backend-svc#1 has ${steps.length} entries; ${global.length} global audit entries`,
    );
  });
});

describe("automatic decisions", () => {
  it("a hold the worker decides by itself (drift) is audited with the bot as actor and the reason", async () => {
    h = await startHarness();
    seedBackendSplit(h);
    await ask(h, ALICE, SEED);
    await waitForMessage(h, "backend-svc#1", "Advance to 80%");
    // Someone edits the split by hand; the next write finds the mesh is not what the bot left.
    h.kube.edit("trafficsplits", "default", "backend-ts", (o) => {
      (o.spec as { backends: { service: string; weight: number }[] }).backends = [
        { service: "backend-v1", weight: 50 },
        { service: "backend-v2", weight: 50 },
      ];
    });
    await clickButton(h, "backend-svc#1", BOB, "Advance to 80%");
    await waitFor(async () => (await h!.bot.store.get("backend-svc#1"))?.status === "held", { what: "the drift hold" });
    const entries = await waitFor(
      async () => {
        const { entries } = await h!.bot.audit.timeline("backend-svc#1", 50);
        return entries.some((e) => e.action === "held") ? entries : undefined;
      },
      { what: "the hold in the audit trail" },
    );
    const held = entries.find((e) => e.action === "held")!;
    expect(held).toMatchObject({ actor: "bot:drift", via: "auto", outcome: "done" });
    expect(held.reason).toContain("Drift");
    const timeline = await ask(h, ALICE, "history backend-svc#1");
    expect(timeline).toMatch(/rollout-bot \(drift\) \*held\* \(auto\).* — done \(Drift: /);
    console.log(`automatic: drift hold audited as ${held.actor} via ${held.via}; ${entries.length} timeline entries`);
  });
});

describe("clicks that change nothing are audited too", () => {
  // A target with a success-rate source (a Prometheus that is not there: the reading says so), so the
  // message has a Refresh button; ad-hoc targets allowed for the rejected start.
  const TARGETS = `
adhoc: true
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    steps: [10, 80, 100]
    smi: { trafficSplit: backend-ts }
    metrics: { source: prometheus, prometheusUrl: "http://127.0.0.1:9", preset: linkerd2, refreshSeconds: 3600 }
`;

  it("Refresh clicks, forged unknown buttons and malformed clicks land in the rollout's timeline and the global trail, with who and outcome", async () => {
    h = await startHarness({ targetsYaml: TARGETS });
    seedBackendSplit(h);
    await ask(h, ALICE, "start backend-svc --to backend-v2");
    const m = await waitForMessage(h, "backend-svc#1", "Advance to 80%");
    await waitForMessage(h, "backend-svc#1", "Refresh");
    const version = (await h.bot.store.get("backend-svc#1"))!.version;

    // 1. Refresh, as shown: done, no reply needed (the message updates).
    const refresh = await clickButton(h, "backend-svc#1", BOB, "Refresh");
    expect(refresh.status).toBe(200);

    // 2. A correctly signed click on a button the bot never drew, naming this rollout.
    const forged = await h.driver.click({
      userId: "UMALLORY",
      channelId: CHANNEL,
      messageTs: m.ts,
      button: { action_id: "rollout.delete", block_id: "rollout:backend-svc#1", value: "backend-svc#1|0", text: "Delete" },
      stale: true,
    });
    expect(forged.status).toBe(200);
    const forgedReply = await waitFor(() => h!.slack.responses(forged.responseUrl)[0], { what: "the reply to the forged button" });
    expect(forgedReply.text).toBe(":x: I do not recognise the button `rollout.delete`; nothing was changed.");

    // 3. Our Advance button with a value that names no rollout: global trail only.
    const malformed = await h.driver.click({
      userId: "UMALLORY",
      channelId: CHANNEL,
      messageTs: m.ts,
      button: { action_id: "rollout.advance", block_id: "rollout:backend-svc#1", value: "drop table|x", text: "Advance" },
      stale: true,
    });
    const malformedReply = await waitFor(() => h!.slack.responses(malformed.responseUrl)[0], { what: "the reply to the malformed click" });
    expect(malformedReply.text).toContain("I do not recognise that button: it carried the value `drop table|x`, not a rollout and step");

    // 4. Refresh on a rollout that does not exist: refused, global trail only.
    const ghost = await h.driver.click({
      userId: BOB,
      channelId: CHANNEL,
      messageTs: m.ts,
      button: { action_id: "rollout.refresh", block_id: "rollout:backend-svc#1", value: "backend-svc#7|0", text: "Refresh" },
      stale: true,
    });
    const ghostReply = await waitFor(() => h!.slack.responses(ghost.responseUrl)[0], { what: "the reply to Refresh of a missing rollout" });
    expect(ghostReply.text).toBe(":x: There is no rollout `backend-svc#7`; nothing was changed.");

    const timeline = await waitFor(
      async () => {
        const text = await ask(h!, ALICE, "history backend-svc#1");
        return /\*refresh\*/.test(text) && /\*unknown-button\*/.test(text) ? text : undefined;
      },
      { what: "the clicks in the timeline" },
    );
    const lines = timeline.split("\n").filter((l) => l.startsWith("•"));
    expect(lines.filter((l) => l.includes("*refresh*"))).toEqual([
      expect.stringMatching(
        /<@UBOB> \*refresh\* \(button in <#C0ROLLOUT>\): at 10% \(backend-v1\/backend-v2 90\/10\) `rollout\.refresh backend-svc#1\|0` — done$/,
      ),
    ]);
    expect(lines.filter((l) => l.includes("*unknown-button*"))).toEqual([
      expect.stringMatching(
        /<@UMALLORY> \*unknown-button\* \(button in <#C0ROLLOUT>\): at 10% .*`rollout\.delete backend-svc#1\|0` — \*refused\*: unknown button$/,
      ),
    ]);
    // Nothing about #1 came from the malformed click or the missing rollout.
    expect(timeline).not.toContain("drop table");
    expect(timeline).not.toContain("backend-svc#7");

    const global = await h.bot.audit.recent(200);
    const clicks = global.filter((e) => e.via === "button");
    expect(clicks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actor: BOB, action: "refresh", outcome: "done", rolloutId: "backend-svc#1", before: 10, after: 10 }),
        expect.objectContaining({
          actor: "UMALLORY",
          action: "unknown-button",
          outcome: "refused",
          rolloutId: "backend-svc#1",
          detail: "rollout.delete backend-svc#1|0",
        }),
        expect.objectContaining({
          actor: "UMALLORY",
          action: "advance",
          outcome: "refused",
          reason: "the button's value is not a rollout and step",
          detail: "rollout.advance drop table|x",
        }),
        expect.objectContaining({ actor: BOB, action: "refresh", outcome: "refused", reason: "there is no rollout backend-svc#7" }),
      ]),
    );
    expect(h.slack.responses(refresh.responseUrl)).toEqual([]); // a Refresh that was honoured needs no reply
    expect(clicks.find((e) => e.detail?.includes("drop table"))?.rolloutId).toBeUndefined();
    expect(clicks.find((e) => e.detail?.includes("backend-svc#7"))?.rolloutId).toBeUndefined();
    expect((await h.bot.audit.timeline("backend-svc#7", 10)).total).toBe(0);
    // None of it moved the rollout or the mesh beyond the first step.
    const r = (await h.bot.store.get("backend-svc#1"))!;
    expect(r).toMatchObject({ status: "active", stepIndex: 0, appliedPercent: 10 });
    expect(r.events.filter((e) => e.kind !== "started").map((e) => e.kind)).toEqual([]);
    expect(h.kube.mutations("trafficsplits", "default", "backend-ts")).toHaveLength(1);
    console.log(
      `clicks audited: ${clicks.length} button entries in the global trail (refresh done, unknown button, malformed value, missing rollout); record version ${version} -> ${r.version} (readings only)`,
    );
  });

  it("a rejected rollout's history line says how long it took", async () => {
    h = await startHarness();
    seedBackendSplit(h);
    await ask(h, ALICE, "start backend-svc --from backend-v1 --to backend-v3 --split backend-ts");
    await waitFor(async () => ((await h!.bot.store.get("backend-svc#1"))?.status === "rejected" ? true : undefined), { what: "the rejection" });
    const line = (await ask(h, BOB, "history backend-svc")).split("\n").find((l) => l.startsWith("•"));
    expect(line).toMatch(/^• `backend-svc#1` backend-v1 → backend-v3: \*rejected\* after \d+s \(.+\) · started by <@UALICE>/);
  });
});

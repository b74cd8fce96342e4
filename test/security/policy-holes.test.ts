import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import { PROMOTE_CONFIRM } from "../../src/slack/views/promote.ts";
import { CHANNEL, clickButton, ephemeralTexts, firstCheckDone, startHarness, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { percentOnSplit, seedTrafficSplit } from "../support/split.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 20, items 8 and 10: Resume after drift needs Re-apply's right; a decision on an id that does not
 * parse is refused before anything else; reads show a person only rollouts of channels they can see; per
 * person limits on start, Refresh and chart, and a thread cannot be flooded with charts. Replayed as people
 * would, over signed requests to the real bot and the local peers.
 */

const ALICE = "UALICE"; // starts; may advance, not finish (the second approver rule)
const BOB = "UBOB"; // a second person
const MALLORY = "UMALLORY"; // in the public channel only
const SECRET = "C0SECRET"; // a private channel ALICE and BOB are in

const TARGETS = `
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 80, 100]
    metrics: { source: none, refreshSeconds: 3600 }
    policy:
      requireSecondApprover: true
  - name: secret-svc
    namespace: default
    stable: secret-v1
    smi: { trafficSplit: secret-ts }
    steps: [10, 100]
    metrics: { source: none, refreshSeconds: 3600 }
  - name: web
    namespace: default
    stable: web-v1
    smi: { trafficSplit: web-ts }
    steps: [10, 100]
    metrics: { source: prometheus, preset: linkerd2, prometheusUrl: "http://127.0.0.1:9/", refreshSeconds: 3600 }
`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    targetsYaml: TARGETS,
    extraEnv: {
      ROLLOUT_LIMIT_STARTS_PER_MINUTE: "3",
      ROLLOUT_LIMIT_REFRESHES_PER_MINUTE: "2",
      ROLLOUT_LIMIT_CHARTS_PER_MINUTE: "2",
      ROLLOUT_CHART_THREAD_SECONDS: "30",
    },
  });
  h.slack.addChannel({ id: SECRET, name: "incident-42", is_private: true, members: [ALICE, BOB] });
  for (const [name, stable, canary] of [
    ["backend-ts", "backend-v1", "backend-v2"],
    ["secret-ts", "secret-v1", "secret-v2"],
    ["web-ts", "web-v1", "web-v2"],
  ] as const)
    seedTrafficSplit(h.kube, { name, service: name.replace("-ts", "") }, [
      { service: stable, weight: 100 },
      { service: canary, weight: 0 },
    ]);
});
afterAll(async () => h?.close());

async function ask(userId: string, text: string, channelId = CHANNEL): Promise<string> {
  const res = await h.driver.slash({ userId, channelId, text });
  expect(res.status).toBe(200);
  const reply = await waitFor(() => h.slack.responses(res.responseUrl)[0], { what: `reply to ${text}` });
  expect(reply.response_type ?? "ephemeral").toBe("ephemeral");
  return reply.text ?? JSON.stringify(reply.blocks ?? []);
}

const canary = () => percentOnSplit(h.kube.get("trafficsplits", "default", "backend-ts")?.spec, "backend-v2");

describe("item 8: Resume after drift on the step to 100%", () => {
  it("needs Re-apply's right: the starter is refused under requireSecondApprover, and the mesh stays as edited", async () => {
    await ask(ALICE, "start backend-svc --to backend-v2");
    const id = "backend-svc#1";
    await waitForMessage(h, id, "Advance to 80%");
    await firstCheckDone(h, id);
    await clickButton(h, id, ALICE, "Advance to 80%");
    await waitForMessage(h, id, "Advance to 100%");
    h.kube.edit("trafficsplits", "default", "backend-ts", (o: KubeObject) => {
      (o.spec as { backends: unknown[] }).backends = [
        { service: "backend-v1", weight: 50 },
        { service: "backend-v2", weight: 50 },
      ];
    });
    await clickButton(h, id, BOB, "Advance to 100%");
    await waitForMessage(h, id, "Held", 15_000);
    expect(await h.bot.store.get(id)).toMatchObject({ desiredPercent: 100, appliedPercent: 80, drift: { observedPercent: 50 } });

    const writes = h.kube.mutations("trafficsplits", "default", "backend-ts").length;
    const refused = await ask(ALICE, `resume ${id}`);
    expect(refused).toContain("requires a second approver: you started this rollout, so someone else must take it to 100%");
    await sleep(150);
    expect(h.kube.mutations("trafficsplits", "default", "backend-ts").length).toBe(writes);
    expect(canary()).toBe(50);
    expect(await h.bot.store.get(id)).toMatchObject({ status: "held" });

    // The edit undone by hand (back to the verified 80%): Resume would now write 100% unopposed, which is
    // how the report's starter took the mesh to 100% without the right. Still refused to her.
    h.kube.edit("trafficsplits", "default", "backend-ts", (o: KubeObject) => {
      (o.spec as { backends: unknown[] }).backends = [
        { service: "backend-v1", weight: 20 },
        { service: "backend-v2", weight: 80 },
      ];
    });
    expect(await ask(ALICE, `resume ${id}`)).toContain("requires a second approver");
    await sleep(150);
    expect(h.kube.mutations("trafficsplits", "default", "backend-ts").length).toBe(writes);
    expect(canary()).toBe(80);

    // The hand edits made kubectl-edit the owner of spec.backends: Resume does not take it (only Re-apply
    // forces), so the second person's resume is held as "owned" and their Re-apply reaches 100%.
    expect(await ask(BOB, `resume ${id}`)).toContain("Resuming");
    await waitFor(async () => ((await h.bot.store.get(id))?.drift?.owned?.managers.join() === "kubectl-edit" ? true : undefined), {
      what: "the resume held as owned by kubectl-edit",
    });
    expect(canary()).toBe(80);
    await waitForMessage(h, id, "Re-apply 0/100");
    await clickButton(h, id, BOB, "Re-apply 0/100");
    await waitFor(() => (canary() === 100 ? true : undefined), { what: "the second person's Re-apply to reach 100%" });
    await clickButton(h, id, BOB, "Abort");
    await waitForStatus(h, id, "aborted");
  });
});

describe("item 10: a decision on an id that does not parse", () => {
  it("is refused before anything else (a forged promote dialog), audited, and nothing moves", async () => {
    const before = h.kube.requests.filter((r) => r.mutating).length;
    const payload = {
      type: "view_submission",
      team: { id: h.slack.teamId, domain: h.slack.teamDomain },
      user: { id: MALLORY, username: "mallory", name: "mallory", team_id: h.slack.teamId },
      api_app_id: h.slack.appId,
      token: "x",
      trigger_id: "1.2.3",
      view: {
        id: "V0FORGED",
        type: "modal",
        callback_id: PROMOTE_CONFIRM,
        private_metadata: JSON.stringify({ id: "../../backend-svc#1", step: 1 }),
        state: { values: {} },
        hash: "1",
      },
      response_urls: [],
      is_enterprise_install: false,
    };
    const res = await h.driver.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), "");
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body)).toContain("There is no rollout ../../backend-svc#1");
    const entry = await waitFor(async () => (await h.bot.audit.recent(10)).find((e) => e.actor === MALLORY && e.action === "promote"), {
      what: "the audit entry",
    });
    expect(entry).toMatchObject({ outcome: "refused", rolloutId: "../../backend-svc#1" });
    await sleep(100);
    expect(h.kube.requests.filter((r) => r.mutating).length).toBe(before);
  });
});

describe("item 10: reads show only rollouts of channels a person can see", () => {
  it("status, list, history and App Home hide a private channel's rollout from a non-member, and show it to a member", async () => {
    await ask(ALICE, "start secret-svc --to secret-v2", SECRET);
    await waitForStatus(h, "secret-svc#1", "active");

    // MALLORY: in the public channel only.
    expect(await ask(MALLORY, "list")).not.toContain("secret-svc");
    expect(await ask(MALLORY, "status secret-svc#1")).toContain("there is no rollout `secret-svc#1`");
    expect(await ask(MALLORY, "status secret-svc")).toContain("has no running rollout");
    expect(await ask(MALLORY, "history")).not.toContain("secret-svc");
    expect(await ask(MALLORY, "history secret-svc#1")).toContain("there is no rollout");
    expect(await ask(MALLORY, "chart secret-svc#1")).toContain("there is no rollout");
    await h.driver.homeOpened({ userId: MALLORY });
    const home = await waitFor(() => h.slack.surfaces.homeOf(MALLORY), { what: "Mallory's board" });
    expect(JSON.stringify(home.blocks)).not.toContain("secret-svc");

    // BOB is a member: he sees it everywhere.
    expect(await ask(BOB, "list")).toContain("secret-svc#1");
    expect(await ask(BOB, "history secret-svc#1")).toContain("Timeline of `secret-svc#1`");
    await h.driver.homeOpened({ userId: BOB });
    await waitFor(() => (JSON.stringify(h.slack.surfaces.homeOf(BOB)?.blocks ?? []).includes("secret-svc#1") ? true : undefined), { what: "Bob's board" });
    expect(h.slack.callsOf("conversations.members").length).toBeGreaterThan(0);
  });
});

describe("the start form's channel field", () => {
  it("refuses a private channel the person is not in, next to the field, and nothing starts", async () => {
    const opens = h.slack.callsOf("views.open").length;
    await h.driver.slash({ userId: MALLORY, channelId: CHANNEL, text: "" });
    await waitFor(() => h.slack.callsOf("views.open")[opens], { what: "the form" });
    const form = [...h.slack.surfaces.views.values()].filter((v) => v.type === "modal" && v.user === MALLORY).at(-1)!;
    const res = await h.driver.submitView({
      userId: MALLORY,
      viewId: form.id,
      values: {
        target: { target: { type: "static_select", selected_option: { value: "web" } } },
        version: { version: { type: "plain_text_input", value: "web-v3" } },
        channel: { channel: { type: "conversations_select", selected_conversation: SECRET } },
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ response_action: "errors", errors: { channel: expect.stringContaining("you are not a member of") } });
    await sleep(100);
    expect((await h.bot.store.ofTarget("web", 10)).map((r) => r.id)).not.toContain("web#2");
    expect(h.slack.messages(SECRET).filter((m) => (m.text ?? "").includes("web-v3"))).toEqual([]);
  });
});

describe("item 10: per-person limits", () => {
  it("on start: past the limit a clear private answer, and nothing is started", async () => {
    const replies: string[] = [];
    const EVE = "UEVE";
    for (let i = 0; i < 4; i++) replies.push(await ask(EVE, "start nosuch --to v2"));
    expect(replies.slice(0, 3).every((r) => r.includes("unknown target"))).toBe(true);
    expect(replies[3]).toMatch(
      /^:hourglass: Slow down: you started 3 rollouts in the last 60 s, the most one person may\. Try again in \d+ s\. Nothing was changed\.$/,
    );
    // Another person is not held back by Eve's flood.
    expect(await ask(BOB, "start nosuch --to v2")).toContain("unknown target");
  });

  it("on charts: one per thread per 30 s whoever asks, and a few a minute per person; nothing else is posted", async () => {
    const uploads = () => h.slack.callsOf("files.completeUploadExternal").length;
    const before = uploads();
    expect(await ask(BOB, "chart secret-svc#1")).toContain("Drawing the success-rate chart");
    expect(await ask(ALICE, "chart secret-svc#1")).toContain("A chart of this rollout was posted to its thread moments ago");
    expect(await ask(BOB, "chart backend-svc#1")).toContain("Drawing");
    expect(await ask(BOB, "chart secret-svc#1")).toContain("Slow down: you asked for 2 charts in the last 60 s");
    await waitFor(() => (uploads() >= before + 2 ? true : undefined), { what: "two charts uploaded" });
    await sleep(300);
    expect(uploads()).toBe(before + 2);
  });

  it("on Refresh: past the limit the click is answered privately and no reading is asked", async () => {
    await ask(BOB, "start web --to web-v2");
    await waitForMessage(h, "web#1", "Refresh");
    for (let i = 0; i < 3; i++) await clickButton(h, "web#1", MALLORY, "Refresh");
    const told = await waitFor(() => ephemeralTexts(h, MALLORY).find((t) => t.includes("Slow down: you asked for 2 readings")), { what: "the refusal" });
    expect(told).toContain("Nothing was changed");
    const refreshes = (await h.bot.audit.timeline("web#1", 50)).entries.filter((e) => e.actor === MALLORY && e.action === "refresh");
    // The clicks are acked first and handled concurrently: which of the three was over the limit may vary.
    expect(refreshes.map((e) => e.outcome).sort()).toEqual(["done", "done", "refused"]);
  });
});

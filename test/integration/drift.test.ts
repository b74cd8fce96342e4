import { afterEach, describe, expect, it } from "vitest";
import { parseDtab, replaceDentry } from "../../src/routers/dtab.ts";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import type { NamerdPeer } from "../../sandbox/peers/namerd.ts";
import { CHANNEL, clickButton, firstCheckDone, rolloutMessage, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 6, drift: someone changes the weights by hand. The bot notices (on its periodic check, or before
 * its next write), holds, shows what changed with Re-apply, Adopt and Abort, and never overwrites silently.
 */

const ALICE = "UALICE";
const TARGETS = `
targets:
  - name: backend-svc
    stable: backend-v1
    steps: [10, 80, 100]
    smi: { trafficSplit: backend-ts }
    metrics: { source: none, refreshSeconds: 5 }
`;

/**
 * The same target with the periodic check an hour apart: a hand edit is then found only by the bot's own
 * next write (Finish, Abort), never by a check that happens to run first.
 */
const QUIET_TARGETS = `
targets:
  - name: backend-svc
    stable: backend-v1
    steps: [10, 100]
    smi: { trafficSplit: backend-ts }
    metrics: { source: none, refreshSeconds: 3600 }
`;

const NAMERD_SEED = "/srv => /#/io.l5d.k8s/default/http ; /host => /srv ; /host/world => /srv/world-v1 ;";
const NAMERD_TARGETS = `
targets:
  - name: world
    router: namerd
    steps: [10, 100]
    namerd:
      url: "{{NAMERD_URL}}"
      dtabNamespace: internal
      prefix: /host/world
      dst: /srv/{version}
    metrics: { source: none, refreshSeconds: 3600 }
`;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

type Backends = { service: string; weight: number }[];
const weights = (hh: Harness) => (hh.kube.get("trafficsplits", "default", "backend-ts")?.spec as { backends: Backends }).backends;
const handEdit = (hh: Harness, stable: number, canary: number) =>
  hh.kube.edit("trafficsplits", "default", "backend-ts", (o: KubeObject) => {
    (o.spec as { backends: Backends }).backends = [
      { service: "backend-v1", weight: stable },
      { service: "backend-v2", weight: canary },
    ];
  });

const buttonsOf = (hh: Harness, id: string) => {
  const m = rolloutMessage(hh, id);
  return m ? hh.slack.buttons(CHANNEL, m.ts).map((b) => b.text) : [];
};
const waitForButtons = (hh: Harness, id: string, labels: string[], timeoutMs = 10_000) =>
  waitFor(() => (JSON.stringify(buttonsOf(hh, id)) === JSON.stringify(labels) ? true : undefined), {
    timeoutMs,
    what: `rollout ${id} to offer ${labels.join(", ")}`,
  });
const threadTexts = (hh: Harness, id: string) => {
  const m = rolloutMessage(hh, id);
  return m ? hh.slack.thread(CHANNEL, m.ts).map((x) => x.text ?? "") : [];
};

async function startAt10(targetsYaml = TARGETS): Promise<Harness> {
  const hh = await startHarness({ targetsYaml });
  await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start backend-svc --to backend-v2" });
  await waitForMessage(hh, "backend-svc#1", targetsYaml === TARGETS ? "Advance to 80%" : "Advance to 100%");
  if (targetsYaml !== TARGETS) await firstCheckDone(hh, "backend-svc#1");
  return hh;
}

describe("drift", () => {
  it("a hand edit is noticed on the periodic check: held, what changed in the thread, and Adopt makes it the rollout's state", async () => {
    h = await startAt10();
    const writes = h.kube.mutations("trafficsplits", "default", "backend-ts").length;
    handEdit(h, 70, 30);
    const held = await waitForMessage(h, "backend-svc#1", "Held", 15_000);
    expect(h.slack.buttons(CHANNEL, held.ts).map((b) => b.text)).toEqual(["Re-apply 90/10", "Adopt 70/30", "Abort"]);
    // The parent message is updated before the thread reply is posted: wait for the reply.
    await waitFor(
      () =>
        h!.slack
          .thread(CHANNEL, held.ts)
          .some(
            (m) =>
              (m.text ?? "").includes("Drift: someone changed the weights by hand: the mesh sends 30% to backend-v2") &&
              (m.text ?? "").includes("the rollout had verified 10%"),
          ) || undefined,
      { what: "what changed, in the thread" },
    );
    expect(h.kube.mutations("trafficsplits", "default", "backend-ts").length).toBe(writes); // nothing overwritten

    await clickButton(h, "backend-svc#1", ALICE, "Adopt 70/30");
    await waitForMessage(h, "backend-svc#1", "Advance to 80%");
    expect(await h.bot.store.get("backend-svc#1")).toMatchObject({ status: "active", desiredPercent: 30, appliedPercent: 30, stepIndex: 0 });
    // The hand edit (kubectl edit) owns spec.backends now: Adopt does not take it, so the bot's next apply is
    // refused naming that manager, nothing written; Re-apply takes it (forced, audited).
    await clickButton(h, "backend-svc#1", ALICE, "Advance to 80%");
    const owned = await waitForMessage(h, "backend-svc#1", "Re-apply 20/80", 15_000);
    expect(JSON.stringify(owned.blocks)).toContain("is owned by `kubectl-edit`");
    expect(weights(h)).toEqual([
      { service: "backend-v1", weight: 70 },
      { service: "backend-v2", weight: 30 },
    ]);
    await clickButton(h, "backend-svc#1", ALICE, "Re-apply 20/80");
    await waitForMessage(h, "backend-svc#1", "Advance to 100%");
    expect(weights(h)).toEqual([
      { service: "backend-v1", weight: 20 },
      { service: "backend-v2", weight: 80 },
    ]);
    const { entries } = await h.bot.audit.timeline("backend-svc#1", 50);
    expect(entries.find((e) => e.action === "reapply")).toMatchObject({ outcome: "done", detail: "taking .spec.backends from `kubectl-edit` (force)" });
  });

  it("Re-apply puts the planned weights back over the hand edit, verified", async () => {
    h = await startAt10();
    handEdit(h, 50, 50);
    await waitForMessage(h, "backend-svc#1", "Held", 15_000);
    await clickButton(h, "backend-svc#1", ALICE, "Re-apply 90/10");
    await waitForMessage(h, "backend-svc#1", "Advance to 80%");
    expect(weights(h)).toEqual([
      { service: "backend-v1", weight: 90 },
      { service: "backend-v2", weight: 10 },
    ]);
    const r = await h.bot.store.get("backend-svc#1");
    expect(r).toMatchObject({ status: "active", appliedPercent: 10 });
    expect(r?.drift).toBeUndefined();
  });

  it("a hand edit found right before the bot's own write holds instead of overwriting; Abort still wins", async () => {
    h = await startAt10(QUIET_TARGETS);
    handEdit(h, 60, 40);
    // No periodic check comes for an hour: the write is what finds weights it did not expect.
    await clickButton(h, "backend-svc#1", ALICE, "Advance to 100%");
    const held = await waitForMessage(h, "backend-svc#1", "Held", 15_000);
    expect(weights(h)).toEqual([
      { service: "backend-v1", weight: 60 },
      { service: "backend-v2", weight: 40 },
    ]);
    expect(h.slack.buttons(CHANNEL, held.ts).map((b) => b.text)).toEqual(["Re-apply 0/100", "Adopt 60/40", "Abort"]);
    await clickButton(h, "backend-svc#1", ALICE, "Abort");
    await waitForMessage(h, "backend-svc#1", "Aborted");
    expect(weights(h)).toEqual([
      { service: "backend-v1", weight: 100 },
      { service: "backend-v2", weight: 0 },
    ]);
    expect(rolloutMessage(h, "backend-svc#1")).toBeTruthy();
    await waitFor(async () => ((await h!.bot.store.activeFor("backend-svc")) ? undefined : true), { what: "the target to be free" });
    // The person aborted after seeing the drift in the thread: the abort does not report it a second time.
    await waitFor(() => threadTexts(h!, "backend-svc#1").some((t) => t.includes("aborted by")) || undefined, { what: "the abort in the thread" });
    expect(threadTexts(h, "backend-svc#1").filter((t) => t.includes("had been changed by hand"))).toEqual([]);
  });

  it("Finish after a hand edit at 100% holds with the drift instead of overwriting; Re-apply, then Finish completes", async () => {
    const id = "backend-svc#1";
    h = await startAt10(QUIET_TARGETS);
    await clickButton(h, id, ALICE, "Advance to 100%");
    await waitForButtons(h, id, ["Finish", "Abort"]);
    expect(weights(h)).toEqual([
      { service: "backend-v1", weight: 0 },
      { service: "backend-v2", weight: 100 },
    ]);

    handEdit(h, 50, 50);
    const writes = h.kube.mutations("trafficsplits", "default", "backend-ts").length;
    // Finish before any periodic check: the finish itself must notice the edit.
    await clickButton(h, id, ALICE, "Finish");
    await waitForMessage(h, id, "Held", 15_000);
    await waitForButtons(h, id, ["Re-apply 0/100", "Adopt 50/50", "Abort"]);
    await waitFor(
      () =>
        threadTexts(h!, id).some(
          (t) => t.includes("the mesh sends 50% to backend-v2") && t.includes("the rollout had verified 100%") && t.includes("Finish did not go ahead"),
        ) || undefined,
      { what: "the drift, in the thread" },
    );
    expect(h.kube.mutations("trafficsplits", "default", "backend-ts").length).toBe(writes); // nothing overwritten
    expect(weights(h)).toEqual([
      { service: "backend-v1", weight: 50 },
      { service: "backend-v2", weight: 50 },
    ]);
    expect(await h.bot.store.get(id)).toMatchObject({ status: "held", appliedPercent: 100, desiredPercent: 100, drift: { observedPercent: 50 } });

    await clickButton(h, id, ALICE, "Re-apply 0/100");
    await waitForButtons(h, id, ["Finish", "Abort"]);
    expect(weights(h)).toEqual([
      { service: "backend-v1", weight: 0 },
      { service: "backend-v2", weight: 100 },
    ]);
    await clickButton(h, id, ALICE, "Finish");
    await waitForMessage(h, id, "Completed");
    expect(await h.bot.store.get(id)).toMatchObject({ status: "completed", appliedPercent: 100 });
    expect(weights(h)).toEqual([
      { service: "backend-v1", weight: 0 },
      { service: "backend-v2", weight: 100 },
    ]);
  });

  it("namerd: Finish after a hand edit of the dentry holds instead of writing /srv/<canary>; Re-apply, then Finish completes", async () => {
    const id = "world#1";
    h = await startHarness({ namerd: { internal: NAMERD_SEED }, targetsYaml: NAMERD_TARGETS });
    const namerd = h.namerd as NamerdPeer;
    const puts = () => namerd.requests.filter((r) => r.method === "PUT").length;
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start world --to world-v2" });
    await waitForButtons(h, id, ["Start shifting (10%)", "Hold", "Abort"]);
    await firstCheckDone(h, id);
    await clickButton(h, id, ALICE, "Start shifting (10%)");
    await waitForButtons(h, id, ["Advance to 100%", "Hold", "Abort"]);
    await clickButton(h, id, ALICE, "Advance to 100%");
    await waitForButtons(h, id, ["Finish", "Abort"]);

    namerd.edit("internal", (d) => replaceDentry(d, "/host/world", parseDtab("/x => 50 * /srv/world-v1 & 50 * /srv/world-v2")[0]!.tree));
    const written = puts();
    await clickButton(h, id, ALICE, "Finish");
    await waitForMessage(h, id, "Held", 15_000);
    await waitForButtons(h, id, ["Re-apply 0/100", "Adopt 50/50", "Abort"]);
    await waitFor(() => threadTexts(h!, id).some((t) => t.includes("the mesh sends 50% to world-v2") && t.includes("Finish did not go ahead")) || undefined, {
      what: "the drift, in the thread",
    });
    expect(puts()).toBe(written);
    expect(namerd.get("internal")!.text).toContain("/host/world => 50 * /srv/world-v1 & 50 * /srv/world-v2 ;");

    await clickButton(h, id, ALICE, "Re-apply 0/100");
    await waitForButtons(h, id, ["Finish", "Abort"]);
    await clickButton(h, id, ALICE, "Finish");
    await waitForMessage(h, id, "Completed");
    expect(namerd.get("internal")!.text).toContain("/host/world => /srv/world-v2 ;");
  });

  it("Abort over a hand edit at 10% goes back to stable and says once in the thread what it overwrote, also when retried", async () => {
    const id = "backend-svc#1";
    h = await startAt10(QUIET_TARGETS);
    handEdit(h, 70, 30);
    // The abort's first write fails (it is retried); the second one lands but its read-back fails (retried
    // again, now finding the mesh already at 0%): the note is still posted exactly once.
    const ts = "trafficsplits/backend-ts";
    h.kube.failNext({ method: "PATCH", pathIncludes: ts, status: 503 });
    h.kube.onNext({ method: "PATCH", pathIncludes: ts }, () =>
      h!.kube.onNext({ method: "PATCH", pathIncludes: ts }, () => h!.kube.failNext({ method: "GET", pathIncludes: ts, status: 503 })),
    );
    await clickButton(h, id, ALICE, "Abort");
    await waitForMessage(h, id, "Aborted", 15_000);
    expect(weights(h)).toEqual([
      { service: "backend-v1", weight: 100 },
      { service: "backend-v2", weight: 0 },
    ]);
    expect(await h.bot.store.get(id)).toMatchObject({ status: "aborted", appliedPercent: 0 });
    expect(
      h.kube
        .mutations("trafficsplits", "default", "backend-ts")
        .slice(-2)
        .map((m) => m.status),
    ).toEqual([503, 200]);
    await waitFor(() => threadTexts(h!, id).some((t) => t.includes("aborted by")) || undefined, { what: "the abort in the thread" });
    const notes = threadTexts(h, id).filter((t) => t.includes("had been changed by hand"));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain("it sent 30% to backend-v2 (backend-v1 70 / backend-v2 30), the rollout had verified 10%");
    expect(notes[0]).toContain("all traffic goes back to backend-v1");
  });

  it("an abort with no hand edit adds no such note", async () => {
    const id = "backend-svc#1";
    h = await startAt10(QUIET_TARGETS);
    await clickButton(h, id, ALICE, "Abort");
    await waitForMessage(h, id, "Aborted");
    await waitFor(() => threadTexts(h!, id).some((t) => t.includes("aborted by")) || undefined, { what: "the abort in the thread" });
    expect(threadTexts(h, id).filter((t) => t.includes("had been changed by hand"))).toEqual([]);
  });
});

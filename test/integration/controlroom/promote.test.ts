import { afterEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../../sandbox/peers/kube-api.ts";
import { CHANNEL, rolloutMessage, startHarness, waitForEphemeral, waitForMessage, waitForStatus, type Harness } from "../../support/bot-harness.ts";
import { percentOnSplit } from "../../support/split.ts";
import { waitFor } from "../../support/wait.ts";

/**
 * Issue 15: emergency promote, "Skip to 100%": from the message's overflow menu (with a confirm dialog that
 * states the risk and the verdict) and as `/rollout promote <id>`. Needs the right to finish and honours the
 * second approver.
 */

const ALICE = "UALICE"; // starts
const REL = "UREL"; // may finish
const MALLORY = "UMALLORY"; // may not finish
const ID = "backend-svc#1";
const TARGETS = `
policy:
  finish: ["@release", ${ALICE}]
  requireSecondApprover: true
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 50, 80, 100]
`;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function started(): Promise<Harness> {
  const hh = await startHarness({ targetsYaml: TARGETS });
  hh.slack.setUsergroup({ id: "S0RELEASE", handle: "release", users: [REL] });
  hh.kube.seed("trafficsplits", "default", {
    kind: "TrafficSplit",
    metadata: { name: "backend-ts", namespace: "default" },
    spec: {
      service: "backend-svc",
      backends: [
        { service: "backend-v1", weight: 100 },
        { service: "backend-v2", weight: 0 },
      ],
    },
  } as KubeObject);
  await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start backend-svc --to backend-v2" });
  await waitForMessage(hh, ID, "Advance to 50%");
  return hh;
}

const canary = (hh: Harness) => percentOnSplit(hh.kube.get("trafficsplits", "default", "backend-ts")?.spec, "backend-v2");

function menuOf(hh: Harness) {
  const m = rolloutMessage(hh, ID)!;
  const block = (m.blocks ?? []).find((b) => b.type === "actions" && JSON.stringify(b).includes('"overflow"'))!;
  const overflow = (block.elements as Record<string, unknown>[]).find((e) => e.type === "overflow") as {
    action_id: string;
    options: { value: string; text: { text: string } }[];
  };
  return { ts: m.ts, block_id: String(block.block_id), action_id: overflow.action_id, options: overflow.options };
}

describe("emergency promote", () => {
  it("from the overflow menu: a confirm dialog with the risk and the verdict, then 100% and completed, audited as a promote", async () => {
    h = await started();
    const menu = menuOf(h);
    const skip = menu.options.find((o) => o.text.text.startsWith("Skip to 100%"))!;
    const opens = h.slack.callsOf("views.open").length;
    await h.driver.click({
      userId: REL,
      channelId: CHANNEL,
      messageTs: menu.ts,
      button: { action_id: menu.action_id, block_id: menu.block_id },
      option: { text: skip.text.text, value: skip.value },
    });
    await waitFor(() => h!.slack.callsOf("views.open")[opens], { what: "the confirm dialog" });
    const dialog = [...h.slack.surfaces.views.values()].find((v) => v.user === REL && v.callback_id === "rollout.promote-confirm")!;
    const words = JSON.stringify(dialog.blocks);
    expect(words).toContain("All traffic for `backend-svc` goes to `backend-v2` now");
    expect(words).toContain("The steps 50%, 80% are skipped");
    expect(words).toMatch(/verdict|success-rate/i);
    // Only asking: nothing moved yet.
    expect(canary(h)).toBe(10);

    const res = await h.driver.submitView({ userId: REL, viewId: dialog.id, values: {} });
    expect(res.status).toBe(200);
    expect(res.text).toBe("");
    await waitForStatus(h, ID, "completed");
    expect(canary(h)).toBe(100);
    const thread = h.slack.thread(CHANNEL, menu.ts).map((m) => m.text);
    expect(thread.some((t) => t.includes("skipped to 100% (emergency promote from 10%)"))).toBe(true);
    const { entries } = await h.bot.audit.timeline(ID, 50);
    expect(entries.find((e) => e.action === "promote")).toMatchObject({ actor: REL, via: "modal", outcome: "done", before: 10, after: 100 });
  });

  it("the starter is refused by the two-person rule, someone without the right to finish too; nothing moves", async () => {
    h = await started();
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `promote ${ID}` });
    await waitForEphemeral(h, ALICE, "started");
    await h.driver.slash({ userId: MALLORY, channelId: CHANNEL, text: `promote ${ID}` });
    await waitForEphemeral(h, MALLORY, "finish");
    // Through the dialog too: the refusal replaces the question.
    const menu = menuOf(h);
    const skip = menu.options.find((o) => o.text.text.startsWith("Skip to 100%"))!;
    await h.driver.click({
      userId: MALLORY,
      channelId: CHANNEL,
      messageTs: menu.ts,
      button: { action_id: menu.action_id, block_id: menu.block_id },
      option: { text: skip.text.text, value: skip.value },
    });
    const dialog = await waitFor(() => [...h!.slack.surfaces.views.values()].find((v) => v.user === MALLORY), { what: "dialog" });
    const res = await h.driver.submitView({ userId: MALLORY, viewId: dialog.id, values: {} });
    expect(res.body).toMatchObject({ response_action: "update", view: { title: { text: "Not promoted" } } });
    expect(canary(h)).toBe(10);
    expect((await h.bot.store.get(ID))?.status).toBe("active");
    const { entries } = await h.bot.audit.timeline(ID, 50);
    expect(entries.filter((e) => e.action === "promote").map((e) => [e.actor, e.outcome])).toEqual([
      [ALICE, "refused"],
      [MALLORY, "refused"],
      [MALLORY, "refused"],
    ]);
  });

  it("/rollout promote by someone with the right to finish skips to 100% and completes", async () => {
    h = await started();
    await h.driver.slash({ userId: REL, channelId: CHANNEL, text: `promote ${ID}` });
    await waitForEphemeral(h, REL, "Skipping to 100% and finishing");
    await waitForStatus(h, ID, "completed");
    expect(canary(h)).toBe(100);
  });
});

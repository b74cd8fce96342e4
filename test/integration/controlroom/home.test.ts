import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../../sandbox/peers/kube-api.ts";
import { viewButtons } from "../../../sandbox/peers/slack/driver.ts";
import { HOME_COALESCE_MS } from "../../../src/queue/queues.ts";
import { CHANNEL, startHarness, waitForMessage, waitForStatus, type Harness } from "../../support/bot-harness.ts";
import { percentOnSplit } from "../../support/split.ts";
import { waitFor } from "../../support/wait.ts";

/**
 * Issue 15: the App Home tab as a board. `app_home_opened` publishes the person's board (views.publish);
 * its buttons are the message's own and go through the same listeners and policy; boards are kept current
 * after transitions, at most one views.publish per person per HOME_COALESCE_MS.
 */

const ALICE = "UALICE"; // may advance
const MALLORY = "UMALLORY"; // may not
const ID = "backend-svc#1";
const TARGETS = `
policy:
  advance: [${ALICE}]
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 50, 100]
`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ targetsYaml: TARGETS });
  h.kube.seed("trafficsplits", "default", {
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
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start backend-svc --to backend-v2" });
  await waitForMessage(h, ID, "Advance to 50%");
});
afterAll(async () => h?.close());

const canary = () => percentOnSplit(h.kube.get("trafficsplits", "default", "backend-ts")?.spec, "backend-v2");
const publishesTo = (user: string) => h.slack.callsOf("views.publish").filter((c) => c.args.user_id === user && c.ok);
const homeText = (user: string) => JSON.stringify(h.slack.surfaces.homeOf(user)?.blocks ?? []);

describe("the App Home board", () => {
  it("app_home_opened publishes the person's board listing the running rollouts, with a link to the message", async () => {
    const res = await h.driver.homeOpened({ userId: ALICE });
    expect(res.status).toBe(200);
    await waitFor(() => (homeText(ALICE).includes(ID) ? true : undefined), { what: "Alice's board" });
    const text = homeText(ALICE);
    expect(text).toContain("`backend-v1` → `backend-v2`");
    expect(text).toContain("▰▱▱▱▱▱▱▱▱▱ 10%");
    expect(text).toContain("Started by <@UALICE>");
    expect(text).toContain(`/archives/${CHANNEL}/p`); // the permalink of the rollout's message
    expect(viewButtons(h.slack.surfaces.homeOf(ALICE)!.blocks).map((b) => b.text)).toEqual(["Advance to 50%", "Hold", "Abort"]);
  });

  it("an unauthorized click on the board is refused like anywhere else: nothing moves, the answer is on her board", async () => {
    await h.driver.homeOpened({ userId: MALLORY });
    const home = await waitFor(() => h.slack.surfaces.homeOf(MALLORY), { what: "Mallory's board" });
    const advance = viewButtons(home.blocks).find((b) => b.text === "Advance to 50%")!;
    const res = await h.driver.clickInView({ userId: MALLORY, viewId: home.id, button: advance });
    expect(res.status).toBe(200);
    await waitFor(() => (homeText(MALLORY).includes(":no_entry:") ? true : undefined), { what: "the refusal on Mallory's board" });
    expect(homeText(MALLORY)).toContain("<@UALICE>"); // who may
    expect(canary()).toBe(10);
    const { entries } = await h.bot.audit.timeline(ID, 50);
    expect(entries.find((e) => e.action === "advance" && e.actor === MALLORY)).toMatchObject({ outcome: "refused", via: "button" });
  });

  it("Advance on the board moves the rollout exactly as the message's button, and the boards follow, coalesced", async () => {
    const home = h.slack.surfaces.homeOf(ALICE)!;
    const before = publishesTo(ALICE).length;
    const advance = viewButtons(home.blocks).find((b) => b.text === "Advance to 50%")!;
    await h.driver.clickInView({ userId: ALICE, viewId: home.id, button: advance });
    await waitForStatus(h, ID, "active");
    await waitFor(() => (canary() === 50 ? true : undefined), { what: "50% on the TrafficSplit" });
    await waitForMessage(h, ID, "Advance to 100%");
    const { entries } = await h.bot.audit.timeline(ID, 50);
    expect(entries.find((e) => e.action === "advance" && e.actor === ALICE)).toMatchObject({ outcome: "done", via: "button", before: 10, after: 50 });
    // The board is re-published without Alice opening it again.
    await waitFor(() => (homeText(ALICE).includes("▰▰▰▰▰▱▱▱▱▱ 50%") ? true : undefined), { what: "Alice's board at 50%", timeoutMs: 10_000 });
    const coalesced = publishesTo(ALICE).slice(before);
    // Advance, then the verified weight: two changes, but publishes to one person are HOME_COALESCE_MS apart.
    for (let i = 1; i < coalesced.length; i++) expect(coalesced[i]!.at - coalesced[i - 1]!.at).toBeGreaterThanOrEqual(HOME_COALESCE_MS - 300);
  });
});

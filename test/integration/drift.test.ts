import { afterEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../peers/kube-api.ts";
import { CHANNEL, clickButton, rolloutMessage, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
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

async function startAt10(): Promise<Harness> {
  const hh = await startHarness({ targetsYaml: TARGETS });
  await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start backend-svc --to backend-v2" });
  await waitForMessage(hh, "backend-svc#1", "Advance to 80%");
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
          .some((m) => (m.text ?? "").includes("Drift: someone changed the weights by hand: the mesh sends 30% to backend-v2") && (m.text ?? "").includes("the rollout had verified 10%")) || undefined,
      { what: "what changed, in the thread" },
    );
    expect(h.kube.mutations("trafficsplits", "default", "backend-ts").length).toBe(writes); // nothing overwritten

    await clickButton(h, "backend-svc#1", ALICE, "Adopt 70/30");
    await waitForMessage(h, "backend-svc#1", "Advance to 80%");
    expect(await h.bot.store.get("backend-svc#1")).toMatchObject({ status: "active", desiredPercent: 30, appliedPercent: 30, stepIndex: 0 });
    await clickButton(h, "backend-svc#1", ALICE, "Advance to 80%");
    await waitForMessage(h, "backend-svc#1", "Advance to 100%");
    expect(weights(h)).toEqual([{ service: "backend-v1", weight: 20 }, { service: "backend-v2", weight: 80 }]);
  });

  it("Re-apply puts the planned weights back over the hand edit, verified", async () => {
    h = await startAt10();
    handEdit(h, 50, 50);
    await waitForMessage(h, "backend-svc#1", "Held", 15_000);
    await clickButton(h, "backend-svc#1", ALICE, "Re-apply 90/10");
    await waitForMessage(h, "backend-svc#1", "Advance to 80%");
    expect(weights(h)).toEqual([{ service: "backend-v1", weight: 90 }, { service: "backend-v2", weight: 10 }]);
    const r = await h.bot.store.get("backend-svc#1");
    expect(r).toMatchObject({ status: "active", appliedPercent: 10 });
    expect(r?.drift).toBeUndefined();
  });

  it("a hand edit found right before the bot's own write holds instead of overwriting; Abort still wins", async () => {
    h = await startAt10();
    handEdit(h, 60, 40);
    // Advance before the periodic check runs: the write finds weights it did not expect.
    await clickButton(h, "backend-svc#1", ALICE, "Advance to 80%");
    const held = await waitForMessage(h, "backend-svc#1", "Held", 15_000);
    expect(weights(h)).toEqual([{ service: "backend-v1", weight: 60 }, { service: "backend-v2", weight: 40 }]);
    expect(h.slack.buttons(CHANNEL, held.ts).map((b) => b.text)).toEqual(["Re-apply 20/80", "Adopt 60/40", "Abort"]);
    await clickButton(h, "backend-svc#1", ALICE, "Abort");
    await waitForMessage(h, "backend-svc#1", "Aborted");
    expect(weights(h)).toEqual([{ service: "backend-v1", weight: 100 }, { service: "backend-v2", weight: 0 }]);
    expect(rolloutMessage(h, "backend-svc#1")).toBeTruthy();
    await waitFor(async () => ((await h!.bot.store.activeFor("backend-svc")) ? undefined : true), { what: "the target to be free" });
  });
});

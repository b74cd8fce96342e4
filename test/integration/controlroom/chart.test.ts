import { mkdirSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../../sandbox/peers/kube-api.ts";
import { startLinkerd1Admin, type Linkerd1Admin } from "../../../sandbox/peers/linkerd1-admin.ts";
import {
  CHANNEL,
  clickButton,
  rolloutMessage,
  startHarness,
  waitForEphemeral,
  waitForMessage,
  waitForStatus,
  type Harness,
} from "../../support/bot-harness.ts";
import { sleep, waitFor } from "../../support/wait.ts";

/**
 * Issue 15: the success-rate chart. Readings come from a Linkerd 1 admin port (counters the test moves),
 * are kept per rollout in Redis, and the picture (PNG, rendered in-process) is uploaded into the rollout's
 * thread with files.getUploadURLExternal + files.completeUploadExternal at completion, at abort, and on
 * `/rollout chart`. Each picture is saved under test-artifacts/ to be looked at.
 */

const ALICE = "UALICE";
const BOB = "UBOB";
const ARTIFACTS = new URL("../../../test-artifacts/", import.meta.url);

let admin: Linkerd1Admin;
let h: Harness;
const counters = {
  "backend-v1": { success: 0, failures: 0 },
  "backend-v2": { success: 0, failures: 0 },
  "web-v1": { success: 0, failures: 0 },
  "web-v2": { success: 0, failures: 0 },
};

function traffic(version: keyof typeof counters, success: number, failures: number) {
  counters[version].success += success;
  counters[version].failures += failures;
  admin.setClient("http", version, counters[version]);
}

beforeAll(async () => {
  admin = await startLinkerd1Admin();
  for (const v of Object.keys(counters) as (keyof typeof counters)[]) traffic(v, 0, 0);
  const metrics = `{ source: linkerd1, linkerd1AdminUrl: "${admin.url}", linkerd1ClientId: "{version}", windowSeconds: 5, refreshSeconds: 3600, minRequests: 20, minSuccessRate: 0.97 }`;
  h = await startHarness({
    targetsYaml: `
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 50, 100]
    metrics: ${metrics}
  - name: web
    namespace: default
    stable: web-v1
    smi: { trafficSplit: web-ts }
    steps: [20, 100]
    metrics: ${metrics}
`,
  });
  for (const [name, svc, v1, v2] of [
    ["backend-ts", "backend-svc", "backend-v1", "backend-v2"],
    ["web-ts", "web", "web-v1", "web-v2"],
  ] as const) {
    h.kube.seed("trafficsplits", "default", {
      kind: "TrafficSplit",
      metadata: { name, namespace: "default" },
      spec: {
        service: svc,
        backends: [
          { service: v1, weight: 100 },
          { service: v2, weight: 0 },
        ],
      },
    } as KubeObject);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
}, 30_000);
afterAll(async () => {
  await h?.close();
  await admin?.stop();
});

/** Move the counters, then take a reading now (Refresh) and wait until the message shows it. */
async function reading(id: string, stable: [string, number, number], canary: [string, number, number]) {
  traffic(stable[0] as keyof typeof counters, stable[1], stable[2]);
  traffic(canary[0] as keyof typeof counters, canary[1], canary[2]);
  const before = JSON.stringify((await h.bot.store.get(id))?.snapshot?.at);
  // Each reading folds the exact difference since the one before, however soon it comes.
  await sleep(50);
  await clickButton(h, id, ALICE, "Refresh");
  await waitFor(async () => (JSON.stringify((await h.bot.store.get(id))?.snapshot?.at) !== before ? true : undefined), { what: `a new reading of ${id}` });
}

/** The chart uploaded into the thread of `id`'s message (the n-th one), checked and saved as an artifact. */
async function uploadedChart(id: string, n: number, artifact: string) {
  const parent = rolloutMessage(h, id)!;
  const share = await waitFor(() => h.slack.surfaces.shares.filter((s) => s.thread_ts === parent.ts)[n], {
    what: `chart #${n + 1} of ${id}`,
    timeoutMs: 15_000,
  });
  expect(share.channel).toBe(CHANNEL);
  const png = share.file.bytes!;
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(png.length).toBeGreaterThan(20_000);
  expect(png.length).toBeLessThan(2_000_000);
  // IHDR: 1800 x 880 (the 900 x 440 drawing at twice the size).
  expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1800, 880]);
  expect(share.initial_comment).toContain(`rollout ${id}`);
  writeFileSync(new URL(artifact, ARTIFACTS), png);
  return share;
}

describe("the success-rate chart", () => {
  it("is uploaded into the thread when a rollout completes: both rates, the weight steps, who acted, the threshold", async () => {
    const id = "backend-svc#1";
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start backend-svc --to backend-v2" });
    await waitForMessage(h, id, "Advance to 50%");
    await reading(id, ["backend-v1", 900, 1], ["backend-v2", 100, 1]);
    await reading(id, ["backend-v1", 900, 2], ["backend-v2", 98, 2]);
    await clickButton(h, id, BOB, "Advance to 50%");
    await waitForMessage(h, id, "Advance to 100%");
    await reading(id, ["backend-v1", 500, 1], ["backend-v2", 490, 6]);
    await reading(id, ["backend-v1", 500, 0], ["backend-v2", 497, 3]);
    await clickButton(h, id, BOB, "Advance to 100%");
    await waitForMessage(h, id, "Finish");
    await clickButton(h, id, BOB, "Finish");
    await waitForStatus(h, id, "completed");
    const share = await uploadedChart(id, 0, "chart-completed.png");
    expect(share.file.title).toBe(`Rollout ${id}: success rate`);
    expect(share.initial_comment).toMatch(/completed\), \d+ readings; last reading: stable \d+\.\d%, canary 9\d\.\d% at 50%/);
    expect(h.slack.callsOf("files.completeUploadExternal").filter((c) => c.ok)).toHaveLength(1);
  }, 40_000);

  it("/rollout chart posts one for a running rollout, and another goes up when it is aborted", async () => {
    const id = "web#1";
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2" });
    await waitForMessage(h, id, "Advance to 100%");
    await reading(id, ["web-v1", 800, 1], ["web-v2", 180, 12]);
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `chart ${id}` });
    await waitForEphemeral(h, ALICE, "Drawing the success-rate chart of `web#1`");
    await uploadedChart(id, 0, "chart-running.png");
    await clickButton(h, id, BOB, "Abort");
    await waitForStatus(h, id, "aborted");
    const share = await uploadedChart(id, 1, "chart-aborted.png");
    expect(share.initial_comment).toContain("(aborted)");
  }, 30_000);
});

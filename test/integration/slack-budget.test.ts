import { afterAll, beforeAll, expect, it } from "vitest";
import { CHANNEL, clickButton, rolloutMessage, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { sleep } from "../support/wait.ts";

/**
 * Issue 11: Slack's chat.update budget, per message. The scenario is 60 s of readings every 5 s with
 * clicks in between; this runs it for 22 s (four intervals and more, at the smallest refreshSeconds a target
 * may have, 5 s) against the real bot and the Slack peer, and checks the same two properties on what Slack
 * received: no two snapshot-only updates of the message closer than 5 s, and every click shown within 1 s.
 * (test/unit/render-budget.test.ts runs the full 60 s on a simulated clock through the same decision.)
 */

const ALICE = "UALICE";
const INTERVAL_MS = 5_000;
let h: Harness;

beforeAll(async () => {
  // Every reading differs from the last (its "as of" time) without the state changing: a Prometheus nobody
  // listens on gives "metrics unavailable" every 5 s.
  h = await startHarness({
    targetsYaml: `targets:
  - name: budget
    stable: web-v1
    steps: [10, 50, 100]
    metrics: { source: prometheus, prometheusUrl: "http://127.0.0.1:9", preset: linkerd2, scrapeIntervalSeconds: 1, windowSeconds: 5, refreshSeconds: 5 }
`,
  });
});
afterAll(async () => {
  await h?.close();
});

type Version = { at: number; blocks: unknown };

/** Every rendering the message had, with when Slack received it (the post, then each chat.update). */
function versions(id: string): Version[] {
  const m = rolloutMessage(h, id)!;
  const contents = [...m.history.map((v) => v.blocks), m.blocks];
  const times = [m.at, ...m.history.map((v) => v.replacedAt)];
  return contents.map((blocks, k) => ({ at: times[k]!, blocks }));
}

/**
 * The rendering without its success-rate block (and the block_ids Slack assigns on each update): equal for
 * two versions when only the reading changed.
 */
function withoutReading(blocks: unknown): string {
  const kept = (blocks as { text?: { text?: string }; block_id?: string }[]).filter((b) => !b.text?.text?.includes("*Success rate*"));
  return JSON.stringify(kept.map(({ block_id: _id, ...rest }) => rest));
}

it("snapshot-only updates are at least refreshSeconds apart; clicks render within 1 s", async () => {
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start budget --to web-v2" });
  const id = "budget#1";
  await waitForMessage(h, id, "Advance to 50%");
  const started = Date.now();
  const clicks: { at: number; label: string; shows: string }[] = [];
  // Irregular offsets, so clicks land at every phase of the 5 s readings.
  for (const [offset, label, shows] of [
    [1_700, "Hold", "Resume"],
    [6_400, "Resume", "Advance to 50%"],
    [7_300, "Hold", "Resume"],
    [13_900, "Resume", "Advance to 50%"],
    [19_200, "Hold", "Resume"],
  ] as const) {
    await sleep(Math.max(0, started + offset - Date.now()));
    const at = Date.now();
    await clickButton(h, id, ALICE, label);
    await waitForMessage(h, id, shows, 2_000);
    clicks.push({ at, label, shows });
  }
  await sleep(Math.max(0, started + 22_000 - Date.now()));

  const all = versions(id);
  const updates = all.slice(1).map((v, k) => ({ ...v, snapshotOnly: withoutReading(v.blocks) === withoutReading(all[k]!.blocks) }));
  const snapshotOnly = updates.filter((u) => u.snapshotOnly);
  expect(snapshotOnly.length).toBeGreaterThanOrEqual(2); // the readings were shown
  for (let k = 1; k < snapshotOnly.length; k++) expect(snapshotOnly[k]!.at - snapshotOnly[k - 1]!.at).toBeGreaterThanOrEqual(INTERVAL_MS);
  // Stricter, and what keeps the budget: a snapshot-only update waits one interval after any update.
  updates.forEach((u, k) => {
    if (u.snapshotOnly) expect(u.at - (k === 0 ? all[0]!.at : updates[k - 1]!.at)).toBeGreaterThanOrEqual(INTERVAL_MS);
  });
  for (const c of clicks) {
    const shown = updates.find((u) => u.at >= c.at && JSON.stringify(u.blocks).includes(c.shows));
    expect(shown, `${c.label} at +${c.at - started} ms`).toBeDefined();
    expect(shown!.at - c.at).toBeLessThan(1_000);
  }
}, 40_000);

import { describe, expect, it } from "vitest";
import { planRender, readingDue, type LastRender } from "../../src/engine/render-budget.ts";

/**
 * The scenario on a simulated clock, through the same decision the Slack sync job makes: 60 s of
 * readings every 5 s (phase-aligned, plus one right after each click, as a step triggers), clicks in between.
 * No two snapshot-only updates of the message are closer than 5 s, every click renders at once, and no
 * reading waits more than one interval to be shown.
 */

const INTERVAL = 5_000;

type Update = { at: number; kind: "state" | "snapshot"; shows: { state: number; reading: number } };

/**
 * `readingsSkipSync`: as the snapshot job does, a reading whose state is the one shown goes straight to the
 * update the budget would hold it back to (readingDue), instead of through a sync that would schedule it.
 */
function simulate(clicks: number[], phase: number, readingsSkipSync = false): Update[] {
  const events: { at: number; kind: "click" | "reading" }[] = [];
  for (let t = phase; t <= 60_000; t += INTERVAL) events.push({ at: t, kind: "reading" });
  for (const c of clicks) events.push({ at: c, kind: "click" }, { at: c + 300, kind: "reading" });
  events.sort((a, b) => a.at - b.at);

  let state = 0;
  let reading = 0;
  let last: LastRender = {};
  const shown = { state: -1, reading: -1 };
  const deferred = new Set<number>();
  const updates: Update[] = [];
  const sync = (now: number) => {
    const plan = planRender({ hash: `${state}/${reading}`, stateHash: `${state}` }, last, now, INTERVAL);
    if (plan.kind === "now") {
      updates.push({ at: now, kind: shown.state === state ? "snapshot" : "state", shows: { state, reading } });
      Object.assign(shown, { state, reading });
      last = { renderedHash: `${state}/${reading}`, stateHash: `${state}`, updatedAt: now };
    } else if (plan.kind === "later") deferred.add(plan.at);
  };
  // The first rendering is the parent message.
  sync(0);
  let i = 0;
  for (let now = 0; now <= 70_000; now += 1) {
    while (i < events.length && events[i]!.at === now) {
      const e = events[i++]!;
      if (e.kind === "click") state += 1;
      else reading += 1;
      const heldUntil = readingsSkipSync && e.kind === "reading" && shown.state === state ? readingDue(last, now, INTERVAL) : undefined;
      if (heldUntil !== undefined) deferred.add(heldUntil);
      else sync(now);
    }
    if (deferred.delete(now)) sync(now);
  }
  return updates;
}

describe("Slack update budget per message", () => {
  it.each([
    [[7_300, 19_100, 33_800, 41_200, 52_900], 2_600],
    [[1_000, 2_000, 3_000, 26_000, 26_500, 59_000], 4_999],
    [[], 0],
  ])("clicks at %o, readings at phase %d", (clicks, phase) => {
    const updates = simulate(clicks, phase);
    // Snapshot-only updates: at least one interval after the message's previous update.
    updates.forEach((u, k) => {
      if (k > 0 && u.kind === "snapshot") expect(u.at - updates[k - 1]!.at).toBeGreaterThanOrEqual(INTERVAL);
    });
    const snapshotOnly = updates.filter((u) => u.kind === "snapshot");
    for (let k = 1; k < snapshotOnly.length; k++) expect(snapshotOnly[k]!.at - snapshotOnly[k - 1]!.at).toBeGreaterThanOrEqual(INTERVAL);
    // Each click renders at once.
    clicks.forEach((c, n) => expect(updates.find((u) => u.shows.state >= n + 1)!.at).toBe(c));
    // Readings are coalesced, never lost: the last one is on the message within an interval.
    expect(updates.at(-1)!.shows.reading).toBe(Math.floor((60_000 - phase) / INTERVAL) + 1 + clicks.length);
    expect(snapshotOnly.length).toBeLessThanOrEqual(60_000 / INTERVAL + 1);
  });

  it.each([
    [[7_300, 19_100, 33_800, 41_200, 52_900], 2_600],
    [[1_000, 2_000, 3_000, 26_000, 26_500, 59_000], 4_999],
    [[], 0],
  ])("a reading sent straight to its held-back update changes no update (clicks at %o, phase %d)", (clicks, phase) => {
    expect(simulate(clicks, phase, true)).toEqual(simulate(clicks, phase));
  });

  it("a reading alone waits out the interval since the last update, unless nothing was shown yet or a person asked for it", () => {
    const last: LastRender = { renderedHash: "a", stateHash: "s", updatedAt: 1_000 };
    expect(readingDue(last, 2_000, INTERVAL)).toBe(6_000);
    expect(readingDue(last, 6_000, INTERVAL)).toBeUndefined();
    expect(readingDue(last, 2_000, INTERVAL, 1_500)).toBeUndefined();
    // Asked for before the last update: that update showed it already.
    expect(readingDue(last, 2_000, INTERVAL, 500)).toBe(6_000);
    expect(readingDue({}, 2_000, INTERVAL)).toBeUndefined();
  });

  it("a person's Refresh is shown at once", () => {
    expect(planRender({ hash: "b", stateHash: "s", askedAt: 1_500 }, { renderedHash: "a", stateHash: "s", updatedAt: 1_000 }, 2_000, INTERVAL)).toEqual({
      kind: "now",
    });
    expect(planRender({ hash: "b", stateHash: "s" }, { renderedHash: "a", stateHash: "s", updatedAt: 1_000 }, 2_000, INTERVAL)).toEqual({
      kind: "later",
      at: 6_000,
    });
    expect(planRender({ hash: "a", stateHash: "s" }, { renderedHash: "a", stateHash: "s", updatedAt: 1_000 }, 9_000, INTERVAL)).toEqual({ kind: "skip" });
  });
});

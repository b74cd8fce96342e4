import { afterAll, expect, it } from "vitest";
import { CHANNEL, startHarness, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { percentOn, SEED, seedSplit, splitWrites } from "./support.ts";

/**
 * Issue 6, R1: 500 simultaneous clicks on the same Advance button, from 50 people (10 each, as impatient
 * people double- and triple-click), make exactly one transition and one write to the mesh; every other
 * click gets a private refusal naming who was first.
 */

const USERS = Array.from({ length: 50 }, (_, i) => `UCLICK${String(i).padStart(2, "0")}`);
const CLICKS_PER_USER = 10;

let h: Harness | undefined;
afterAll(async () => {
  await h?.close();
});

it("500 concurrent Advance clicks from 50 users: one transition, one mesh write, 499 refusals naming the winner", async () => {
  h = await startHarness();
  seedSplit(h);
  await h.driver.slash({ userId: "UALICE", channelId: CHANNEL, text: SEED });
  const m = await waitForMessage(h, "backend-svc#1", "Advance to 80%");
  await waitForStatus(h, "backend-svc#1", "active");
  const button = h.slack.findButton(CHANNEL, m.ts, "Advance to 80%");
  const before = await h.bot.store.get("backend-svc#1");
  expect(before?.events.filter((e) => e.kind === "advanced")).toEqual([]);
  const writesBefore = splitWrites(h);

  const clicks = USERS.flatMap((userId) => Array.from({ length: CLICKS_PER_USER }, () => userId));
  const started = Date.now();
  const responses = await Promise.all(clicks.map((userId) => h!.driver.click({ userId, channelId: CHANNEL, messageTs: m.ts, button, stale: true })));
  expect(responses.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);

  // Every click is answered privately, except the winner's: collect the answers per click.
  const answers = await waitFor(
    () => {
      const all = responses.map((r) => h!.slack.responses(r.responseUrl).map((p) => p.text ?? ""));
      return all.filter((a) => a.length > 0).length >= clicks.length - 1 ? all : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200, what: "499 refusals" },
  );
  const ackedIn = Date.now() - started;
  const r = await waitForStatus(h, "backend-svc#1", "active");
  await sleep(300); // let any stray job run before counting writes

  // Exactly one transition: one "advanced" event.
  const advanced = r.events.filter((e) => e.kind === "advanced");
  expect(advanced).toHaveLength(1);
  const actor = advanced[0]!.actor;
  const winner = actor.kind === "user" ? actor.id : "";
  expect(USERS).toContain(winner);
  expect(r.desiredPercent).toBe(80);

  // Exactly one write to the mesh, and it holds 80%.
  expect(splitWrites(h) - writesBefore).toBe(1);
  expect(percentOn(h, "backend-v2")).toBe(80);

  // 499 refusals, each naming the winner; the one unanswered click is one of the winner's.
  const silent = answers.map((a, i) => (a.length === 0 ? i : -1)).filter((i) => i >= 0);
  expect(silent).toHaveLength(1);
  expect(clicks[silent[0]!]).toBe(winner);
  const refusals = answers.filter((a) => a.length > 0);
  expect(refusals).toHaveLength(499);
  for (const a of refusals) {
    expect(a).toHaveLength(1);
    expect(a[0]).toContain(`Already advanced to 80% by <@${winner}>`);
  }

  // One thread event for the advance.
  const thread = await waitFor(() => {
    const t = h!.slack.thread(CHANNEL, m.ts).map((x) => x.text ?? "");
    return t.some((x) => x.includes("advanced to 80%")) ? t : undefined;
  });
  expect(thread.filter((x) => x.includes("advanced to 80%"))).toHaveLength(1);

  console.log(
    `R1: ${clicks.length} clicks from ${USERS.length} users, ${advanced.length} transition, ${splitWrites(h) - writesBefore} mesh write, ` +
      `${refusals.length} refusals naming <@${winner}> (all answered within ${(ackedIn / 1000).toFixed(1)} s)`,
  );
});

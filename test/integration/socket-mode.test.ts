import { afterEach, expect, it } from "vitest";
import { seedSplit, SEED } from "../faults/support.ts";
import { CHANNEL, clickButton, ephemeralTexts, startHarness, waitForEphemeral, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { percentOn } from "../faults/support.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 13: Socket Mode (SLACK_APP_TOKEN). The same listeners and the same answers as over HTTP, with the
 * requests coming as envelopes on a WebSocket the bot opened; the bot reconnects when Slack asks it to
 * (refresh_requested, link_disabled) and when the socket drops, and keeps working.
 */

const ALICE = "UALICE";
const BOB = "UBOB";
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Wait until the bot has made its `n`th connection and holds exactly one open. */
async function reconnected(hh: Harness, n: number): Promise<void> {
  await waitFor(() => (hh.slack.socket!.connections >= n && hh.slack.socket!.connected === 1 ? true : undefined), {
    timeoutMs: 15_000,
    what: `connection #${n}`,
  });
}

it("start, Advance and refusals over Socket Mode; reconnects after refresh_requested, link_disabled and a dropped socket", async () => {
  h = await startHarness({ socketMode: true, smiFlavour: "nginx" });
  expect(h.bot.port).toBe(0); // no HTTP port for Slack: nothing public is needed
  await reconnected(h, 1);
  expect(h.slack.socket!.connections).toBe(1);
  await waitFor(async () => ((await fetch(`${h!.bot.healthUrl}/readyz`)).status === 200 ? true : undefined), { what: "ready once connected" });
  seedSplit(h);

  const started = await h.driver.slash({
    userId: ALICE,
    channelId: CHANNEL,
    text: "start backend-svc --from backend-v1 --to backend-v2 --steps 10,20,40,60,100 --namespace default",
  });
  expect(started.status).toBe(200);
  await waitForEphemeral(h, ALICE, "Starting rollout `backend-svc#1`");
  await waitForMessage(h, "backend-svc#1", "Advance to 20%");
  expect(percentOn(h, "backend-v2")).toBe(10);

  // The same refusals: a busy target, an unknown subcommand; nothing changes.
  await h.driver.slash({ userId: BOB, channelId: CHANNEL, text: SEED });
  await waitForEphemeral(h, BOB, "backend-svc#1");
  await h.driver.slash({ userId: BOB, channelId: CHANNEL, text: "frobnicate" });
  await waitFor(() => (ephemeralTexts(h!, BOB).length >= 2 ? true : undefined), { what: "the refusal of frobnicate" });
  expect(ephemeralTexts(h, BOB)[1]).toContain("frobnicate");

  await clickButton(h, "backend-svc#1", ALICE, "Advance to 20%");
  await waitForMessage(h, "backend-svc#1", "Advance to 40%");
  await waitForStatus(h, "backend-svc#1", "active");
  expect(percentOn(h, "backend-v2")).toBe(20);

  // Slack recycles the connection: the bot opens a new one (a fresh URL) and goes on.
  h.slack.socket!.disconnect("refresh_requested");
  await reconnected(h, 2);
  await clickButton(h, "backend-svc#1", ALICE, "Advance to 40%");
  await waitForMessage(h, "backend-svc#1", "Advance to 60%");

  h.slack.socket!.disconnect("link_disabled");
  await reconnected(h, 3);
  await clickButton(h, "backend-svc#1", ALICE, "Advance to 60%");
  await waitForMessage(h, "backend-svc#1", "Advance to 100%");

  // The socket dies without a word (the client's pings go unanswered / the TCP connection is gone).
  h.slack.socket!.drop();
  await reconnected(h, 4);
  await clickButton(h, "backend-svc#1", ALICE, "Advance to 100%");
  await waitForStatus(h, "backend-svc#1", "active");
  await waitFor(() => (percentOn(h!, "backend-v2") === 100 ? true : undefined), { what: "100% on the canary" });
  expect(h.slack.calls.filter((c) => c.method === "apps.connections.open")).toHaveLength(4);
  // Every envelope was acknowledged exactly once.
  const ids = h.slack.socket!.acks.map((a) => a.envelope_id);
  expect(new Set(ids).size).toBe(ids.length);
}, 60_000);

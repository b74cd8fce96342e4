import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signSlackRequest, type ClickButton, type DriverResponse, type SigningOptions } from "../../sandbox/peers/slack/index.ts";
import { CHANNEL, startHarness, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { percentOn, SEED, seedSplit, splitWrites } from "./support.ts";

/**
 * Issue 6, R6: every request the bot acts on is signed by Slack, recently. Missing, wrong, tampered, stale
 * and future-dated (more than 5 minutes either way) signatures are refused with 401 and nothing happens,
 * for slash commands and for button clicks alike; a captured body replayed with a fresh timestamp but its
 * old signature is refused too. The slash-command basics are also in walking-skeleton.test.ts ("request
 * signatures"); this suite runs the same SlackDriver signing options over both kinds of request, adds the
 * replay and the edges of the 5-minute window, and proves the same bytes are accepted when signed properly.
 */

const ALICE = "UALICE";
const MALLORY = "UMALLORY";
const ID = "backend-svc#1";
const nowSeconds = () => Math.floor(Date.now() / 1000);

let h: Harness;
let messageTs = "";
let advance: ClickButton;

beforeAll(async () => {
  h = await startHarness();
  seedSplit(h);
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
  messageTs = (await waitForMessage(h, ID, "Advance to 80%")).ts;
  await waitForStatus(h, ID, "active");
  advance = h.slack.findButton(CHANNEL, messageTs, "Advance to 80%");
});
afterAll(async () => {
  await h.close();
});

type Kind = "slash command" | "button click";
/** A request that would do something if it were accepted: start a second rollout, or advance this one. */
const send = (kind: Kind, opts: SigningOptions): Promise<DriverResponse> =>
  kind === "slash command"
    ? h.driver.slash({ userId: MALLORY, channelId: CHANNEL, text: "start other-svc --from other-v1 --to other-v2 --namespace default", ...opts })
    : h.driver.click({ userId: MALLORY, channelId: CHANNEL, messageTs, button: advance, stale: true, ...opts });

/** Cases built when sent: the clock is read at send time, not when the table is made. */
const CASES: [string, () => SigningOptions][] = [
  ["no signature", () => ({ omitSignature: true })],
  ["no timestamp", () => ({ omitTimestamp: true })],
  ["neither header", () => ({ omitSignature: true, omitTimestamp: true })],
  ["a wrong signature", () => ({ signatureOverride: `v0=${"0".repeat(64)}` })],
  ["a signature of another scheme", () => ({ signatureOverride: "v1=abc" })],
  ["an empty signature", () => ({ signatureOverride: "" })],
  ["a tampered body", () => ({ tamperBody: true })],
  ["a non-numeric timestamp", () => ({ timestampOverride: "1e9" as unknown as number })],
  ["a timestamp in milliseconds", () => ({ timestampOverride: Date.now() })],
  ["a stale timestamp (5 minutes and 1 second old)", () => ({ timestampOverride: nowSeconds() - 301 })],
  ["a stale timestamp (1 hour old)", () => ({ timestampOverride: nowSeconds() - 3600 })],
  // Ahead by a margin: the bot reads its clock a moment after the test does, which shortens the distance.
  ["a future timestamp (5 minutes and 10 seconds ahead)", () => ({ timestampOverride: nowSeconds() + 310 })],
  ["a future timestamp (1 day ahead)", () => ({ timestampOverride: nowSeconds() + 86_400 })],
  ["timestamp 0", () => ({ timestampOverride: 0 })],
];

let rejected = 0;

async function expectNothingHappened(res: DriverResponse): Promise<void> {
  expect(res.status).toBe(401);
  await sleep(50);
  expect(h.slack.responses(res.responseUrl)).toEqual([]);
  // Nothing was said to or about the sender, privately or in the channel.
  expect(h.slack.ephemeralsFor(MALLORY)).toEqual([]);
  expect(h.slack.messages(CHANNEL, { includeReplies: true }).filter((m) => JSON.stringify(m).includes(MALLORY))).toEqual([]);
}

describe.each<Kind>(["slash command", "button click"])("%s", (kind) => {
  it.each(CASES)("with %s -> 401, nothing happens", async (_name, opts) => {
    const writes = splitWrites(h);
    const res = await send(kind, opts());
    await expectNothingHappened(res);
    rejected++;
    expect(splitWrites(h)).toBe(writes);
    expect((await h.bot.store.active()).map((r) => `${r.id}@${r.desiredPercent}`)).toEqual([`${ID}@10`]);
  });

  it("a captured body replayed with a fresh timestamp and its old signature -> 401", async () => {
    // Capture: the exact bytes of a request (refused here because it went out unsigned).
    const captured = await send(kind, { omitSignature: true });
    await expectNothingHappened(captured);
    const then = nowSeconds() - 400; // when the attacker captured it
    const oldSignature = signSlackRequest(h.signingSecret, then, captured.rawBody);
    // Replayed as captured: stale.
    await expectNothingHappened(await h.driver.post(captured.rawBody, captured.responseUrl, { timestampOverride: then, signatureOverride: oldSignature }));
    // Re-dated to now, keeping the old signature: the signature covers the timestamp.
    await expectNothingHappened(
      await h.driver.post(captured.rawBody, captured.responseUrl, { timestampOverride: nowSeconds(), signatureOverride: oldSignature }),
    );
    // The signature of another request, same timestamp.
    const other = signSlackRequest(h.signingSecret, nowSeconds(), `${captured.rawBody}x`);
    await expectNothingHappened(await h.driver.post(captured.rawBody, captured.responseUrl, { timestampOverride: nowSeconds(), signatureOverride: other }));
    // Signed with another app's secret.
    const foreign = signSlackRequest("not-our-signing-secret", nowSeconds(), captured.rawBody);
    await expectNothingHappened(await h.driver.post(captured.rawBody, captured.responseUrl, { timestampOverride: nowSeconds(), signatureOverride: foreign }));
    rejected += 5;
    expect((await h.bot.store.active()).map((r) => `${r.id}@${r.desiredPercent}`)).toEqual([`${ID}@10`]);
  });
});

describe("the same requests, properly signed, are accepted (so the refusals above are about the signature)", () => {
  it("a slash command signed 4 m 50 s in the past and one 4 m 50 s ahead are answered", async () => {
    for (const skew of [-290, 290]) {
      const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "help", timestampOverride: nowSeconds() + skew });
      expect(res.status).toBe(200);
      await waitFor(() => h.slack.responses(res.responseUrl)[0]?.text?.includes("/rollout start"), { what: `help at skew ${skew}` });
    }
  });

  it("the captured click body, re-signed now, advances the rollout; replayed again within the window it is answered 200 with nothing done (issue 20)", async () => {
    const writes = splitWrites(h);
    const captured = await send("button click", { omitSignature: true });
    await expectNothingHappened(captured);
    const ts = nowSeconds() - 290;
    const signed = { timestampOverride: ts, signatureOverride: signSlackRequest(h.signingSecret, ts, captured.rawBody) };
    const ok = await h.driver.post(captured.rawBody, captured.responseUrl, signed);
    expect(ok.status).toBe(200);
    await waitForStatus(h, ID, "active");
    await waitFor(async () => (await h.bot.store.get(ID))?.appliedPercent === 80, { what: "80% applied" });
    expect(percentOn(h, "backend-v2")).toBe(80);
    // A replay of that accepted request (same bytes, same signature, still within 5 minutes).
    const answered = h.slack.responses(captured.responseUrl).length;
    const again = await h.driver.post(captured.rawBody, captured.responseUrl, signed);
    expect(again.status).toBe(200);
    expect(again.text).toBe("");
    await waitFor(async () => (await h.bot.audit.recent(5)).find((e) => e.action === "replay"), { what: "the replay's audit entry" });
    await sleep(200);
    // Not even a refusal: the replay never reached a listener.
    expect(h.slack.responses(captured.responseUrl)).toHaveLength(answered);
    expect(splitWrites(h) - writes).toBe(1);
    const r = await h.bot.store.get(ID);
    expect(r?.events.filter((e) => e.kind === "advanced")).toHaveLength(1);
    console.log(
      `R6: ${rejected} forged, tampered, stale, future-dated or replayed requests (slash commands and clicks) -> 401, nothing changed; the same bytes properly signed -> accepted once`,
    );
  });
});

import { describe, expect, it } from "vitest";
import { hold, markDrift, markStarted, newRollout, withNote, type Rollout } from "../../src/engine/rollout.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { threadReply } from "../../src/slack/views/thread-reply.ts";

/** Which thread replies also reach the channel: what the bot decided by itself, mentioning the starter. */

const target = TargetSchema.parse({ name: "cart", namespace: "shop", smi: { trafficSplit: "cart" } });
const T0 = 1_700_000_000_000;

function live(): Rollout {
  const r = newRollout({
    id: "cart#2",
    target,
    stable: "cart-v1",
    canary: "cart-v2",
    steps: [10, 50, 100],
    startedBy: "UALICE",
    channel: "C1",
    testStage: false,
    now: T0,
  });
  return markStarted(r, { percent: 10, raw: "cart-v1 90 / cart-v2 10", initialRaw: "cart-v1 100" }, T0 + 1_000);
}
const last = (r: Rollout) => threadReply(r, r.events.at(-1)!);

describe("thread replies broadcast to the channel", () => {
  it("an alert (automatic abort) is broadcast and mentions the starter", () => {
    const r = withNote(
      live(),
      "alert",
      { code: "auto-aborted", id: "cart#2", startedBy: "UALICE", why: "canary 80.0% vs stable 99.9%", stable: "cart-v1" },
      T0 + 2_000,
    );
    const reply = last(r);
    expect(reply.broadcast).toBe(true);
    expect(reply.text).toContain("<@UALICE> rollout cart#2 was *aborted automatically*: canary 80.0% vs stable 99.9%");
  });

  it("a canary that is no longer ready: broadcast with the object, the numbers and the traffic on it", () => {
    const r = withNote(
      live(),
      "alert",
      {
        code: "canary-not-ready",
        id: "cart#2",
        startedBy: "UALICE",
        canary: "cart-v2",
        percent: 10,
        problems: [{ code: "replicas-unavailable", name: "cart-v2", namespace: "shop", available: 1, desired: 3 }],
      },
      T0 + 2_000,
    );
    expect(last(r)).toMatchObject({ broadcast: true });
    expect(last(r).text).toContain(
      "<@UALICE> rollout cart#2 is *held*: the canary is not ready (`cart-v2`: 1 of 3 replicas available), with 10% of traffic on cart-v2",
    );
  });

  it("a hold on drift carries no alert of its own: the hold itself is broadcast, with a mention", () => {
    const r = markDrift(
      live(),
      { percent: 30, raw: "cart-v1 70 / cart-v2 30" },
      "Drift: the mesh sends 30% to cart-v2, the rollout had verified 10%",
      T0 + 2_000,
    );
    const reply = last(r);
    expect(reply.broadcast).toBe(true);
    expect(reply.text.startsWith("<@UALICE> ")).toBe(true);
    expect(reply.text).toContain("the mesh sends 30% to cart-v2, the rollout had verified 10%");
  });

  it("a person's hold, a start and notices stay in the thread", () => {
    const held = hold(live(), { kind: "user", id: "UBOB" }, T0 + 2_000);
    expect(held.ok && last(held.value).broadcast).toBe(false);
    expect(last(live()).broadcast).toBe(false);
    const noticed = withNote(live(), "notice", { code: "auto-step-coming", next: 50, at: T0 + 60_000, inMs: 60_000 }, T0 + 2_000);
    expect(last(noticed).broadcast).toBe(false);
  });

  it("the bot's automatic hold is broadcast once: by its alert, not by the hold event", () => {
    const held = hold(live(), { kind: "bot", why: "auto: waited 30m for a verdict" }, T0 + 2_000);
    expect(held.ok && last(held.value).broadcast).toBe(false);
  });
});

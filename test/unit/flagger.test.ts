import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadFlaggerTokens, parseTargetsFile } from "../../src/config.ts";
import { canaryWeightOf, flaggerCall, flaggerDecide, flaggerReachesFull, newFlaggerRollout, observeCanary } from "../../src/engine/flagger.ts";
import type { CanaryReading } from "../../src/engine/flagger-types.ts";
import type { Rollout } from "../../src/engine/rollout.ts";
import { analysisOf, canaryReadingOf, CanaryObject, goDurationMs } from "../../src/controllers/flagger.ts";
import { canaryObject } from "../../sandbox/peers/flagger.ts";
import { weightSteps } from "../../src/slack/views/chart.ts";
import { TargetSchema } from "../../src/engine/target.ts";

/** Flagger gating, pure: how calls are folded and answered, and the target's settings. */

const target = TargetSchema.parse({ name: "shop", namespace: "prod", router: "flagger", flagger: { channel: "C0DEPLOYS", tokenEnv: "T" } });
const base = () => newFlaggerRollout({ id: "shop#1", target, channel: "C0DEPLOYS", checksum: "abc", phase: "Succeeded", now: 1 });
const gate = (hook: "confirm-rollout" | "confirm-traffic-increase" | "confirm-promotion" | "rollback", phase: string) => ({
  hook,
  name: "shop",
  namespace: "prod",
  phase,
  checksum: "abc",
});
const alice = { kind: "user", id: "UALICE" } as const;

describe("Flagger gate calls and decisions", () => {
  it("the first call's phase is the previous revision's: Succeeded there does not complete the new one", () => {
    const { rollout, answer } = flaggerCall(base(), gate("confirm-rollout", "Succeeded"), 2);
    expect(answer).toEqual({ open: false, why: "waiting" });
    expect(rollout.status).toBe("active");
    expect(rollout.flagger!.waiting).toBe("confirm-rollout");
  });

  it("a repeated call returns the same record (nothing to write) and the same answer", () => {
    const first = flaggerCall(base(), gate("confirm-rollout", "Waiting"), 2).rollout;
    const again = flaggerCall(first, gate("confirm-rollout", "Waiting"), 3);
    expect(again.rollout).toBe(first);
    expect(again.answer.open).toBe(false);
  });

  it("Approve is for the gate the button was shown for; a click on a gate Flagger has left is refused", () => {
    const waiting = flaggerCall(base(), gate("confirm-rollout", "Waiting"), 2).rollout;
    const moved = flaggerDecide("advance", waiting, alice, 2, 3);
    expect(moved).toMatchObject({ ok: false, error: { code: "flagger-gate-moved", seen: "confirm-promotion", now: "confirm-rollout" } });
    const approved = flaggerDecide("advance", waiting, alice, 0, 3);
    expect(approved.ok && flaggerCall(approved.value, gate("confirm-rollout", "Waiting"), 4).answer).toEqual({ open: true, why: "approved" });
  });

  it("Roll back: the rollback gate answers yes and the record ends, broadcast", () => {
    const waiting = flaggerCall(base(), gate("confirm-rollout", "Waiting"), 2).rollout;
    const asked = flaggerDecide("abort", waiting, alice, undefined, 3);
    if (!asked.ok) throw new Error("refused");
    expect(flaggerCall(asked.value, gate("confirm-rollout", "Waiting"), 4).answer).toEqual({ open: false, why: "rollback-requested" });
    const { rollout, answer } = flaggerCall(asked.value, gate("rollback", "Waiting"), 4);
    expect(answer).toEqual({ open: true, why: "rolling-back" });
    expect(rollout.status).toBe("aborted");
    expect(rollout.events.at(-1)).toMatchObject({ kind: "alert", note: { code: "flagger-failed", mention: { user: "UALICE" } } });
  });
});

const ok = (res: ReturnType<typeof flaggerDecide>): Rollout => {
  if (!res.ok) throw new Error(res.error.code);
  return res.value;
};

const reading = (over: Partial<CanaryReading> = {}, analysis: Partial<CanaryReading["analysis"]> = {}): CanaryReading => ({
  phase: "Progressing",
  canaryWeight: 0,
  failedChecks: 0,
  iterations: 0,
  analysis: { interval: "1m", intervalMs: 60_000, threshold: 2, stepWeight: 25, stepWeights: [], maxWeight: 50, iterations: 0, ...analysis },
  hooks: ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion", "rollback", "event"],
  at: 5,
  ...over,
});

/** A revision past confirm-rollout, Flagger waiting at its first traffic increase. */
function atIncrease(): Rollout {
  const waiting = flaggerCall(base(), gate("confirm-rollout", "Waiting"), 2).rollout;
  const opened = ok(flaggerDecide("advance", waiting, alice, 0, 3));
  const passed = flaggerCall(opened, gate("confirm-rollout", "Waiting"), 4).rollout;
  return flaggerCall(passed, gate("confirm-traffic-increase", "Progressing"), 5).rollout;
}

describe("per-step approval of traffic increases", () => {
  it("one Approve answers one confirm-traffic-increase call; the next asks again", () => {
    const r = atIncrease();
    expect(r.flagger!.waiting).toBe("confirm-traffic-increase");
    const approved = ok(flaggerDecide("advance", r, alice, 1, 6));
    expect(flaggerDecide("advance", approved, alice, 1, 6)).toMatchObject({ ok: false, error: { code: "flagger-already-open", steps: "one" } });
    const first = flaggerCall(approved, gate("confirm-traffic-increase", "Progressing"), 7);
    expect(first.answer).toEqual({ open: true, why: "approved" });
    expect(first.rollout.flagger!.opened.at(-1)).toMatchObject({ steps: "one", used: 7 });
    const second = flaggerCall(first.rollout, gate("confirm-traffic-increase", "Progressing"), 8);
    expect(second.answer).toEqual({ open: false, why: "waiting" });
    expect(second.rollout.flagger!.waiting).toBe("confirm-traffic-increase");
    // The gate is waiting again: a new Approve is taken.
    expect(flaggerDecide("advance", second.rollout, alice, 1, 9).ok).toBe(true);
  });

  it("Approve all remaining steps answers every later increase; it is refused at another gate", () => {
    const r = atIncrease();
    const all = ok(flaggerDecide("approve-all", r, alice, 1, 6));
    let cur = all;
    for (let t = 7; t < 12; t++) {
      const out = flaggerCall(cur, gate("confirm-traffic-increase", "Progressing"), t);
      expect(out.answer.open).toBe(true);
      cur = out.rollout;
    }
    expect(flaggerDecide("approve-all", cur, alice, 1, 13)).toMatchObject({ ok: false, error: { code: "flagger-not-waiting" } });
    const atPromotion = flaggerCall(cur, gate("confirm-promotion", "Progressing"), 14).rollout;
    expect(flaggerDecide("approve-all", atPromotion, alice, 2, 15)).toMatchObject({
      ok: false,
      error: { code: "flagger-gate-moved", seen: "confirm-traffic-increase", now: "confirm-promotion" },
    });
  });

  it("a record from before per-step approvals (no `steps`) keeps its approval for every step", () => {
    const r = atIncrease();
    const old: Rollout = { ...r, flagger: { ...r.flagger!, opened: [...r.flagger!.opened, { gate: "confirm-traffic-increase", by: "UALICE", at: 6 }] } };
    const once = flaggerCall(old, gate("confirm-traffic-increase", "Progressing"), 7);
    expect(flaggerCall(once.rollout, gate("confirm-traffic-increase", "Progressing"), 8).answer.open).toBe(true);
  });

  it("the final step under the policy: promotion, or where the Canary has no promotion gate of the bot's, the approval after which none is left", () => {
    const r = atIncrease();
    expect(flaggerReachesFull("advance", r)).toBe(false); // not read yet: only promotion counts
    const gated = observeCanary(r, reading(), 6);
    expect(flaggerReachesFull("advance", gated)).toBe(false);
    expect(flaggerReachesFull("approve-all", gated)).toBe(false);
    const noPromotion = observeCanary(r, reading({ hooks: ["confirm-rollout", "confirm-traffic-increase"] }), 6);
    expect(flaggerReachesFull("advance", noPromotion)).toBe(false); // 0 -> 25 of 50
    expect(flaggerReachesFull("approve-all", noPromotion)).toBe(true);
    const lastStep = observeCanary(r, reading({ hooks: ["confirm-traffic-increase"], canaryWeight: 25 }), 6);
    expect(flaggerReachesFull("advance", lastStep)).toBe(true); // 25 -> 50 = maxWeight, then promotion unasked
    expect(flaggerReachesFull("hold", lastStep)).toBe(false);
  });
});

describe("readings of the Canary", () => {
  it("the weight is the status's; in WaitingPromotion (status 0) it is maxWeight, held", () => {
    expect(canaryWeightOf(reading({ canaryWeight: 25 }))).toEqual({ weight: 25, held: false });
    expect(canaryWeightOf(reading({ phase: "WaitingPromotion", canaryWeight: 0 }))).toEqual({ weight: 50, held: true });
    expect(canaryWeightOf(reading({ phase: "Finalising", canaryWeight: 0 }))).toEqual({ weight: 0, held: false });
    // Blue/Green: no canary weight ladder to hold.
    expect(canaryWeightOf(reading({ phase: "WaitingPromotion" }, { iterations: 5 }))).toEqual({ weight: 0, held: false });
  });

  it("a reading sets the weight and phase; the same reading again changes nothing; Failed ends and broadcasts", () => {
    const r = atIncrease();
    const read = observeCanary(r, reading({ canaryWeight: 25 }), 6);
    expect(read).toMatchObject({ appliedPercent: 25, desiredPercent: 25, flagger: { phase: "Progressing", canary: { canaryWeight: 25 } } });
    expect(observeCanary(read, reading({ canaryWeight: 25, at: 9 }), 9)).toBe(read);
    const failed = observeCanary(read, reading({ phase: "Failed" }), 10);
    expect(failed.status).toBe("aborted");
    expect(failed.events.at(-1)).toMatchObject({ kind: "alert", note: { code: "flagger-failed" } });
    expect(observeCanary(failed, reading({ phase: "Progressing" }), 11)).toBe(failed);
  });

  it("each weight the Canary's status moves to is one event with from/to: the chart's steps", () => {
    let r = observeCanary(atIncrease(), reading({ canaryWeight: 25 }), 6);
    r = observeCanary(r, reading({ canaryWeight: 50 }), 7);
    r = observeCanary(r, reading({ phase: "WaitingPromotion", canaryWeight: 0 }), 8);
    expect(r.events.filter((e) => e.flagger?.code === "weight").map((e) => [e.from, e.to])).toEqual([
      [0, 25],
      [25, 50],
    ]);
    expect(weightSteps(r, 9)).toEqual([
      [1, 0],
      [1, 0],
      [6, 25],
      [7, 50],
      [9, 50],
    ]);
  });

  it("once read, a call's stale phase does not move the record back; an end still counts", () => {
    const read = observeCanary(atIncrease(), reading({ canaryWeight: 25 }), 6);
    expect(flaggerCall(read, gate("confirm-traffic-increase", "Waiting"), 7).rollout.flagger!.phase).toBe("Progressing");
  });

  it("parses a Canary as the CRD has it, with Flagger's defaults for the analysis", () => {
    const c = canaryObject("shop", {
      webhooks: [
        { name: "a", type: "confirm-rollout", url: "http://rollout-bot.rollout-bot:8081/flagger/shop/confirm-rollout", metadata: { token: "t" } },
        { name: "b", type: "confirm-promotion", url: "http://loadtester/gate/check" },
        { name: "c", type: "rollback", url: "http://rollout-bot:8081/flagger/other/rollback" },
      ],
    });
    c.status = {
      phase: "Progressing",
      canaryWeight: 25,
      failedChecks: 1,
      iterations: 0,
      conditions: [{ type: "Promoted", status: "Unknown", message: "New revision detected" }],
    };
    const { reading: got, webhooks } = canaryReadingOf(CanaryObject.parse(c), "shop", 42);
    expect(got).toEqual({
      phase: "Progressing",
      canaryWeight: 25,
      failedChecks: 1,
      iterations: 0,
      promoted: { status: "Unknown", message: "New revision detected" },
      analysis: { interval: "10s", intervalMs: 10_000, threshold: 2, stepWeight: 25, stepWeights: [], maxWeight: 50, iterations: 0 },
      hooks: ["confirm-rollout"],
      at: 42,
    });
    expect(webhooks.map((w) => [w.type, w.toBot, w.token])).toEqual([
      ["confirm-rollout", true, "t"],
      ["confirm-promotion", false, undefined],
      ["rollback", false, undefined],
    ]);
    expect(analysisOf({ analysis: { interval: "5s", threshold: 0, stepWeights: [5, 20, 80], stepWeight: 0 } })).toMatchObject({
      intervalMs: 10_000,
      threshold: 1,
      maxWeight: 80,
    });
    expect(analysisOf({ analysis: { interval: "soon" } })).toMatchObject({ intervalMs: 60_000, maxWeight: 100 });
    expect([goDurationMs("1m30s"), goDurationMs("500ms"), goDurationMs("1d")]).toEqual([90_000, 500, undefined]);
  });
});

describe("Flagger target settings and tokens", () => {
  it("needs a flagger block and exactly one token source", () => {
    const file = (flagger: string) => parseTargetsFile(`targets:\n  - name: shop\n    router: flagger\n${flagger}`);
    expect(file("")).toMatchObject({ ok: false });
    expect(JSON.stringify(file("    flagger: { channel: C0DEPLOYS }"))).toContain("exactly one of `tokenFile` or `tokenEnv`");
    expect(file("    flagger: { channel: C0DEPLOYS, tokenEnv: FLAGGER_SHOP }")).toMatchObject({ ok: true });
  });

  it("reads the token from its file or variable, and refuses a missing or short one naming the target", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flagger-token-"));
    writeFileSync(join(dir, "t"), "0123456789abcdef0123\n");
    const parsed = parseTargetsFile(
      `targets:\n  - name: a\n    router: flagger\n    flagger: { channel: C0DEPLOYS, tokenFile: ${join(dir, "t")} }\n  - name: b\n    router: flagger\n    flagger: { channel: C0DEPLOYS, tokenEnv: B_TOKEN }\n`,
    );
    if (!parsed.ok) throw new Error(parsed.error.join());
    const good = await loadFlaggerTokens(parsed.value, { B_TOKEN: "fedcba9876543210fedcba" });
    expect(good.ok && [...good.value.entries()]).toEqual([
      ["a", "0123456789abcdef0123"],
      ["b", "fedcba9876543210fedcba"],
    ]);
    const bad = await loadFlaggerTokens(parsed.value, { B_TOKEN: "short" });
    expect(bad).toEqual({ ok: false, error: [expect.stringContaining("target 'b'")] });
  });
});

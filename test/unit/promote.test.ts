import { describe, expect, it } from "vitest";
import { authorize, effectivePolicy, RIGHT } from "../../src/engine/policy.ts";
import { abort, advance, markDrift, markStarted, newRollout, promote, type Rollout } from "../../src/engine/rollout.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { verdict } from "../../src/engine/verdict.ts";
import { canPromote, promoteConfirmView, readMoreOption } from "../../src/slack/views/promote.ts";
import { validateBlocks } from "../../sandbox/peers/slack/block-kit-limits.ts";

/** Issue 15: emergency promote as data (engine), its policy, and its confirm dialog (view). */

const target = TargetSchema.parse({
  name: "backend-svc",
  smi: { trafficSplit: "backend-ts" },
  metrics: { source: "prometheus", prometheusUrl: "http://prom:9090", preset: "linkerd2" },
});
const BOB = { kind: "user" as const, id: "UBOB" };

function live(): Rollout {
  const r = newRollout({
    id: "backend-svc#2",
    target,
    stable: "v1",
    canary: "v2",
    steps: [10, 50, 100],
    startedBy: "UALICE",
    channel: "C1",
    testStage: false,
    now: 1_000,
  });
  return markStarted(r, { percent: 10, raw: "v1 90 / v2 10", initialRaw: "v1 100" }, 2_000);
}

describe("promote (engine)", () => {
  it("goes straight to finishing at 100%, skipping the remaining steps, with an event from the verified weight", () => {
    const res = promote(live(), BOB, 3_000);
    if (!res.ok) throw new Error(res.error.code);
    expect(res.value).toMatchObject({
      status: "finishing",
      desiredPercent: 100,
      appliedPercent: 10,
      stepIndex: 2,
      last: { kind: "finish-requested", actor: BOB },
    });
    expect(res.value.events.at(-1)).toMatchObject({ kind: "finish-requested", actor: BOB, from: 10, to: 100 });
  });

  it("is refused mid-write, with unresolved drift, while starting, aborting or ended", () => {
    const moving = advance(live(), BOB, 0, 3_000);
    if (!moving.ok) throw new Error("advance");
    expect(promote(moving.value, BOB, 4_000)).toMatchObject({ ok: false, error: { code: "in-flight" } });
    expect(promote(markDrift(live(), { percent: 30, raw: "v1 70 / v2 30" }, "drift", 3_000), BOB, 4_000)).toMatchObject({ ok: false, error: { code: "held" } });
    const starting = newRollout({
      id: "backend-svc#3",
      target,
      stable: "v1",
      canary: "v2",
      steps: [10, 100],
      startedBy: "UALICE",
      channel: "C1",
      testStage: false,
      now: 1,
    });
    expect(promote(starting, BOB, 2)).toMatchObject({ ok: false, error: { code: "starting" } });
    const aborting = abort(live(), BOB, 3_000);
    if (!aborting.ok) throw new Error("abort");
    expect(promote(aborting.value, BOB, 4_000)).toMatchObject({ ok: false, error: { code: "being-aborted" } });
  });

  it("needs the right to finish and honours the second approver", () => {
    expect(RIGHT.promote).toBe("finish");
    const policy = effectivePolicy({ finish: ["UREL"], requireSecondApprover: true });
    const ask = (userId: string) =>
      authorize(policy, { action: RIGHT.promote, userId, channelId: "C1", target: "backend-svc", reachesFull: true, startedBy: "UREL" }, () => false);
    expect(ask("UMALLORY")).toMatchObject({ ok: false, error: { why: "rule", key: "finish" } });
    expect(ask("UREL")).toMatchObject({ ok: false, error: { why: "second-approver" } });
    const other = effectivePolicy({ finish: ["UREL"], requireSecondApprover: true });
    expect(
      authorize(other, { action: "finish", userId: "UREL", channelId: "C1", target: "backend-svc", reachesFull: true, startedBy: "UALICE" }, () => false).ok,
    ).toBe(true);
  });
});

describe("promote (views)", () => {
  it("the confirm dialog states the risk and the current verdict, within Block Kit's limits", () => {
    const snap = { stable: { requests: 10_000, successes: 9_990 }, canary: { requests: 1_000, successes: 900 } };
    const r = { ...live(), snapshot: { at: 2_500, windowSeconds: 60, canaryPercent: 10, ...snap, verdict: verdict(snap, target.metrics!) } };
    const view = promoteConfirmView(r, { step: 0, channelId: "C1" });
    const words = JSON.stringify(view.blocks);
    expect(words).toContain("All traffic for `backend-svc` goes to `v2` now");
    expect(words).toContain("The steps 50% are skipped");
    expect(words).toContain("Current verdict: canary 90.0");
    expect(validateBlocks(view.blocks as Record<string, unknown>[])).toEqual([]);
  });

  it("the menu is offered only while a skip makes sense, and its options are read back", () => {
    expect(canPromote(live())).toBe(true);
    expect(canPromote({ ...live(), appliedPercent: 100, desiredPercent: 100 })).toBe(false);
    expect(readMoreOption("promote:backend-svc#2|0")).toEqual({ what: "promote", value: "backend-svc#2|0" });
    expect(readMoreOption("chart:backend-svc#2|0")).toEqual({ what: "chart", value: "backend-svc#2|0" });
    expect(readMoreOption("explode:x")).toBeUndefined();
  });
});

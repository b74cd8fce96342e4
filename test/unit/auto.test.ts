import { describe, expect, it } from "vitest";
import { decideAutoStep, shouldAbortBetweenSteps } from "../../src/engine/auto.ts";
import { formatDuration, parseDuration as parseDurationData } from "../../src/engine/duration.ts";
import { saidDuration } from "../support/said.ts";

const parseDuration = (...a: Parameters<typeof parseDurationData>) => saidDuration(parseDurationData(...a));
import { hold, markStarted, newRollout, resume, withSnapshot, type Rollout, type StoredSnapshot } from "../../src/engine/rollout.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { planStage, setMode, waitForEvidence } from "../../src/engine/timers.ts";
import { verdict } from "../../src/engine/verdict.ts";
import { describeVerdict } from "../../src/slack/views/verdict-text.ts";

const target = TargetSchema.parse({ name: "web", metrics: { prometheusUrl: "http://p:9090", preset: "linkerd2", minRequests: 50 } });
const s = target.metrics!;
const clock = { remindMs: 30 * 60_000 };
const policy = { maxWaitMs: 10 * 60_000, retryMs: 30_000, describe: describeVerdict };

function auto(now = 0): Rollout {
  const r = newRollout({
    id: "web#1",
    target,
    stable: "web-v1",
    canary: "web-v2",
    steps: [5, 25, 100],
    startedBy: "U1",
    channel: "C",
    testStage: false,
    now,
    auto: { intervalMs: 600_000, maxWaitMs: policy.maxWaitMs, noticeMs: 60_000 },
  });
  return planStage(markStarted(r, { percent: 5, raw: "", initialRaw: "" }, now), now, clock);
}

function snap(stable: [number, number], canary: [number, number], at = 1): StoredSnapshot {
  const input = { stable: { requests: stable[0], successes: stable[1] }, canary: { requests: canary[0], successes: canary[1] } };
  return { at, windowSeconds: 60, canaryPercent: 5, ...input, verdict: verdict(input, s) };
}

describe("the automatic step decision", () => {
  it("advances a healthy canary, finishes at the last step", () => {
    // 0 errors in 20,000 canary requests vs 50 in 100,000: the canary fails at most 0.2 points more (99%).
    expect(decideAutoStep(auto(), snap([100_000, 99_950], [20_000, 20_000]), 1, policy)).toMatchObject({ kind: "advance", to: 25 });
    const last = { ...auto(), stepIndex: 2, desiredPercent: 100, appliedPercent: 100 };
    expect(decideAutoStep(last, snap([100_000, 99_950], [20_000, 20_000]), 1, policy)).toMatchObject({ kind: "finish" });
  });

  it("aborts a canary worse than stable, with the numbers in the reason", () => {
    const d = decideAutoStep(auto(), snap([10_000, 9_990], [1_000, 800]), 1, policy);
    expect(d.kind).toBe("abort");
    expect(d.why).toMatch(/canary 80(\.0)?% vs stable 99\.9%/);
  });

  it("waits for traffic, then hands the decision to a person after maxWait", () => {
    const r = auto();
    const first = decideAutoStep(r, snap([10_000, 10_000], [10, 10]), 1_000, policy);
    expect(first).toMatchObject({ kind: "wait", retryInMs: 30_000 });
    const waiting = waitForEvidence(r, 1_000, 30_000);
    expect(waiting.auto?.waitingSince).toBe(1_000);
    expect(waiting.timers?.stepAt).toBe(31_000);
    expect(decideAutoStep(waiting, snap([10_000, 10_000], [10, 10]), 1_000 + policy.maxWaitMs, policy)).toMatchObject({ kind: "hold" });
    expect(decideAutoStep(waiting, undefined, 5_000, policy)).toMatchObject({ kind: "wait", why: "no success-rate reading yet" });
  });

  it("between steps, one fresh unhealthy reading aborts (the test is anytime-valid)", () => {
    const bad1 = snap([10_000, 9_990], [1_000, 800], 1);
    const bad2 = snap([10_000, 9_990], [1_000, 800], 2);
    const good = snap([10_000, 9_990], [1_000, 1_000], 1);
    expect(shouldAbortBetweenSteps(undefined, bad1)).toBe(true);
    expect(shouldAbortBetweenSteps(good, bad2)).toBe(true);
    expect(shouldAbortBetweenSteps(bad1, bad1)).toBe(false); // the same reading twice is one reading
    expect(shouldAbortBetweenSteps(bad2, good)).toBe(false);
  });
});

describe("stage timers", () => {
  it("an automatic stage gets its step and a notice a minute before; a held one gets none; resume restarts the clock", () => {
    const r = auto(1_000);
    expect(r.timers).toMatchObject({ seq: 1, stepIndex: 0, stepAt: 601_000, noticeAt: 541_000 });
    const held = hold(r, { kind: "user", id: "U2" }, 2_000);
    if (!held.ok) throw new Error(held.error.code);
    const cleared = planStage(held.value, 2_000, clock);
    expect(cleared.timers).toEqual({ seq: 2, stepIndex: 0 });
    const resumed = resume(cleared, { kind: "user", id: "U2" }, 10_000);
    if (!resumed.ok) throw new Error(resumed.error.code);
    expect(planStage(resumed.value, 10_000, clock).timers).toMatchObject({ seq: 3, stepAt: 610_000 });
  });

  it("a manual stage gets a reminder; switching to automatic replaces it with a step", () => {
    const manual = { ...auto(0), auto: undefined, timers: undefined };
    const planned = planStage(manual, 0, clock);
    expect(planned.timers).toEqual({ seq: 1, stepIndex: 0, remindAt: 30 * 60_000 });
    const switched = setMode(planned, { intervalMs: 300_000, maxWaitMs: 600_000, noticeMs: 60_000 }, { kind: "user", id: "U3" }, 5_000, clock);
    if (!switched.ok) throw new Error(switched.error.code);
    expect(switched.value.timers).toMatchObject({ seq: 3, stepAt: 305_000, noticeAt: 245_000 });
    expect(switched.value.timers?.remindAt).toBeUndefined();
  });

  it("a reading does not move the timers", () => {
    const r = auto(0);
    expect(planStage(withSnapshot(r, snap([1, 1], [1, 1])), 99_000, clock).timers).toEqual(r.timers);
  });
});

describe("durations", () => {
  it.each([
    ["90s", 90_000],
    ["10m", 600_000],
    ["1h30m", 5_400_000],
    ["2d", 172_800_000],
  ])("%s", (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, ms });
    expect(parseDuration(formatDuration(ms))).toEqual({ ok: true, ms });
  });

  it.each(["", "10", "ten minutes", "-5m", "5 m", "1.5h"])("refuses %j", (text) => {
    const r = parseDuration(text);
    expect(r.ok).toBe(false);
  });

  it("says what the bounds are", () => {
    expect(parseDuration("2s", { minMs: 5_000 })).toEqual({ ok: false, error: "`2s` is too short (at least 5s)" });
  });
});

import { describe, expect, it } from "vitest";
import { abort, advance, markAborted, markApplied, markStarted, newRollout, withSnapshot, type Rollout } from "../../src/engine/rollout.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { judge, verdict } from "../../src/engine/verdict.ts";
import { foldCounts } from "../../src/engine/evidence.ts";
import { renderEvent } from "../../src/slack/views/event-text.ts";
import { renderRolloutMessage } from "../../src/slack/views/rollout-message.ts";
import { messageChars, validateBlocks } from "../../sandbox/peers/slack/block-kit-limits.ts";

const target = TargetSchema.parse({
  name: "backend-svc",
  smi: { trafficSplit: "backend-ts" },
  metrics: { source: "prometheus", prometheusUrl: "http://prom:9090", preset: "linkerd2" },
});
const settings = target.metrics!;

function live(): Rollout {
  const r = newRollout({
    id: "backend-svc#7",
    target,
    stable: "backend-v1",
    canary: "backend-v2",
    steps: [10, 80, 100],
    startedBy: "UALICE",
    channel: "C1",
    testStage: false,
    now: 1_700_000_000_000,
  });
  return markStarted(r, { percent: 10, raw: "backend-v1 90 / backend-v2 10", initialRaw: "backend-v1 100 / backend-v2 0" }, 1_700_000_001_000);
}

const text = (r: Rollout) => JSON.stringify(renderRolloutMessage(r).blocks);

describe("rollout message", () => {
  it("shows stable vs canary and an honest verdict", () => {
    const snap = { stable: { requests: 12_040, successes: 12_028, p99Ms: 45 }, canary: { requests: 1_330, successes: 1_278, p99Ms: 52 } };
    const r = withSnapshot(live(), { at: 1_700_000_030_000, windowSeconds: 60, canaryPercent: 10, ...snap, verdict: verdict(snap, settings) });
    const t = text(r);
    expect(t).toContain("Stable `backend-v1` (90%): *99.9%* of 12,040 requests · p99 45 ms");
    expect(t).toContain("Canary `backend-v2` (10%): *96.0%* of 1,330 requests · p99 52 ms");
    expect(t).toContain(":red_circle: *Worse than stable*: canary 96.0");
    expect(t).toContain("as of <!date^1700000030^{time_secs}|22:13:50 UTC>");
  });

  it("shows the counts since the rollout began, which the verdict judges", () => {
    let e = foldCounts(undefined, 1_700_000_000_000, 1_700_000_060_000, { requests: 9_000, successes: 8_991 }, { requests: 1_000, successes: 999 });
    e = foldCounts(e, 1_700_000_060_000, 1_700_000_180_000, { requests: 18_000, successes: 17_982 }, { requests: 2_000, successes: 1_900 });
    const r = withSnapshot(live(), { at: 1_700_000_180_000, windowSeconds: 120, canaryPercent: 10, evidence: e, verdict: judge(e, settings) });
    const t = text(r);
    expect(t).toContain("*Success rate* · since the rollout began (3 min) · as of <!date^1700000180^");
    expect(t).toContain("Stable `backend-v1` (90%): *99.9%* of 27,000 requests");
    expect(t).toContain("Canary `backend-v2` (10%): *96.6%* of 3,000 requests");
    // (101 / 3,000) / (27 / 27,000) = 33.7
    expect(t).toContain(
      ":red_circle: *Worse than stable*: canary 96.6% vs stable 99.9%, worse: canary errors 34× stable's (99% interval above 13×) over 3,000 canary requests since 22:13 UTC",
    );
    // And what happens next, in this rollout's mode.
    expect(t).toContain("Next: a person decides; Abort is advised.");
  });

  it("waiting for evidence says what is missing in numbers, once, and what the automatic step will do", () => {
    const e = foldCounts(undefined, 1_700_000_000_000, 1_700_000_060_000, { requests: 9_000, successes: 8_910 }, { requests: 1_000, successes: 990 });
    const auto = {
      ...live(),
      auto: { intervalMs: 120_000, maxWaitMs: 30 * 60_000, noticeMs: 60_000 },
      timers: { seq: 1, stepAt: 1_700_000_120_000 },
    } as Rollout;
    const r = withSnapshot(auto, { at: 1_700_000_060_000, windowSeconds: 60, canaryPercent: 10, evidence: e, verdict: judge(e, settings) });
    const t = text(r);
    expect(t).toMatch(
      /:hourglass_flowing_sand: \*Waiting for evidence\*: needs ~[\d,]+ more canary requests to rule out a 2× regression: about \d+ min at the current rate; so far/,
    );
    expect(t.match(/not enough traffic/gi)).toBeNull();
    expect(t).toContain(
      "Next: the automatic step to 80% at <!date^1700000120^{time_secs}|22:15:20 UTC> waits for that evidence (a person decides after 30 min)",
    );
  });

  it("never renders a message Slack would refuse, whatever the texts", () => {
    const long = "x".repeat(10_000);
    let r = live();
    r = { ...r, problem: long, observedRaw: long, testRequestHint: long };
    r = withSnapshot(r, { at: 1, windowSeconds: 60, canaryPercent: 10, verdict: verdict({ error: long }, settings) });
    const rendered = renderRolloutMessage(r);
    expect(validateBlocks(rendered.blocks)).toEqual([]);
    expect(messageChars(rendered.text, rendered.blocks)).toBeLessThanOrEqual(12_000);
  });

  it("offers Advance, Hold, Abort, Refresh and the overflow menu while live, nothing once aborted", () => {
    const r = live();
    // The overflow menu (Skip to 100%, chart) shows as "⋯", as Slack draws it.
    const labels = (x: Rollout) =>
      (renderRolloutMessage(x).blocks.find((b) => b.type === "actions")?.elements as { type: string; text?: { text: string } }[] | undefined)?.map((e) =>
        e.type === "overflow" ? "⋯" : e.text!.text,
      ) ?? [];
    expect(labels(r)).toEqual(["Advance to 80%", "Hold", "Abort", "Refresh", "⋯"]);
    const moved = advance(r, { kind: "user", id: "UBOB" }, 0, 2);
    if (!moved.ok) throw new Error(moved.error.code);
    expect(labels(moved.value)).toEqual(["Abort", "Refresh"]); // applying: only Abort (and Refresh)
    const done = markAborted((abort(markApplied(moved.value, 80, "raw", 3), { kind: "user", id: "UBOB" }, 4) as { value: Rollout }).value, "raw", 5);
    expect(labels(done)).toEqual([]);
    expect(text(done)).toContain("Aborted: all traffic on stable");
  });

  it("thread events say who, what and the weights before and after", () => {
    const moved = advance(live(), { kind: "user", id: "UBOB" }, 0, 1_700_000_100_000);
    if (!moved.ok) throw new Error(moved.error.code);
    const e = moved.value.events.at(-1)!;
    expect(renderEvent(moved.value, e)).toBe(
      "<@UBOB> advanced to 80% (backend-v1/backend-v2 90/10 → 20/80) <!date^1700000100^{date_short_pretty} {time_secs}|2023-11-14T22:15:00Z>".replace(
        /^/,
        ":arrow_forward: ",
      ),
    );
  });
});

import { describe, expect, it } from "vitest";
import { simulateRow, type SimRow } from "../bench/verdict-sim.ts";

/**
 * Issue 16's guarantee, checked by seeded simulation through the bot's own code (readSnapshot -> stored
 * evidence -> verdict -> automatic decision; see test/bench/verdict-sim.ts): a canary failing exactly as
 * often as stable is aborted in at most 1 − confidence of rollouts, however often the bot looks.
 *
 * The bound allows for simulation error: with N rollouts and a true rate of at most α, the count of aborts
 * is at most Binomial(N, α), which exceeds Nα + 3·sqrt(Nα(1−α)) with probability under 0.5%. The seeds are
 * fixed, so the run is reproducible; the old procedure on the same traffic shows the check can fail.
 */

const N = 200;
const bound = (alpha: number) => Math.floor(N * alpha + 3 * Math.sqrt(N * alpha * (1 - alpha)));

const healthyFast: SimRow = {
  label: "healthy, 200 req/s, 10%, 1% both, 10 min, a reading every 5 s, a step every 30 s",
  rps: 200,
  weight: 0.1,
  stableError: 0.01,
  canaryError: 0.01,
  durationSeconds: 600,
  windowSeconds: 10,
  newWindowSeconds: 5,
  refreshSeconds: 5,
  stepSeconds: 30,
};

describe("false aborts of healthy canaries (seeded simulation)", () => {
  it("at 99%: at most 1% of healthy canaries aborted, where the old fixed-window test aborted far more", async () => {
    const res = await simulateRow(healthyFast, N, 1601);
    expect(res.new.aborted).toBeLessThanOrEqual(bound(0.01));
    expect(res.old.aborted).toBeGreaterThan(bound(0.01));
  });

  it("at 95%, with a different traffic mix: at most 5%", async () => {
    const res = await simulateRow({ ...healthyFast, rps: 40, weight: 0.3, stableError: 0.03, canaryError: 0.03, confidence: 0.95 }, N, 1602);
    expect(res.new.aborted).toBeLessThanOrEqual(bound(0.05));
    expect(res.old.aborted).toBeGreaterThan(bound(0.05));
  });

  it("and still catches every 5× canary, within a minute", async () => {
    const res = await simulateRow({ ...healthyFast, canaryError: 0.05, durationSeconds: 120 }, N, 1603);
    expect(res.new.aborted).toBe(N);
    expect(Math.max(...res.new.abortSeconds)).toBeLessThanOrEqual(60);
  });
});

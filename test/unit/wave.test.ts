import { describe, expect, it } from "vitest";
import {
  abortWave,
  clusterApplied,
  clusterFinished,
  clusterReachable,
  clusterUnreachable,
  currentCluster,
  newWave,
  nextToRevert,
  openGate,
  planWave,
  revertVerified,
  waveFinished,
  wavePosition,
  waveReverted,
  type Wave,
} from "../../src/engine/wave.ts";

/** Issue 24: a wave's transitions, as pure functions on the data the rollout record would carry. */

const THREE = ["staging", "prod-eu", "prod-us"];
const value = <T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T => {
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.error)}`);
  return r.value;
};
const states = (w: Wave) => w.rows.map((r) => `${r.cluster}:${r.state}:${r.percent ?? "-"}`);

describe("planning a wave", () => {
  it("takes the target's clusters, or a --clusters choice among them, never another", () => {
    expect(value(planWave(THREE))).toEqual(THREE);
    expect(value(planWave(THREE, ["staging", "prod-us"]))).toEqual(["staging", "prod-us"]);
    expect(planWave(THREE, ["staging", "prod-asia"])).toEqual({
      ok: false,
      error: { code: "wave-cluster-not-declared", cluster: "prod-asia", declared: THREE },
    });
    expect(planWave(THREE, ["staging", "staging"])).toEqual({ ok: false, error: { code: "wave-cluster-twice", cluster: "staging" } });
    expect(planWave(THREE, ["prod-eu"])).toMatchObject({ ok: false, error: { code: "wave-too-short" } });
  });
});

describe("a wave through three clusters", () => {
  it("runs each cluster in turn behind a person's gate, to Finish", () => {
    let w = newWave(THREE, { mode: "manual" });
    expect(currentCluster(w)).toBe("staging");
    w = clusterApplied(w, 50);
    expect(states(w)).toEqual(["staging:running:50", "prod-eu:waiting:-", "prod-us:waiting:-"]);
    w = value(clusterFinished(w, "healthy", 1_000));
    expect(wavePosition(w)).toEqual({ index: 1, of: 3, cluster: "staging", waiting: "gate" });
    // A manual gate never opens by itself, however long it waits.
    expect(openGate(w, "timer", 10_000_000)).toMatchObject({ ok: false, error: { code: "wave-unhealthy" } });
    w = value(openGate(w, "person", 2_000));
    expect(currentCluster(w)).toBe("prod-eu");
    w = value(clusterFinished(w, "healthy", 3_000));
    w = value(openGate(w, "person", 4_000));
    w = value(clusterFinished(w, "healthy", 5_000));
    expect(waveFinished(w)).toBe(true);
    expect(states(w)).toEqual(["staging:finished:100", "prod-eu:finished:100", "prod-us:finished:100"]);
  });

  it("opens an automatic gate only after a healthy cluster's bake time", () => {
    let w = value(clusterFinished(newWave(THREE, { mode: "auto", bakeMs: 60_000 }), "healthy", 1_000));
    expect(openGate(w, "timer", 30_000)).toEqual({ ok: false, error: { code: "wave-baking", cluster: "staging", opensAt: 61_000 } });
    w = value(openGate(w, "timer", 61_000));
    expect(currentCluster(w)).toBe("prod-eu");
    // Not healthy: the gate waits for a person even in automatic mode.
    const unsure = value(clusterFinished(w, "inconclusive", 70_000));
    expect(openGate(unsure, "timer", 10_000_000)).toEqual({ ok: false, error: { code: "wave-unhealthy", cluster: "prod-eu", verdict: "inconclusive" } });
    expect(currentCluster(value(openGate(unsure, "person", 80_000)))).toBe("prod-us");
  });

  it("refuses an Advance of the gate while the cluster still runs", () => {
    expect(openGate(newWave(THREE, { mode: "manual" }), "person", 0)).toEqual({ ok: false, error: { code: "wave-not-at-gate", cluster: "staging" } });
  });
});

describe("a cluster that cannot be reached", () => {
  it("holds the wave, says which and since when, and lets it go on where it was once it answers", () => {
    let w = value(clusterFinished(newWave(THREE, { mode: "auto", bakeMs: 0 }), "healthy", 1_000));
    w = clusterUnreachable(w, "prod-eu", "connect ECONNREFUSED", 2_000);
    w = clusterUnreachable(w, "prod-eu", "timeout", 3_000);
    expect(w.unreachable).toEqual({ cluster: "prod-eu", since: 2_000, error: "timeout" });
    expect(openGate(w, "timer", 4_000)).toEqual({ ok: false, error: { code: "wave-held-unreachable", cluster: "prod-eu", since: 2_000 } });
    expect(openGate(w, "person", 4_000)).toMatchObject({ ok: false, error: { code: "wave-held-unreachable" } });
    expect(wavePosition(w).waiting).toBe("unreachable");
    w = clusterReachable(w, "prod-eu");
    expect(currentCluster(value(openGate(w, "timer", 5_000)))).toBe("prod-eu");
  });
});

describe("Abort", () => {
  it("reverts the running cluster, then the finished ones newest first, each verified before the next; the rest untouched", () => {
    let w = value(clusterFinished(newWave(THREE, { mode: "manual" }), "healthy", 1_000));
    w = clusterApplied(value(openGate(w, "person", 2_000)), 10);
    // A bad canary in prod-eu: the wave aborts.
    w = abortWave(w);
    expect(w.revert).toEqual(["prod-eu", "staging"]);
    expect(states(w)).toEqual(["staging:reverting:100", "prod-eu:reverting:10", "prod-us:untouched:-"]);
    expect(nextToRevert(w)).toBe("prod-eu");
    // staging waits for prod-eu; a read-back that is not 0% does not count.
    expect(revertVerified(w, "staging", 0)).toEqual({ ok: false, error: { code: "wave-not-reverting", cluster: "staging" } });
    expect(revertVerified(w, "prod-eu", 10)).toEqual({ ok: false, error: { code: "wave-not-reverted", cluster: "prod-eu", percent: 10 } });
    w = value(revertVerified(w, "prod-eu", 0));
    expect(nextToRevert(w)).toBe("staging");
    expect(waveReverted(w)).toBe(false);
    // staging unreachable: held there, never skipped.
    w = clusterUnreachable(w, "staging", "timeout", 3_000);
    expect(wavePosition(w)).toMatchObject({ cluster: "staging", waiting: "unreachable" });
    expect(nextToRevert(w)).toBe("staging");
    w = value(revertVerified(clusterReachable(w, "staging"), "staging", 0));
    expect(waveReverted(w)).toBe(true);
    expect(states(w)).toEqual(["staging:reverted:0", "prod-eu:reverted:0", "prod-us:untouched:-"]);
    expect(clusterFinished(w, "healthy", 4_000)).toEqual({ ok: false, error: { code: "wave-aborting" } });
  });

  it("at a gate reverts every finished cluster, and a second Abort changes nothing", () => {
    const w = abortWave(value(clusterFinished(newWave(THREE, { mode: "manual" }), "healthy", 1_000)));
    expect(w.revert).toEqual(["staging"]);
    expect(w.atGate).toBeUndefined();
    expect(abortWave(w)).toBe(w);
  });
});

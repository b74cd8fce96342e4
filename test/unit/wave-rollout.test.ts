import { describe, expect, it } from "vitest";
import { parseTargetsFile } from "../../src/config.ts";
import { abort, finish, newRollout, markRejected, withGitopsBaseline, type Rollout } from "../../src/engine/rollout.ts";
import type { GitBaseline } from "../../src/engine/ownership.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import {
  clusterDone,
  clusterReverted,
  finishBlockedBy,
  finishedClusterDrifted,
  finishedClusterRestored,
  finishesWave,
  gateDue,
  gitBaselines,
  markReachable,
  markUnreachable,
  openWaveGate,
  planStartWave,
  syncWaveRow,
  waveCompleted,
  waveGate,
  withBakeReading,
} from "../../src/engine/wave-rollout.ts";
import { foldCounts, type Evidence } from "../../src/engine/evidence.ts";
import { judge } from "../../src/engine/verdict.ts";
import { withSnapshot } from "../../src/engine/rollout.ts";
import { parseStart } from "../../commands/start.ts";
import { renderRolloutMessage } from "../../src/slack/views/rollout-message.ts";
import { renderEvent } from "../../src/slack/views/event-text.ts";
import { startRefusalText } from "../../src/slack/views/refusal.ts";
import { readStartForm, startFormView, startRefusalErrors } from "../../src/slack/views/start-form.ts";
import { ClusterError, isUnreachable, unreachableProblem } from "../../src/queue/jobs/wave.ts";
import { KubeApiError } from "../../src/kube/call.ts";
import { toRouterError } from "../../src/kube/errors.ts";

/** Issue 24: a wave on the rollout record (src/engine/wave-rollout.ts), the targets-file checks, and how it reads. */

const CLUSTERS = "clusters:\n  - { name: staging, context: s }\n  - { name: prod-eu, context: e }\n  - { name: prod-us, context: u }\n";
const target = TargetSchema.parse({ name: "shop", namespace: "web", stable: "shop-v1", steps: [50, 100], clusters: ["staging", "prod-eu", "prod-us"] });
const ALICE = { kind: "user" as const, id: "UALICE" };

function value<T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.error)}`);
  return r.value;
}

/** A wave rollout in its first cluster, at 100% verified and finishing. */
function finishingInFirst(): Rollout {
  const planned = value(planStartWave(target, undefined, false))!;
  const r = newRollout({
    id: "shop#1",
    target: planned.target,
    stable: "shop-v1",
    canary: "shop-v2",
    steps: [50, 100],
    startedBy: "UALICE",
    channel: "C1",
    testStage: false,
    now: 0,
    wave: planned.wave,
  });
  const at100 = syncWaveRow({ ...r, status: "active", stepIndex: 1, desiredPercent: 100, appliedPercent: 100 });
  return value(finish(at100, ALICE, 1_000));
}

describe("the targets file", () => {
  it("accepts a wave of declared clusters and refuses an undeclared one, one twice, fewer than two, and `cluster` with `clusters`", () => {
    const ok = parseTargetsFile(`${CLUSTERS}targets:\n  - { name: shop, stable: v1, clusters: [staging, prod-eu], wave: { gate: auto, bakeTime: 10m } }\n`);
    expect(ok.ok && ok.value.targets.get("shop")?.wave).toEqual({ gate: "auto", bakeTime: 600_000 });
    const errors = (yaml: string) => {
      const r = parseTargetsFile(`${CLUSTERS}targets:\n${yaml}`);
      return r.ok ? [] : r.error.join("\n");
    };
    expect(errors("  - { name: shop, clusters: [staging, prod-asia] }\n")).toContain("names cluster 'prod-asia' in its wave");
    expect(errors("  - { name: shop, clusters: [staging, staging] }\n")).toContain("cluster 'staging' is named twice");
    expect(errors("  - { name: shop, clusters: [staging] }\n")).toContain("a wave needs two or more clusters");
    expect(errors("  - { name: shop, cluster: staging, clusters: [staging, prod-eu] }\n")).toContain("name either `cluster`");
    expect(errors("  - { name: shop, deploy: true, clusters: [staging, prod-eu] }\n")).toContain("`deploy: true` works in the bot's own cluster only");
    expect(errors("  - { name: shop, gitops: pause, clusters: [staging, prod-eu] }\n")).toContain("`gitops: pause` is not available in a wave");
    expect(errors("  - { name: shop, wave: { gate: auto } }\n")).toContain("it needs `clusters:`");
    const namerd = errors(
      "  - { name: shop, router: namerd, namerd: { url: 'http://namerd:4180', dtabNamespace: internal, prefix: /svc/shop }, clusters: [staging, prod-eu] }\n",
    );
    expect(namerd).toContain("a namerd target cannot be a wave yet");
  });

  it("parses --clusters into names, and refuses one that is not a name", () => {
    expect(parseStart(["shop", "--to", "v2", "--clusters", "prod-eu,staging"])).toMatchObject({ ok: true, value: { clusters: ["prod-eu", "staging"] } });
    expect(parseStart(["shop", "--to", "v2", "--clusters", "prod-eu,Bad_Name"])).toMatchObject({ ok: false, error: expect.stringContaining("--clusters") });
  });
});

describe("--clusters, the wave's fence", () => {
  it("picks and orders among the declared clusters only, and names the flag and the target when it reaches outside", () => {
    expect(value(planStartWave(target, ["prod-eu", "staging"], true))!.wave.rows.map((r) => r.cluster)).toEqual(["prod-eu", "staging"]);
    const outside = planStartWave(target, ["staging", "prod-asia"], false);
    expect(outside.ok).toBe(false);
    if (!outside.ok)
      expect(startRefusalText(outside.error)).toBe(
        "`--clusters` for `shop`: cluster `prod-asia` is not in the wave (its clusters are `staging`, `prod-eu`, `prod-us`). It may pick and order only among the wave's own clusters. Nothing was changed.",
      );
    const plain = planStartWave(TargetSchema.parse({ name: "cart" }), ["staging", "prod-eu"], false);
    expect(plain.ok).toBe(false);
    if (!plain.ok) expect(startRefusalText(plain.error)).toContain("cannot be used with `cart`: it is not a wave");
  });
});

describe("a wave on the record", () => {
  it("a cluster's Finish waits at the gate; Advance moves the record's target to the next cluster with its own fresh state", () => {
    const r = finishingInFirst();
    expect(r.target.cluster).toBe("staging");
    expect(finishesWave(r)).toBe(false);
    const gated = clusterDone({ ...r, stableWorkload: { namespace: "web", name: "shop-v1" }, meshPrint: "p", observedRaw: "x" }, "shop-v2 100%", 2_000);
    expect(gated.status).toBe("at-gate");
    expect(gated.wave!.rows[0]).toMatchObject({ cluster: "staging", state: "finished", percent: 100, stableWorkload: { namespace: "web", name: "shop-v1" } });
    expect(finish(gated, ALICE, 2_500)).toEqual({ ok: false, error: { code: "at-gate", id: "shop#1", next: "prod-eu" } });
    const text = JSON.stringify(renderRolloutMessage(gated));
    expect(text).toContain("cluster 1 of 3: staging finished. Waiting at the gate before prod-eu");
    expect(text).toContain("Advance to prod-eu");
    const opened = value(openWaveGate(gated, ALICE, 3_000));
    expect(opened).toMatchObject({ status: "starting", target: { cluster: "prod-eu" }, stepIndex: 0, desiredPercent: 50, appliedPercent: null });
    expect(opened.meshPrint).toBeUndefined();
    expect(opened.stableWorkload).toBeUndefined();
    expect(opened.wave!.rows.map((x) => x.state)).toEqual(["finished", "running", "waiting"]);
    expect(renderEvent(opened, opened.events.at(-1)!)).toContain("opened the gate: staging → prod-eu");
    // A second Advance finds no gate.
    expect(openWaveGate(opened, ALICE, 3_100)).toMatchObject({ ok: false, error: { code: "wave-not-at-gate" } });
  });

  it("a later cluster that refuses the start sends the wave back to the gate before it, nothing written there", () => {
    const opened = value(openWaveGate(clusterDone(finishingInFirst(), "raw", 2_000), ALICE, 3_000));
    const back = markRejected(opened, "Service web/shop-v2 does not exist", 4_000);
    expect(back).toMatchObject({ status: "at-gate", target: { cluster: "staging" }, appliedPercent: 100 });
    expect(back.wave!.rows.map((x) => `${x.cluster}:${x.state}`)).toEqual(["staging:finished", "prod-eu:waiting", "prod-us:waiting"]);
    expect(back.problem).toBe("prod-eu: Service web/shop-v2 does not exist");
  });

  it("Abort reverts the current cluster then the finished ones, newest first; the record is done only after the last", () => {
    let r = value(openWaveGate(clusterDone(finishingInFirst(), "raw", 2_000), ALICE, 3_000));
    r = syncWaveRow({ ...r, status: "active", appliedPercent: 50 });
    r = value(abort(r, ALICE, 4_000));
    expect(r.wave!.revert).toEqual(["prod-eu", "staging"]);
    expect(r.wave!.rows.map((x) => `${x.cluster}:${x.state}`)).toEqual(["staging:reverting", "prod-eu:reverting", "prod-us:untouched"]);
    const first = value(clusterReverted(r, "prod-eu 0%", 5_000));
    expect(first.done).toBe(false);
    expect(first.rollout).toMatchObject({ status: "aborting", target: { cluster: "staging" }, appliedPercent: 100 });
    // staging waits for prod-eu: a read-back there before prod-eu is verified does not count.
    expect(clusterReverted({ ...r, target: { ...r.target, cluster: "staging" } }, "x", 5_000)).toEqual({
      ok: false,
      error: { code: "wave-not-reverting", cluster: "staging" },
    });
    const last = value(clusterReverted(first.rollout, "staging 0%", 6_000));
    expect(last.done).toBe(true);
    expect(last.rollout.wave!.rows.map((x) => `${x.cluster}:${x.state}`)).toEqual(["staging:reverted", "prod-eu:reverted", "prod-us:untouched"]);
  });

  it("an unreachable cluster is marked once, with since when, and cleared when it answers", () => {
    const r = value(openWaveGate(clusterDone(finishingInFirst(), "raw", 2_000), ALICE, 3_000));
    const held = markUnreachable(r, "prod-eu", "connect ECONNREFUSED", 10_000);
    const again = markUnreachable(held, "prod-eu", "connect ECONNREFUSED", 20_000);
    expect(again.wave!.unreachable).toEqual({ cluster: "prod-eu", since: 10_000, error: "connect ECONNREFUSED" });
    expect(again.events.filter((e) => e.kind === "wave" && e.wave?.what === "unreachable")).toHaveLength(1);
    const back = markReachable(again, 30_000);
    expect(back.wave!.unreachable).toBeUndefined();
    expect(renderEvent(back, back.events.at(-1)!)).toContain("prod-eu answers again");
  });

  it("the last cluster's completion marks every row finished", () => {
    let r = value(openWaveGate(clusterDone(finishingInFirst(), "raw", 2_000), ALICE, 3_000));
    const rows = r.wave!.rows.map((x, i) => (i < 2 ? { ...x, state: "finished" as const, percent: 100 } : { ...x, state: "running" as const, percent: 50 }));
    r = { ...r, wave: { ...r.wave!, position: 2, rows }, status: "completed" };
    expect(waveCompleted(r, 9_000).wave!.rows.every((x) => x.state === "finished" && x.percent === 100)).toBe(true);
  });
});

describe("a finished cluster changed behind the wave", () => {
  const drift = { observedPercent: 0, raw: "shop-v1 100 / shop-v2 0", at: 5_000, by: { manager: "kubectl-edit", time: "2024-05-01T14:03:00Z" } };

  it("shows on its row, is said once, keeps the gate shut (a person's Advance too) until it holds what was verified again", () => {
    const gated = clusterDone(finishingInFirst(), "shop-v2 100%", 2_000, "print-1");
    expect(gated.wave!.rows[0]!.print).toBe("print-1");
    const drifted = finishedClusterDrifted(gated, "staging", drift, "staging changed since the wave finished there", 5_000);
    expect(drifted.wave!.rows[0]!.drift).toEqual(drift);
    expect(drifted.events.at(-1)).toMatchObject({ kind: "warning", cluster: "staging", text: "staging changed since the wave finished there" });
    // The same reading again changes nothing (said once); a waiting or running cluster is not a finished one.
    expect(finishedClusterDrifted(drifted, "staging", { ...drift, at: 9_000 }, "again", 9_000)).toBe(drifted);
    expect(finishedClusterDrifted(gated, "prod-eu", drift, "x", 5_000)).toBe(gated);
    expect(openWaveGate(drifted, ALICE, 6_000)).toEqual({ ok: false, error: { code: "wave-drifted", cluster: "staging" } });
    expect(openWaveGate(drifted, { kind: "bot", why: "gate" }, 6_000)).toEqual({ ok: false, error: { code: "wave-drifted", cluster: "staging" } });
    const msg = renderRolloutMessage(drifted);
    const text = JSON.stringify(msg.blocks);
    expect(text).toContain("*staging*: shop-v2 100% · verdict none · :warning: changed since it finished: now shop-v2 0%, by `kubectl-edit` at 14:03 UTC");
    expect(text).toContain("it stays closed while staging no longer holds what the wave verified there");
    expect(text).not.toContain("Advance to prod-eu");

    const back = finishedClusterRestored(drifted, "staging", 7_000);
    expect(back.wave!.rows[0]!.drift).toBeUndefined();
    expect(renderEvent(back, back.events.at(-1)!)).toContain("staging holds all traffic on the new version again");
    expect(finishedClusterRestored(back, "staging", 8_000)).toBe(back);
    expect(value(openWaveGate(back, ALICE, 9_000)).target.cluster).toBe("prod-eu");
  });

  it("keeps the last cluster from finishing (Finish, Promote), not a middle one from reaching its gate; an Abort reverts it like any", () => {
    const opened = value(openWaveGate(clusterDone(finishingInFirst(), "raw", 2_000), ALICE, 3_000));
    const rows = opened.wave!.rows.map((x, i) =>
      i === 1 ? { ...x, state: "finished" as const, percent: 100 } : i === 2 ? { ...x, state: "running" as const, percent: 100 } : x,
    );
    const last = syncWaveRow({
      ...opened,
      wave: { ...opened.wave!, position: 2, rows },
      target: { ...opened.target, cluster: "prod-us" },
      status: "active",
      stepIndex: 1,
      desiredPercent: 100,
      appliedPercent: 100,
    });
    const drifted = finishedClusterDrifted(last, "prod-eu", drift, "prod-eu changed", 5_000);
    expect(finishBlockedBy(drifted)).toBe("prod-eu");
    expect(finish(drifted, ALICE, 6_000)).toEqual({ ok: false, error: { code: "wave-drifted", cluster: "prod-eu" } });
    expect(JSON.stringify(renderRolloutMessage(drifted).blocks)).not.toContain('"Finish"');
    // A middle cluster may still finish: the wave then waits at its gate, which stays closed.
    const atFull = syncWaveRow({ ...opened, status: "active", stepIndex: 1, desiredPercent: 100, appliedPercent: 100 });
    const middle = finishedClusterDrifted(atFull, "staging", drift, "x", 5_000);
    expect(middle.wave!.rows[0]!.drift).toEqual(drift);
    expect(finishBlockedBy(middle)).toBeUndefined();
    expect(value(finish(middle, ALICE, 6_000)).status).toBe("finishing");
    expect(JSON.stringify(renderRolloutMessage(middle).blocks)).toContain("staging changed since it finished: the wave does not move on over it");
    const aborted = value(abort(drifted, ALICE, 7_000));
    expect(aborted.wave!.revert).toEqual(["prod-us", "prod-eu", "staging"]);
  });
});

describe("the bake at a wave's automatic gate", () => {
  const auto = TargetSchema.parse({
    ...target,
    wave: { gate: "auto", bakeTime: "1m" },
    metrics: { source: "prometheus", prometheusUrl: "http://prometheus:9090", preset: "linkerd2" },
  });
  const settings = auto.metrics!;
  const snap = (e: Evidence) => ({ at: e.until, windowSeconds: 30, canaryPercent: 100, evidence: e, verdict: judge(e, settings) });
  const later = (e: Evidence, requests: number, errors: number) =>
    foldCounts(e, e.until, e.until + 30_000, { requests: 0, successes: 0 }, { requests, successes: requests - errors });

  /** staging finished healthy at 100% (stable 0.1% of 50,000 requests, the canary 0.1% of 20,000) and waits at its gate. */
  function baking() {
    const e = foldCounts(undefined, 0, 600_000, { requests: 50_000, successes: 49_950 }, { requests: 20_000, successes: 19_980 });
    const r = finishingInFirst();
    const finishing = { ...r, target: { ...auto, cluster: "staging" }, wave: { ...r.wave!, gate: waveGate(auto) }, snapshot: snap(e) };
    expect(finishing.snapshot.verdict.kind).toBe("healthy");
    return { gated: clusterDone(finishing, "raw", 600_000), e };
  }

  it("counts from the Finish; readings that hold nothing against the canary let the gate open after the bake time", () => {
    const { gated, e } = baking();
    expect(gated.wave!.atGate).toMatchObject({ opensAt: 660_000, bake: { start: { at: 600_000, canary: { requests: 20_000, errors: 20 } } } });
    const read = withBakeReading(withSnapshot(gated, snap(later(e, 3_000, 2))), 630_000);
    expect(read.wave!.atGate!.bake!.verdict).toMatchObject({ kind: "ok", requests: 3_000, errors: 2 });
    expect(JSON.stringify(renderRolloutMessage(read).blocks)).toContain("Bake: shop-v2 99.9% success over 3,000 requests since its Finish");
    expect(gateDue(read, 650_000)).toBe(false);
    expect(gateDue(read, 660_000)).toBe(true);
    expect(value(openWaveGate(read, { kind: "bot", why: "gate" }, 660_000)).target.cluster).toBe("prod-eu");
  });

  it("a bake whose readings say worse holds the automatic gate, says so once, and leaves a person's Advance", () => {
    const { gated, e } = baking();
    const e1 = later(e, 3_000, 300);
    const bad = withBakeReading(withSnapshot(gated, snap(e1)), 630_000);
    expect(bad.wave!.atGate!.bake!.verdict).toMatchObject({ kind: "worse", basis: "stable", requests: 3_000, errors: 300 });
    const said = renderEvent(bad, bad.events.at(-1)!);
    expect(said).toContain("staging's bake: the new version failed 10.0% of 3,000 requests since its Finish, above the 1.1% tolerated");
    expect(said).toContain("The automatic gate to prod-eu stays closed: Advance goes on anyway");
    const again = withBakeReading(withSnapshot(bad, snap(later(e1, 3_000, 0))), 660_000);
    expect(again.events.filter((x) => x.wave?.what === "bake-worse")).toHaveLength(1);
    expect(gateDue(again, 700_000)).toBe(false);
    expect(openWaveGate(again, { kind: "bot", why: "gate" }, 700_000)).toMatchObject({ ok: false, error: { code: "wave-bake-held", cluster: "staging" } });
    const text = JSON.stringify(renderRolloutMessage(again).blocks);
    expect(text).toContain("it does not open by itself while the bake's readings hold it (a person may Advance)");
    expect(text).toContain("Advance to prod-eu");
    expect(value(openWaveGate(again, ALICE, 700_000)).target.cluster).toBe("prod-eu");
  });
});

describe("what git must say, per cluster of a wave", () => {
  const baseline = (cluster: string): GitBaseline[] => [
    {
      object: {
        group: "split.smi-spec.io",
        kind: "TrafficSplit",
        plural: "trafficsplits",
        versions: ["v1alpha2"],
        namespace: "web",
        name: cluster,
        fields: ["/spec/backends"],
      },
      apiVersion: "split.smi-spec.io/v1alpha2",
      owner: { kind: "flux-kustomization", name: "apps", namespace: "flux-system", via: "label" },
      values: {},
    },
  ];
  const at = (r: Rollout) => gitBaselines(r).map((b) => `${b.cluster}:${b.baseline[0]!.object.name}`);

  it("keeps each cluster's baseline on its row past the gate; an Abort lists them newest first, a refused cluster not at all", () => {
    const first = withGitopsBaseline(finishingInFirst(), baseline("staging"));
    let r = value(openWaveGate(clusterDone(first, "raw", 2_000), ALICE, 3_000));
    expect(r.gitopsBaseline).toBeUndefined();
    expect(at(r)).toEqual(["staging:staging"]);
    // prod-eu refuses after its owners were read: nothing was written there, so nothing for git either.
    const refused = markRejected(withGitopsBaseline(r, baseline("prod-eu")), "Service web/shop-v2 does not exist", 3_500);
    expect(at(refused)).toEqual(["staging:staging"]);
    r = syncWaveRow({ ...withGitopsBaseline(r, baseline("prod-eu")), status: "active", appliedPercent: 50 });
    expect(at(r)).toEqual(["staging:staging", "prod-eu:prod-eu"]);
    expect(at(value(abort(r, ALICE, 4_000)))).toEqual(["prod-eu:prod-eu", "staging:staging"]);
  });

  it("a record from before rows kept them: the record's own, for the cluster running when it ended", () => {
    const r = value(openWaveGate(clusterDone(finishingInFirst(), "raw", 2_000), ALICE, 3_000));
    const old = { ...syncWaveRow({ ...r, status: "active" as const, appliedPercent: 50 }), gitopsBaseline: baseline("prod-eu") };
    const aborted = value(abort(old, ALICE, 4_000));
    const reverted = value(clusterReverted(aborted, "prod-eu 0%", 5_000)).rollout;
    expect(reverted.target.cluster).toBe("staging");
    expect(at(reverted)).toEqual(["prod-eu:prod-eu"]);
  });
});

describe("which failures hold a wave as unreachable", () => {
  const kube = (failure: ConstructorParameters<typeof KubeApiError>[1]) => new KubeApiError("PUT TrafficSplit web/shop", failure);
  it("no connection, no answer in time and a 5xx are unreachable; a refusal (403, 409, 429) answers", () => {
    expect(isUnreachable(kube({ kind: "network", message: "ECONNRESET" }))).toBe(true);
    expect(isUnreachable(toRouterError(kube({ kind: "timeout", message: "no answer within 5 s" })))).toBe(true);
    expect(isUnreachable(toRouterError(kube({ kind: "status", code: 503, reason: "ServiceUnavailable", message: "down" })))).toBe(true);
    expect(isUnreachable(new ClusterError("staging", kube({ kind: "status", code: 502, reason: "BadGateway", message: "lb" })))).toBe(true);
    expect(isUnreachable(toRouterError(kube({ kind: "status", code: 403, reason: "Forbidden", message: "no" })))).toBe(false);
    expect(isUnreachable(toRouterError(kube({ kind: "status", code: 409, reason: "Conflict", message: "rv" })))).toBe(false);
    expect(isUnreachable(kube({ kind: "status", code: 429, reason: "TooManyRequests", message: "slow down" }))).toBe(false);
  });

  it("says which cluster since when, and that nothing moves", () => {
    expect(unreachableProblem("prod-eu", Date.UTC(2026, 0, 5, 14, 2), "connect ECONNREFUSED")).toBe(
      "prod-eu does not answer since 14:02 UTC: connect ECONNREFUSED. The wave holds; nothing moves anywhere until it answers (it is never skipped).",
    );
  });
});

describe("the start form for a wave target", () => {
  const picked = { target, steps: [50, 100], versions: { ok: true as const, value: ["shop-v2"] } };
  const values = (clusters: string | null) => ({
    target: { target: { selected_option: { value: "shop" } } },
    "version:shop": { version: { selected_option: { value: "shop-v2" } } },
    "clusters:shop": { clusters: { value: clusters } },
    channel: { channel: { selected_conversation: "C1" } },
  });

  it("offers the clusters in the file's order, and reads a choice into the same request as --clusters", () => {
    const view = JSON.stringify(startFormView({ targets: [target], picked }));
    expect(view).toContain('"block_id":"clusters:shop"');
    expect(view).toContain('"initial_value":"staging,prod-eu,prod-us"');
    expect(JSON.stringify(startFormView({ targets: [target, TargetSchema.parse({ name: "cart" })] }))).not.toContain("clusters");
    expect(readStartForm(values("prod-eu, staging"))).toMatchObject({ ok: true, value: { req: { target: "shop", clusters: ["prod-eu", "staging"] } } });
    expect(readStartForm(values("prod-eu,Nope!"))).toMatchObject({ ok: false, errors: { clusters: expect.stringContaining("is not a cluster name") } });
  });

  it("puts a --clusters refusal under the field", () => {
    const refused = planStartWave(target, ["staging", "prod-asia"], false);
    if (refused.ok) throw new Error("expected a refusal");
    expect(startRefusalErrors(refused.error)).toEqual({ clusters: expect.stringContaining("cluster prod-asia is not in the wave") });
  });
});

import { describe, expect, it } from "vitest";
import { argoStateOf, pauseDurationMs, planRequests, RolloutObject } from "../../src/controllers/argo-rollouts.ts";
import { argoDecide, argoSent, newArgoRollout, observeArgo } from "../../src/engine/argo.ts";
import { TargetSchema } from "../../src/engine/target.ts";

/**
 * The wire half of issue 22, pure: what each button sends for a Rollout in a given state (the plugin's
 * `getPatches`, PROGRESSIVE-DELIVERY.md 1.5), and how a decision and its request are recorded.
 */

const rollout = (status: Record<string, unknown>, spec: Record<string, unknown> = {}) =>
  RolloutObject.parse({
    metadata: { name: "shop", generation: 2, annotations: { "rollout.argoproj.io/revision": "2" } },
    spec: {
      replicas: 4,
      template: { spec: { containers: [{ image: "shop:2" }] } },
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }, { analysis: { templates: [{ templateName: "sr" }] } }, { pause: { duration: "1h" } }] } },
      ...spec,
    },
    status: { observedGeneration: "2", currentPodHash: "new", stableRS: "old", ...status },
  });

describe("what each button sends (the plugin's requests)", () => {
  it("Promote at a pause clears the pause conditions on /status, and unpauses the spec only if paused by hand", () => {
    const paused = rollout({ currentStepIndex: 1, pauseConditions: [{ reason: "CanaryPauseStep", startTime: "2026-01-01T00:00:00Z" }], controllerPause: true });
    expect(planRequests(paused, "promote")).toEqual([{ subresource: "status", body: { status: { pauseConditions: null } } }]);
    const byHand = rollout({ currentStepIndex: 1, pauseConditions: [{ reason: "CanaryPauseStep" }] }, { paused: true });
    expect(planRequests(byHand, "promote")).toEqual([
      { subresource: "status", body: { status: { pauseConditions: null } } },
      { body: { spec: { paused: false } } },
    ]);
  });

  it("Promote mid-step skips it (currentStepIndex+1, never past the end); after an inconclusive analysis it also resets controllerPause", () => {
    expect(planRequests(rollout({ currentStepIndex: 2 }), "promote")).toEqual([
      { subresource: "status", body: { status: { pauseConditions: null, currentStepIndex: 3 } } },
    ]);
    expect(planRequests(rollout({ currentStepIndex: 4 }), "promote")[0]!.body).toEqual({ status: { pauseConditions: null, currentStepIndex: 4 } });
    const inconclusive = rollout({
      currentStepIndex: 2,
      controllerPause: true,
      pauseConditions: [{ reason: "InconclusiveAnalysisRun" }],
      canary: { currentStepAnalysisRunStatus: { name: "ar", status: "Inconclusive" } },
    });
    expect(planRequests(inconclusive, "promote")[0]!.body).toEqual({ status: { pauseConditions: null, controllerPause: false, currentStepIndex: 3 } });
  });

  it("Promote fully, Abort, Retry, Pause and Resume send their one-line patches", () => {
    const s = rollout({ currentStepIndex: 1 });
    expect(planRequests(s, "promote-full")).toEqual([{ subresource: "status", body: { status: { promoteFull: true } } }]);
    expect(planRequests(s, "abort")).toEqual([{ subresource: "status", body: { status: { abort: true } } }]);
    expect(planRequests(s, "retry")).toEqual([{ subresource: "status", body: { status: { abort: false } } }]);
    expect(planRequests(s, "pause")).toEqual([{ body: { spec: { paused: true } } }]);
    expect(planRequests(rollout({ currentStepIndex: 1 }, { paused: true }), "resume")).toEqual([{ body: { spec: { paused: false } } }]);
  });

  it("reads steps, the timed pause's end and the weights as a viewer needs them", () => {
    const s = argoStateOf(
      rollout({
        currentStepIndex: 3,
        phase: "Paused",
        message: "CanaryPauseStep",
        pauseConditions: [{ reason: "CanaryPauseStep", startTime: "2026-01-01T00:00:00Z" }],
        canary: { weights: { canary: { weight: 20 }, stable: { weight: 80 } } },
      }),
    );
    expect(s).toMatchObject({
      revision: "2",
      image: "shop:2",
      stepIndex: 3,
      weights: { canary: 20, stable: 80 },
      pauseEndsAt: Date.parse("2026-01-01T01:00:00Z"),
    });
    expect(s.steps.map((x) => x.kind)).toEqual(["setWeight", "pause", "analysis", "pause"]);
    expect([pauseDurationMs("30s"), pauseDurationMs(45), pauseDurationMs("90"), pauseDurationMs("soon")]).toEqual([30_000, 45_000, 90_000, undefined]);
  });
});

describe("a decision on a followed Rollout", () => {
  const target = TargetSchema.parse({ name: "shop", namespace: "prod", router: "argo-rollouts", argoRollouts: { channel: "C0DEPLOYS" } });
  const state = argoStateOf(rollout({ currentStepIndex: 1, phase: "Paused", pauseConditions: [{ reason: "CanaryPauseStep" }] }));
  const r = { ...newArgoRollout({ id: "shop#1", target, channel: "C0DEPLOYS", state, now: 1 }), version: 1 };
  const alice = { kind: "user" as const, id: "UALICE" };

  it("records one request; a second Promote is refused while it is pending, and after it is sent until the controller moves", () => {
    const first = argoDecide("advance", r, alice, 1, 2);
    if (!first.ok) throw new Error(first.error.code);
    expect(first.value.argo?.pending).toMatchObject({ action: "promote", step: 1, by: "UALICE" });
    expect(argoDecide("advance", first.value, { kind: "user", id: "UBOB" }, 1, 3)).toMatchObject({ ok: false, error: { code: "request-pending" } });
    const sent = argoSent(first.value, 1, { sent: true }, 4);
    expect(argoDecide("advance", sent, { kind: "user", id: "UBOB" }, 1, 5)).toMatchObject({ ok: false, error: { code: "request-pending", action: "promote" } });
    const moved = observeArgo(sent, { ...state, stepIndex: 2, pauseReasons: [] }, 6);
    expect(moved.events.at(-2)).toMatchObject({ kind: "controller", actor: alice, change: { code: "step", index: 2 } });
    expect(argoDecide("advance", moved, { kind: "user", id: "UBOB" }, 1, 7)).toMatchObject({ ok: false, error: { code: "step-passed", seen: 1, now: 2 } });
  });

  it("Abort takes the place of a request not yet sent", () => {
    const first = argoDecide("advance", r, alice, 1, 2);
    if (!first.ok) throw new Error(first.error.code);
    const abort = argoDecide("abort", first.value, { kind: "user", id: "UBOB" }, 1, 3);
    if (!abort.ok) throw new Error(abort.error.code);
    expect(abort.value.argo?.pending).toMatchObject({ action: "abort", by: "UBOB" });
    expect(abort.value.events.at(-1)).toMatchObject({ change: { code: "not-sent", action: "promote", why: "aborted" } });
  });
});

/**
 * Argo Rollouts in the local Kubernetes API peer: the Rollout and AnalysisRun kinds (argoproj.io/v1alpha1;
 * the Rollout has a status subresource, the AnalysisRun none) and a simulated controller that reacts to
 * them as PROGRESSIVE-DELIVERY.md 1.6 says the real one does: a new pod template starts a revision at step
 * 0; setWeight moves the canary weight; a pause step adds a CanaryPauseStep condition (timed pauses end by
 * themselves); an analysis step runs an AnalysisRun whose outcome a test or the sandbox chooses; promote,
 * promote --full, abort, retry and spec.paused are honoured. One step per `tick`, so each can be seen.
 */
import { createHash } from "node:crypto";
import type { KubeApiPeer, KubeObject, ResourceType } from "./kube-api.ts";

export const rolloutType: ResourceType = {
  group: "argoproj.io",
  versions: ["v1alpha1"],
  storageVersion: "v1alpha1",
  plural: "rollouts",
  singular: "rollout",
  kind: "Rollout",
  namespaced: true,
  shortNames: ["ro"],
  custom: true,
  statusSubresource: true,
};

export const analysisRunType: ResourceType = {
  group: "argoproj.io",
  versions: ["v1alpha1"],
  storageVersion: "v1alpha1",
  plural: "analysisruns",
  singular: "analysisrun",
  kind: "AnalysisRun",
  namespaced: true,
  shortNames: ["ar"],
  custom: true,
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** A canary Rollout with these steps and image, as a person would apply it. */
export function rolloutObject(name: string, opts: { image: string; steps: Obj[]; replicas?: number }): KubeObject {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Rollout",
    metadata: { name },
    spec: {
      replicas: opts.replicas ?? 4,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "app", image: opts.image }] } },
      strategy: { canary: { canaryService: `${name}-canary`, stableService: `${name}-stable`, steps: opts.steps } },
    },
  };
}

export type AnalysisOutcome = "Successful" | "Failed" | "Running";

export class ArgoRolloutsSim {
  /** What the next analysis step's run ends with (the sandbox's "make analysis fail"). */
  analysis: AnalysisOutcome = "Successful";
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly kube: KubeApiPeer,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reconcile every Rollout every `ms` (the sandbox); tests call `tick` themselves. */
  run(ms: number): void {
    const t = setInterval(() => {
      for (const ro of this.kube.list("rollouts")) {
        const m = ro.metadata ?? {};
        try {
          this.tick(String(m.namespace), String(m.name));
        } catch {
          // a Rollout removed between the list and the tick
        }
      }
    }, ms);
    this.timers.add(t);
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.clear();
  }

  /** One reconcile of one Rollout: at most one step taken. */
  tick(namespace: string, name: string): KubeObject {
    let ro = this.kube.get("rollouts", namespace, name);
    if (!ro) throw new Error(`no Rollout ${namespace}/${name}`);
    const spec = ro.spec as Obj;
    const canary = isObj(spec.strategy) && isObj(spec.strategy.canary) ? spec.strategy.canary : {};
    const steps = Array.isArray(canary.steps) ? (canary.steps as Obj[]) : [];
    const hash = podHash(spec.template);
    const st: Obj = structuredClone(isObj(ro.status) ? ro.status : {});
    const generation = Number((ro.metadata ?? {}).generation ?? 1);
    const annotations = isObj(ro.metadata?.annotations) ? (ro.metadata.annotations as Record<string, string>) : {};
    let revision = Number(annotations["rollout.argoproj.io/revision"] ?? 0);

    if (st.currentPodHash !== hash) {
      // A new revision: step 0, nothing paused or aborted (resetRolloutStatus); the first ever is stable at once.
      revision += 1;
      ro = this.kube.edit("rollouts", namespace, name, (o) => {
        o.metadata = { ...o.metadata, annotations: { ...annotations, "rollout.argoproj.io/revision": String(revision) } };
      });
      st.currentPodHash = hash;
      st.currentStepIndex = st.stableRS ? 0 : steps.length;
      st.stableRS ??= hash;
      delete st.pauseConditions;
      st.controllerPause = false;
      st.abort = false;
      delete st.abortedAt;
      st.promoteFull = false;
      st.message = "";
      delete st.canary;
      st.canary = {};
    }
    st.observedGeneration = String(generation);
    let index = Number(st.currentStepIndex ?? 0);
    const conditions = (Array.isArray(st.pauseConditions) ? st.pauseConditions : []) as Obj[];
    const canaryStatus = (isObj(st.canary) ? st.canary : {}) as Obj;
    let abortCause = "";

    if (st.promoteFull === true) {
      index = steps.length;
      st.promoteFull = false;
      st.pauseConditions = undefined;
      st.abort = false;
    } else if (st.abort === true) {
      st.abortedAt ??= iso(this.now());
      index = 0;
    } else if (spec.paused === true) {
      // manually paused: nothing moves
    } else if (index < steps.length) {
      const step = steps[index]!;
      if (step.pause !== undefined) {
        const pause = conditions.find((c) => c.reason === "CanaryPauseStep");
        const duration = isObj(step.pause) ? durationMs(step.pause.duration) : undefined;
        if (st.controllerPause === true && !pause) {
          index += 1; // a person cleared the pause (promote)
          st.controllerPause = false;
        } else if (!pause) {
          st.pauseConditions = [...conditions, { reason: "CanaryPauseStep", startTime: iso(this.now()) }];
          st.controllerPause = true;
        } else if (duration !== undefined && this.now() >= Date.parse(String(pause.startTime)) + duration) {
          st.pauseConditions = conditions.filter((c) => c !== pause);
          st.controllerPause = false;
          index += 1;
        }
      } else if (step.analysis !== undefined) {
        const runName = `${name}-${hash}-${revision}-${index}`;
        const run = this.kube.get("analysisruns", namespace, runName) ?? this.startRun(namespace, runName, hash, revision, index, step);
        const phase = this.finishRun(namespace, run);
        canaryStatus.currentStepAnalysisRunStatus = { name: runName, status: phase };
        if (phase === "Successful") index += 1;
        if (phase === "Failed") {
          st.abort = true;
          st.abortedAt = iso(this.now());
          abortCause = `: Step-based analysis phase failed: metric "success-rate" assessed Failed due to failed (1) > failureLimit (0)`;
          index = 0;
        }
      } else {
        index += 1; // setWeight and the rest complete at once here
      }
    }
    if (st.abort !== true && index >= steps.length) st.stableRS = hash;
    st.currentStepIndex = index;
    if (Array.isArray(st.pauseConditions) && st.pauseConditions.length === 0) delete st.pauseConditions;
    if (st.pauseConditions === undefined) delete st.pauseConditions;

    const weight = st.abort === true || st.stableRS === hash ? 0 : weightAt(steps, index);
    canaryStatus.weights = {
      canary: { weight, podTemplateHash: hash, serviceName: `${name}-canary` },
      stable: { weight: 100 - weight, podTemplateHash: String(st.stableRS), serviceName: `${name}-stable` },
    };
    st.canary = canaryStatus;
    const replicas = Number(spec.replicas ?? 1);
    Object.assign(st, { replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas });
    if (st.abort === true) {
      st.phase = "Degraded";
      const cause =
        abortCause ||
        (typeof st.message === "string" && st.message.includes(":", 15)
          ? String(st.message).replace(/^RolloutAborted: Rollout aborted update to revision \d+/, "")
          : "");
      st.message = `RolloutAborted: Rollout aborted update to revision ${revision}${cause}`;
    } else if (spec.paused === true) {
      st.phase = "Paused";
      st.message = "manually paused";
    } else if (Array.isArray(st.pauseConditions) && st.pauseConditions.length) {
      st.phase = "Paused";
      st.message = String((st.pauseConditions[0] as Obj).reason);
    } else if (st.stableRS !== hash) {
      st.phase = "Progressing";
      st.message = "waiting for all steps to complete";
    } else {
      st.phase = "Healthy";
      st.message = "";
    }
    return this.kube.setStatus("rollouts", namespace, name, st);
  }

  private startRun(namespace: string, runName: string, hash: string, revision: number, index: number, step: Obj): KubeObject {
    const templates = isObj(step.analysis) && Array.isArray(step.analysis.templates) ? step.analysis.templates : [];
    return this.kube.seed("analysisruns", namespace, {
      apiVersion: "argoproj.io/v1alpha1",
      kind: "AnalysisRun",
      metadata: {
        name: runName,
        labels: { "rollouts-pod-template-hash": hash, "rollout-type": "Step", "step-index": String(index) },
        annotations: { "rollout.argoproj.io/revision": String(revision), templates: JSON.stringify(templates) },
      },
      spec: {
        metrics: [
          {
            name: "success-rate",
            interval: "30s",
            count: 3,
            successCondition: "result[0] >= 0.95",
            provider: { prometheus: { address: "http://prometheus:9090", query: "sum(rate(ok[1m]))/sum(rate(all[1m]))" } },
          },
        ],
      },
      status: { phase: "Running", metricResults: [] },
    });
  }

  /** The run's next measurement, toward the chosen outcome; returns its phase. */
  private finishRun(namespace: string, run: KubeObject): string {
    const status = isObj(run.status) ? run.status : {};
    if (status.phase === "Successful" || status.phase === "Failed") return String(status.phase);
    const outcome = this.analysis;
    const phase = outcome === "Running" ? "Running" : outcome;
    const value = outcome === "Failed" ? "[0.81]" : "[0.99]";
    const name = String(run.metadata?.name);
    this.kube.edit("analysisruns", namespace, name, (o) => {
      o.status = {
        phase,
        ...(outcome === "Failed" ? { message: 'metric "success-rate" assessed Failed due to failed (1) > failureLimit (0)' } : {}),
        metricResults: [
          {
            name: "success-rate",
            phase,
            count: outcome === "Running" ? 1 : 3,
            successful: outcome === "Failed" ? 0 : outcome === "Running" ? 1 : 3,
            failed: outcome === "Failed" ? 1 : 0,
            measurements: [{ phase: outcome === "Failed" ? "Failed" : "Successful", value, startedAt: iso(this.now()), finishedAt: iso(this.now()) }],
          },
        ],
      };
    });
    return phase;
  }
}

function weightAt(steps: Obj[], index: number): number {
  let w = 0;
  for (let i = 0; i < Math.min(index, steps.length); i++) if (typeof steps[i]!.setWeight === "number") w = steps[i]!.setWeight as number;
  // The step being run counts once reached (setWeight is done at once; a pause holds the last weight).
  return w;
}

function durationMs(d: unknown): number | undefined {
  if (typeof d === "number") return d * 1000;
  if (typeof d !== "string") return undefined;
  const m = /^(\d+)(s|m|h)?$/.exec(d);
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === "m" ? 60_000 : m[2] === "h" ? 3_600_000 : 1000);
}

/** The controller's pod-template hash (the real one is FNV of the template; any stable short hash does here). */
export function podHash(template: unknown): string {
  return createHash("sha256").update(JSON.stringify(template)).digest("hex").slice(0, 10);
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

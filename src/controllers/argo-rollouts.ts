/**
 * Argo Rollouts, as the bot reads and steers it: read a Rollout and its current AnalysisRun into an
 * `ArgoState` (PROGRESSIVE-DELIVERY.md 1.4, 1.8), and send exactly the requests `kubectl argo rollouts`
 * sends (1.5): JSON merge patches to `/status` first (the main resource on 404, as the plugin falls back),
 * then `spec.paused` on the main resource. Nothing else of the Rollout is ever written. What to send is
 * decided in the app layer and recorded by the engine; this file only speaks the wire.
 *
 * The bot follows a Rollout by reading it on an interval (a GET, plus one for the AnalysisRun), not a watch:
 * the message needs the AnalysisRun too, a GET answers the same after a restart or an API outage with no
 * resourceVersion to resume, and one GET per target every few seconds is little load for the API server.
 */
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { z } from "zod";
import type { ArgoAction, ArgoAnalysis, ArgoState, ArgoStep } from "../engine/argo-types.ts";
import { KubeApiError, kubeCall, DEFAULT_KUBE_TIMEOUT_MS } from "../kube/call.ts";

export const ARGO_GROUP = "argoproj.io";
export const ARGO_VERSION = "v1alpha1";
const MERGE = "application/merge-patch+json";

const Int = z.number().int();
const PauseCondition = z.looseObject({ reason: z.string(), startTime: z.string().optional() });
const Step = z.looseObject({
  setWeight: Int.optional(),
  pause: z.looseObject({ duration: z.union([z.string(), Int]).optional() }).optional(),
  analysis: z.looseObject({ templates: z.array(z.looseObject({ templateName: z.string().optional() })).optional() }).optional(),
  setHeaderRoute: z.looseObject({ name: z.string().optional() }).optional(),
  setMirrorRoute: z.looseObject({ name: z.string().optional() }).optional(),
  setCanaryScale: z.unknown().optional(),
  experiment: z.unknown().optional(),
  plugin: z.looseObject({ name: z.string().optional() }).optional(),
});
const RunStatus = z.looseObject({ name: z.string(), status: z.string().optional(), message: z.string().optional() });
const Weight = z.looseObject({ weight: Int.optional() });

/** The fields of a Rollout the bot reads; anything else passes through unread. */
export const RolloutObject = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    generation: Int.optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.looseObject({
    replicas: Int.optional(),
    paused: z.boolean().optional(),
    template: z.looseObject({ spec: z.looseObject({ containers: z.array(z.looseObject({ image: z.string().optional() })).optional() }).optional() }).optional(),
    strategy: z.looseObject({
      canary: z.looseObject({ steps: z.array(Step).optional() }).optional(),
      blueGreen: z.unknown().optional(),
    }),
  }),
  status: z
    .looseObject({
      phase: z.string().optional(),
      message: z.string().optional(),
      observedGeneration: z.string().optional(),
      currentPodHash: z.string().optional(),
      stableRS: z.string().optional(),
      currentStepIndex: Int.optional(),
      pauseConditions: z.array(PauseCondition).nullish(),
      controllerPause: z.boolean().optional(),
      abort: z.boolean().optional(),
      abortedAt: z.string().nullish(),
      replicas: Int.optional(),
      updatedReplicas: Int.optional(),
      readyReplicas: Int.optional(),
      availableReplicas: Int.optional(),
      canary: z
        .looseObject({
          weights: z.looseObject({ canary: Weight, stable: Weight }).optional(),
          currentStepAnalysisRunStatus: RunStatus.optional(),
          currentBackgroundAnalysisRunStatus: RunStatus.optional(),
        })
        .optional(),
    })
    .optional(),
});
export type RolloutObject = z.infer<typeof RolloutObject>;

const AnalysisRunObject = z.looseObject({
  metadata: z.looseObject({ name: z.string() }),
  status: z
    .looseObject({
      phase: z.string().optional(),
      message: z.string().optional(),
      metricResults: z
        .array(
          z.looseObject({
            name: z.string(),
            phase: z.string().optional(),
            count: Int.optional(),
            successful: Int.optional(),
            failed: Int.optional(),
            measurements: z.array(z.looseObject({ value: z.string().optional(), phase: z.string().optional() })).optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});

export type ArgoRead =
  | { kind: "ok"; state: ArgoState }
  | { kind: "not-found" }
  /** The bot steers canary Rollouts only (see docs/routers/argo-rollouts.md). */
  | { kind: "blue-green" }
  | { kind: "unreadable"; message: string };

export type SendOutcome = { sent: true; requests: number } | { sent: false; why: "moved-on" | "new-revision" | "not-found" | "no-op"; now?: number };

/** `pause.duration`: seconds as a number, or a Go duration string ("30s", "5m", "1h", digits = seconds). */
export function pauseDurationMs(d: string | number | undefined): number | undefined {
  if (d === undefined) return undefined;
  if (typeof d === "number") return d * 1000;
  if (/^\d+$/.test(d)) return Number(d) * 1000;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(d);
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}

function stepOf(s: z.infer<typeof Step>): ArgoStep {
  if (s.setWeight !== undefined) return { kind: "setWeight", weight: s.setWeight };
  if (s.pause !== undefined) {
    const ms = pauseDurationMs(s.pause.duration);
    return ms !== undefined ? { kind: "pause", durationMs: ms } : { kind: "pause" };
  }
  if (s.analysis !== undefined) return { kind: "analysis", templates: (s.analysis.templates ?? []).flatMap((t) => (t.templateName ? [t.templateName] : [])) };
  if (s.setHeaderRoute !== undefined) return { kind: "setHeaderRoute", name: s.setHeaderRoute.name ?? "" };
  if (s.setMirrorRoute !== undefined) return { kind: "setMirrorRoute", name: s.setMirrorRoute.name ?? "" };
  if (s.setCanaryScale !== undefined) return { kind: "setCanaryScale" };
  if (s.experiment !== undefined) return { kind: "experiment" };
  return { kind: "plugin", name: s.plugin?.name ?? "" };
}

/** A Rollout (and its step or background AnalysisRun) as the engine sees it. Pure. */
export function argoStateOf(ro: RolloutObject, run?: z.infer<typeof AnalysisRunObject>): ArgoState {
  const st = ro.status ?? {};
  const steps = (ro.spec.strategy.canary?.steps ?? []).map(stepOf);
  const stepIndex = st.currentStepIndex ?? 0;
  const pauseReasons = (st.pauseConditions ?? []).map((p) => ({ reason: p.reason, startTime: p.startTime ? Date.parse(p.startTime) : 0 }));
  const current = steps[stepIndex];
  const stepPause = pauseReasons.find((p) => p.reason === "CanaryPauseStep");
  const pauseEndsAt = current?.kind === "pause" && current.durationMs !== undefined && stepPause ? stepPause.startTime + current.durationMs : undefined;
  const w = st.canary?.weights;
  const desired = ro.spec.replicas ?? 1;
  const og = st.observedGeneration !== undefined ? Number(st.observedGeneration) : null;
  return {
    generation: ro.metadata.generation ?? 0,
    observedGeneration: og !== null && Number.isFinite(og) ? og : null,
    revision: ro.metadata.annotations?.["rollout.argoproj.io/revision"] ?? "?",
    podHash: st.currentPodHash ?? "",
    stableHash: st.stableRS ?? "",
    ...(ro.spec.template?.spec?.containers?.[0]?.image ? { image: ro.spec.template.spec.containers[0].image } : {}),
    steps,
    stepIndex,
    phase: st.phase ?? "Progressing",
    message: st.message ?? "",
    paused: ro.spec.paused === true,
    pauseReasons,
    ...(pauseEndsAt !== undefined ? { pauseEndsAt } : {}),
    abort: st.abort === true,
    ...(st.abort === true && st.abortedAt ? { abortReconciled: true } : {}),
    ...(w ? { weights: { canary: w.canary.weight ?? 0, stable: w.stable.weight ?? 0 } } : {}),
    replicas: { desired, ready: st.readyReplicas ?? 0, updated: st.updatedReplicas ?? 0, available: st.availableReplicas ?? 0 },
    ...(run ? { analysis: analysisOf(run) } : {}),
  };
}

function analysisOf(run: z.infer<typeof AnalysisRunObject>): ArgoAnalysis {
  const s = run.status ?? {};
  return {
    name: run.metadata.name,
    phase: s.phase ?? "Pending",
    ...(s.message ? { message: s.message } : {}),
    metrics: (s.metricResults ?? []).map((m) => {
      const last = m.measurements?.at(-1)?.value;
      return {
        name: m.name,
        phase: m.phase ?? "Pending",
        ...(last !== undefined ? { last } : {}),
        successful: m.successful ?? 0,
        failed: m.failed ?? 0,
        count: m.count ?? 0,
      };
    }),
  };
}

/**
 * The status body `kubectl argo rollouts promote` sends, decided from the Rollout it just read
 * (`getPatches`, PROGRESSIVE-DELIVERY.md 1.5), or undefined when it sends none.
 */
export function promoteStatusBody(ro: RolloutObject): Record<string, unknown> | undefined {
  const st = ro.status ?? {};
  const steps = ro.spec.strategy.canary?.steps;
  const i = st.currentStepIndex ?? 0;
  const next = steps ? Math.min(i + 1, steps.length) : i;
  const paused = (st.pauseConditions ?? []).length > 0;
  if (ro.spec.strategy.canary && st.canary?.currentStepAnalysisRunStatus?.status === "Inconclusive" && paused && st.controllerPause) {
    return { status: { pauseConditions: null, controllerPause: false, currentStepIndex: next } };
  }
  if (paused) return { status: { pauseConditions: null } };
  if (ro.spec.strategy.canary && steps && steps.length > 0) return { status: { pauseConditions: null, currentStepIndex: next } };
  return undefined;
}

/** One request as sent, for tests and the log: which resource, and the merge patch. */
export type SentRequest = { subresource?: "status"; body: Record<string, unknown> };

export class ArgoRolloutsClient {
  private readonly api: CustomObjectsApi;
  private readonly timeoutMs: number;

  constructor(kubeConfig: KubeConfig, opts: { timeoutMs?: number } = {}) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_KUBE_TIMEOUT_MS;
  }

  private async getRollout(namespace: string, name: string): Promise<RolloutObject | undefined> {
    try {
      const raw: unknown = await kubeCall(
        `read Rollout ${namespace}/${name}`,
        (o) => this.api.getNamespacedCustomObject({ group: ARGO_GROUP, version: ARGO_VERSION, namespace, plural: "rollouts", name }, o),
        { timeoutMs: this.timeoutMs },
      );
      return RolloutObject.parse(raw);
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  /** The Rollout and its current AnalysisRun (the step's, else the background one's). */
  async read(namespace: string, name: string): Promise<ArgoRead> {
    let ro: RolloutObject | undefined;
    try {
      ro = await this.getRollout(namespace, name);
    } catch (err) {
      if (err instanceof z.ZodError) return { kind: "unreadable", message: err.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") };
      throw err;
    }
    if (!ro) return { kind: "not-found" };
    if (ro.spec.strategy.blueGreen !== undefined && !ro.spec.strategy.canary) return { kind: "blue-green" };
    const runRef = ro.status?.canary?.currentStepAnalysisRunStatus ?? ro.status?.canary?.currentBackgroundAnalysisRunStatus;
    let run: z.infer<typeof AnalysisRunObject> | undefined;
    if (runRef?.name) {
      try {
        const raw: unknown = await kubeCall(
          `read AnalysisRun ${namespace}/${runRef.name}`,
          (o) => this.api.getNamespacedCustomObject({ group: ARGO_GROUP, version: ARGO_VERSION, namespace, plural: "analysisruns", name: runRef.name }, o),
          { timeoutMs: this.timeoutMs },
        );
        run = AnalysisRunObject.parse(raw);
      } catch (err) {
        // The run may be gone (TTL) or not yet readable: the Rollout's own summary of it still shows.
        if (!(err instanceof KubeApiError && err.code === 404) && !(err instanceof z.ZodError)) throw err;
        run = { metadata: { name: runRef.name }, status: { phase: runRef.status ?? "Pending", ...(runRef.message ? { message: runRef.message } : {}) } };
      }
    }
    return { kind: "ok", state: argoStateOf(ro, run) };
  }

  /**
   * Send `action` for the revision `podHash` at step `step` (the step the person saw): the Rollout is read
   * first (as `promote` does) and nothing is sent when it has moved on or started another revision.
   */
  async send(namespace: string, name: string, action: ArgoAction, expect: { podHash: string; step: number }): Promise<SendOutcome> {
    const ro = await this.getRollout(namespace, name);
    if (!ro) return { sent: false, why: "not-found" };
    const st = ro.status ?? {};
    if ((st.currentPodHash ?? "") !== expect.podHash) return { sent: false, why: "new-revision" };
    const steps = ro.spec.strategy.canary?.steps ?? [];
    const shown = Math.min(st.currentStepIndex ?? 0, Math.max(0, steps.length - 1));
    if ((action === "promote" || action === "promote-full") && shown !== expect.step) return { sent: false, why: "moved-on", now: st.currentStepIndex ?? 0 };
    const requests = planRequests(ro, action);
    if (!requests.length) return { sent: false, why: "no-op" };
    for (const r of requests) await this.patch(namespace, name, r, requests);
    return { sent: true, requests: requests.length };
  }

  /** One merge patch; a 404 from `/status` (a CRD without the subresource) goes to the main resource, as the plugin does. */
  private async patch(namespace: string, name: string, r: SentRequest, all: SentRequest[]): Promise<void> {
    const args = { group: ARGO_GROUP, version: ARGO_VERSION, namespace, plural: "rollouts", name, body: r.body };
    const opts = { timeoutMs: this.timeoutMs, contentType: MERGE };
    if (r.subresource !== "status") {
      await kubeCall(`patch Rollout ${namespace}/${name}`, (o) => this.api.patchNamespacedCustomObject(args, o), opts);
      return;
    }
    try {
      await kubeCall(`patch Rollout ${namespace}/${name}/status`, (o) => this.api.patchNamespacedCustomObjectStatus(args, o), opts);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.code === 404 && err.resourceNotServed)) throw err;
      // The unified body the plugin sends to the main resource instead; the spec part is then already in it.
      const spec = all.find((x) => x.subresource !== "status")?.body.spec;
      const body = { ...r.body, ...(spec ? { spec } : {}) };
      all.splice(all.indexOf(r) + 1);
      await kubeCall(`patch Rollout ${namespace}/${name}`, (o) => this.api.patchNamespacedCustomObject({ ...args, body }, o), opts);
    }
  }
}

/** The requests the plugin (or, for resume, Argo CD's action) sends for `action`, in order. Pure. */
export function planRequests(ro: RolloutObject, action: ArgoAction): SentRequest[] {
  const st = ro.status ?? {};
  const unpause: SentRequest[] = ro.spec.paused ? [{ body: { spec: { paused: false } } }] : [];
  switch (action) {
    case "promote": {
      const body = promoteStatusBody(ro);
      return [...(body ? [{ subresource: "status" as const, body }] : []), ...unpause];
    }
    case "promote-full":
      return [
        ...((st.currentPodHash ?? "") !== (st.stableRS ?? "") ? [{ subresource: "status" as const, body: { status: { promoteFull: true } } }] : []),
        ...unpause,
      ];
    case "abort":
      return [{ subresource: "status", body: { status: { abort: true } } }];
    case "retry":
      return [{ subresource: "status", body: { status: { abort: false } } }];
    case "pause":
      return [{ body: { spec: { paused: true } } }];
    case "resume":
      return [...((st.pauseConditions ?? []).length ? [{ subresource: "status" as const, body: { status: { pauseConditions: null } } }] : []), ...unpause];
  }
}

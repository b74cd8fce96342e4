/**
 * `--image`: the Kubernetes side of deploying the new version. Reads the stable version's Deployment and
 * Service whole (they are copied), applies the copies server-side under the bot's field manager, reads how
 * the new Deployment and its pods are doing, and removes objects by name with the uid it read as a
 * precondition (so an object someone re-created meanwhile is never the one removed). What may be copied,
 * applied or removed is decided in src/engine/deploy.ts; a missing object is `undefined`, any other failure
 * a KubeApiError.
 */
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Deployment, type V1Pod, type V1Service } from "@kubernetes/client-node";
import type { K8sObject, PodFacts, RolloutFacts } from "../engine/deploy.ts";
import type { GitopsSettings } from "../engine/ownership.ts";
import { KubeApiError, kubeCall } from "./call.ts";

export type DeployKindName = { kind: "Deployment" | "Service"; namespace: string; name: string };

export type DeployApi = {
  read(what: DeployKindName): Promise<K8sObject | undefined>;
  /** Server-side apply (never forced: a field another manager owns is a conflict, not taken over). */
  apply(obj: K8sObject): Promise<K8sObject>;
  facts(namespace: string, deployment: string): Promise<RolloutFacts | undefined>;
  /** Delete, only the object with this uid; true when it was there to delete. */
  remove(what: DeployKindName, uid: string): Promise<boolean>;
};

type Options = { timeoutMs: number; fieldManager: string };

/** What the worker needs to deploy a new version and remove objects (src/queue/jobs/deploy.ts). */
export type DeployDeps = {
  api: DeployApi;
  /** The bot's field manager: the value of the managed-by label on what it makes. */
  fieldManager: string;
  gitops: GitopsSettings;
  /** How often a deploying rollout's pods are looked at (default 2 s). */
  pollMs?: number;
};

const APPLY = "application/apply-patch+yaml";

export class KubeDeployApi implements DeployApi {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;

  constructor(
    kubeConfig: KubeConfig,
    private readonly opts: Options,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
  }

  async read({ kind, namespace, name }: DeployKindName): Promise<K8sObject | undefined> {
    const what = `read ${kind} ${namespace}/${name}`;
    const call =
      kind === "Deployment"
        ? kubeCall(what, (o) => this.apps.readNamespacedDeployment({ namespace, name }, o), this.opts)
        : kubeCall(what, (o) => this.core.readNamespacedService({ namespace, name }, o), this.opts);
    const obj = await missingIsUndefined<V1Deployment | V1Service>(call);
    return obj ? plain(obj, kind) : undefined;
  }

  async apply(obj: K8sObject): Promise<K8sObject> {
    const m = obj.metadata ?? {};
    const namespace = String(m.namespace);
    const name = String(m.name);
    const common = { namespace, name, fieldManager: this.opts.fieldManager, force: false };
    const opts = { ...this.opts, contentType: APPLY };
    if (obj.kind === "Deployment") {
      const out = await kubeCall(`apply Deployment ${namespace}/${name}`, (o) => this.apps.patchNamespacedDeployment({ ...common, body: obj }, o), opts);
      return plain(out, "Deployment");
    }
    const out = await kubeCall(`apply Service ${namespace}/${name}`, (o) => this.core.patchNamespacedService({ ...common, body: obj }, o), opts);
    return plain(out, "Service");
  }

  async facts(namespace: string, name: string): Promise<RolloutFacts | undefined> {
    const d = await missingIsUndefined(
      kubeCall(`read Deployment ${namespace}/${name}`, (o) => this.apps.readNamespacedDeployment({ namespace, name }, o), this.opts),
    );
    if (!d) return undefined;
    const match = d.spec?.selector?.matchLabels ?? {};
    const labelSelector = Object.entries(match)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    // Only the pods of the Deployment's current template: an older ReplicaSet's pods say nothing about the image.
    const pods = labelSelector
      ? await kubeCall(`list pods of Deployment ${namespace}/${name}`, (o) => this.core.listNamespacedPod({ namespace, labelSelector }, o), this.opts)
      : { items: [] as V1Pod[] };
    const progressing = d.status?.conditions?.find((c) => c.type === "Progressing");
    return {
      generation: d.metadata?.generation ?? 0,
      observedGeneration: d.status?.observedGeneration ?? 0,
      replicas: d.spec?.replicas ?? 1,
      updatedReplicas: d.status?.updatedReplicas ?? 0,
      readyReplicas: d.status?.readyReplicas ?? 0,
      availableReplicas: d.status?.availableReplicas ?? 0,
      ...(progressing?.status === "False" && progressing.reason === "ProgressDeadlineExceeded"
        ? { progressDeadlineExceeded: progressing.message ?? `Deployment "${name}" has timed out progressing.` }
        : {}),
      pods: pods.items.map(podFacts),
    };
  }

  async remove({ kind, namespace, name }: DeployKindName, uid: string): Promise<boolean> {
    const what = `delete ${kind} ${namespace}/${name}`;
    // Foreground: the Deployment's ReplicaSets and pods go with it rather than being left to the garbage collector's schedule.
    const body = { preconditions: { uid }, propagationPolicy: "Foreground" };
    const call =
      kind === "Deployment"
        ? kubeCall(what, (o) => this.apps.deleteNamespacedDeployment({ namespace, name, body }, o), this.opts)
        : kubeCall(what, (o) => this.core.deleteNamespacedService({ namespace, name, body }, o), this.opts);
    return (await missingIsUndefined<unknown>(call)) !== undefined;
  }
}

function podFacts(p: V1Pod): PodFacts {
  const scheduled = p.status?.conditions?.find((c) => c.type === "PodScheduled");
  return {
    name: p.metadata?.name ?? "",
    ...(p.status?.phase ? { phase: p.status.phase } : {}),
    ...(scheduled?.status === "False" && scheduled.reason === "Unschedulable" ? { unschedulable: scheduled.message ?? "no node can run the pod" } : {}),
    containers: (p.status?.containerStatuses ?? []).map((c) => {
      const w = c.state?.waiting;
      const t = c.lastState?.terminated;
      return {
        name: c.name,
        ready: c.ready,
        restarts: c.restartCount,
        ...(w?.reason ? { waiting: { reason: w.reason, ...(w.message ? { message: w.message } : {}) } } : {}),
        ...(t ? { lastTerminated: { ...(t.reason ? { reason: t.reason } : {}), exitCode: t.exitCode } } : {}),
      };
    }),
  };
}

/** The client's model as the plain object the API sent (dates back to strings), so the copy is what was read. */
function plain(obj: V1Deployment | V1Service, kind: "Deployment" | "Service"): K8sObject {
  const json = JSON.parse(JSON.stringify(obj)) as K8sObject;
  return { ...json, apiVersion: kind === "Deployment" ? "apps/v1" : "v1", kind };
}

async function missingIsUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof KubeApiError && err.code === 404 && !err.resourceNotServed && !err.namespaceMissing) return undefined;
    throw err;
  }
}

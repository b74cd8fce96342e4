/**
 * Replica counts of a version's Deployment, through the `scale` subresource: the narrowest permission
 * (deployments/scale) and the one field cleanup needs. Used by "cleanup: scale-down" after a rollout
 * finished, and to remember what to scale back to.
 */
import { AppsV1Api, type KubeConfig, type V1Scale } from "@kubernetes/client-node";
import { KubeApiError, kubeCall } from "./call.ts";

export type ReplicaCount = {
  /** spec.replicas: what the Deployment asks for. */
  desired: number;
  /** status.replicas: pods that exist now. */
  current: number;
};

export type ScaleResult = { from: number; to: number; changed: boolean };

type Options = { timeoutMs?: number };

function countOf(scale: V1Scale): ReplicaCount {
  return { desired: scale.spec?.replicas ?? 0, current: scale.status?.replicas ?? 0 };
}

export async function getDeploymentReplicas(kc: KubeConfig, namespace: string, name: string, opts: Options = {}): Promise<ReplicaCount> {
  const api = kc.makeApiClient(AppsV1Api);
  const scale = await kubeCall(`read scale of Deployment ${namespace}/${name}`, (o) => api.readNamespacedDeploymentScale({ namespace, name }, o), opts);
  return countOf(scale);
}

/**
 * Set spec.replicas. Reads first so the caller learns the previous count (to undo a scale-down) and so
 * nothing is written when the count is already right; the write carries the read's resourceVersion, and a
 * conflict (someone scaled in between) is retried once against the newer state.
 */
export async function scaleDeployment(kc: KubeConfig, namespace: string, name: string, replicas: number, opts: Options = {}): Promise<ScaleResult> {
  if (!Number.isInteger(replicas) || replicas < 0) throw new RangeError(`replicas must be a whole number >= 0 (got ${replicas})`);
  const api = kc.makeApiClient(AppsV1Api);
  const what = `scale Deployment ${namespace}/${name} to ${replicas}`;
  for (let attempt = 0; ; attempt++) {
    const scale = await kubeCall(what, (o) => api.readNamespacedDeploymentScale({ namespace, name }, o), opts);
    const from = countOf(scale).desired;
    if (from === replicas) return { from, to: replicas, changed: false };
    const body: V1Scale = {
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: { name, namespace, resourceVersion: scale.metadata?.resourceVersion },
      spec: { replicas },
    };
    try {
      await kubeCall(what, (o) => api.replaceNamespacedDeploymentScale({ namespace, name, body }, o), opts);
      return { from, to: replicas, changed: true };
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 409 && attempt === 0) continue;
      throw err;
    }
  }
}

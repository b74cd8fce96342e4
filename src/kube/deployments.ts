/**
 * Replica counts of a version's Deployment, through the `scale` subresource: the narrowest permission
 * (deployments/scale) and the one field cleanup needs. Used by "cleanup: scale-down" after a rollout
 * finished, and to remember what to scale back to. The write is a server-side apply of the Scale under the
 * bot's field manager (../shared/reference/PROGRESSIVE-DELIVERY.md §5): another manager owning
 * `spec.replicas` (an HPA through the scale subresource, Argo CD or Flux through the Deployment) is named,
 * never forced; a count last set by hand (`kubectl apply`, `kubectl scale`, the helm CLI) is taken, and said.
 */
import { AppsV1Api, type KubeConfig, type V1Scale } from "@kubernetes/client-node";
import { APPLY_PATCH } from "./apply.ts";
import { KubeApiError, kubeCall } from "./call.ts";

export type ReplicaCount = {
  /** spec.replicas: what the Deployment asks for. */
  desired: number;
  /** status.replicas: pods that exist now. */
  current: number;
};

export type ScaleResult = {
  from: number;
  to: number;
  changed: boolean;
  /** Managers the write took spec.replicas from: one-shot client tools only (kubectl, the helm CLI). */
  tookFrom?: string[];
};

/**
 * Managers that are a person's one-shot tool, not a controller that will write the count back: taking
 * `spec.replicas` from them is what `kubectl scale` does. A controller (Argo CD, Flux, an HPA through
 * kube-controller-manager) or any manager the bot does not know is never forced.
 */
export function isOneShotTool(manager: string): boolean {
  return manager === "kubectl" || manager.startsWith("kubectl-") || manager === "helm";
}

type Options = { timeoutMs?: number; fieldManager?: string };

/**
 * The apply was refused: other field managers own `spec.replicas` with another value. Nothing was written or
 * forced; trying again changes nothing until that owner lets go.
 */
export class ReplicasOwnedError extends Error {
  readonly transient = false;
  constructor(
    readonly managers: string[],
    readonly detail: string,
  ) {
    super(
      `its spec.replicas is owned by ${managers.map((m) => `\`${m}\``).join(", ") || "another field manager"} (${detail}): the bot does not take it by force, nothing was changed. Scale it down through its owner (an HPA's minReplicas, the manifest in git), or by hand`,
    );
  }
}

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
 * nothing is written when the count is already right; the write is a server-side apply of the Scale
 * (`fieldManager`, `rollout-bot` unless configured) carrying the read's resourceVersion, and a stale read
 * (someone scaled in between) is retried once against the newer state. Fields another manager owns are a
 * ReplicasOwnedError; the bot's own (a Deployment it applied with `--image`) are taken back, and so are a one-shot tool's
 * (`tookFrom`).
 */
export async function scaleDeployment(kc: KubeConfig, namespace: string, name: string, replicas: number, opts: Options = {}): Promise<ScaleResult> {
  if (!Number.isInteger(replicas) || replicas < 0) throw new RangeError(`replicas must be a whole number >= 0 (got ${replicas})`);
  const api = kc.makeApiClient(AppsV1Api);
  const what = `scale Deployment ${namespace}/${name} to ${replicas}`;
  const fieldManager = opts.fieldManager ?? "rollout-bot";
  let force = false;
  let tookFrom: string[] = [];
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
      await kubeCall(what, (o) => api.patchNamespacedDeploymentScale({ namespace, name, body, fieldManager, force }, o), {
        ...opts,
        contentType: APPLY_PATCH,
      });
      return { from, to: replicas, changed: true, ...(tookFrom.length ? { tookFrom } : {}) };
    } catch (err) {
      const owned = err instanceof KubeApiError ? err.fieldConflict : undefined;
      if (owned) {
        // The bot's own apply of the Deployment (`--image`) owns replicas under another subresource: ours to take.
        // A count set by hand (kubectl, the helm CLI) is taken, as `kubectl scale` would; the caller says so.
        if (!force && owned.managers.every((m) => m === fieldManager || isOneShotTool(m))) {
          force = true;
          tookFrom = owned.managers.filter((m) => m !== fieldManager);
          continue;
        }
        throw new ReplicasOwnedError(owned.managers, (err as KubeApiError).failure.message);
      }
      if (err instanceof KubeApiError && err.code === 409 && attempt === 0) continue;
      throw err;
    }
  }
}

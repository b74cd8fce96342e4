/**
 * `gitops: pause` for Flux: the object gets `kustomize.toolkit.fluxcd.io/reconcile: disabled` for the
 * rollout (kustomize-controller then neither applies nor prunes it) and loses it at the end. A second
 * annotation names the rollout, so the end takes off only a pause the bot set, never one a person set.
 * Merge patches of metadata.annotations only: nothing else of the object is touched.
 */
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { FLUX_RECONCILE, type PausedObject } from "../engine/ownership.ts";
import { KubeApiError, kubeCall } from "./call.ts";

/** Which rollout set the pause. */
export const PAUSED_FOR = "rollout-bot.io/paused-for";

export type { PausedObject } from "../engine/ownership.ts";

export class GitopsPause {
  private readonly objects: CustomObjectsApi;

  constructor(
    kubeConfig: KubeConfig,
    private readonly opts: { timeoutMs: number },
  ) {
    this.objects = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  private patch(o: PausedObject, annotations: Record<string, string | null>, what: string): Promise<unknown> {
    return kubeCall(
      `${what} ${o.kind} ${o.namespace}/${o.name}`,
      (opts) =>
        this.objects.patchNamespacedCustomObject(
          { group: o.group, version: o.version, namespace: o.namespace, plural: o.plural, name: o.name, body: { metadata: { annotations } } },
          opts,
        ),
      { timeoutMs: this.opts.timeoutMs, contentType: "application/merge-patch+json" },
    );
  }

  /** Disable Flux's reconcile of the object for rollout `id`. */
  async pause(o: PausedObject, id: string): Promise<void> {
    await this.patch(o, { [FLUX_RECONCILE]: "disabled", [PAUSED_FOR]: id }, "pause Flux on");
  }

  /**
   * Take the pause off, if it is still the one rollout `id` set. A missing object has nothing to take off.
   * Resolves to what was found: "resumed", "not-ours" (a person changed it meanwhile: left alone), "gone".
   */
  async resume(o: PausedObject, id: string): Promise<"resumed" | "not-ours" | "gone"> {
    let current: unknown;
    try {
      current = await kubeCall(
        `read ${o.kind} ${o.namespace}/${o.name}`,
        (opts) => this.objects.getNamespacedCustomObject({ group: o.group, version: o.version, namespace: o.namespace, plural: o.plural, name: o.name }, opts),
        { timeoutMs: this.opts.timeoutMs },
      );
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return "gone";
      throw err;
    }
    const annotations = (current as { metadata?: { annotations?: Record<string, string> } }).metadata?.annotations ?? {};
    // Already off (a retry after the patch landed) is what was wanted; someone else's pause is left alone.
    if (annotations[PAUSED_FOR] === undefined && annotations[FLUX_RECONCILE] === undefined) return "resumed";
    if (annotations[PAUSED_FOR] !== id) return "not-ours";
    await this.patch(o, { [FLUX_RECONCILE]: null, [PAUSED_FOR]: null }, "resume Flux on");
    return "resumed";
  }
}

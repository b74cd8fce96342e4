/**
 * `gitops: pause` for Flux: the object gets `kustomize.toolkit.fluxcd.io/reconcile: disabled` for the
 * rollout (kustomize-controller then neither applies nor prunes it) and loses it at the end. A second
 * annotation names the rollout, so the end takes off only a pause the bot set, never one a person set.
 * Both are a server-side apply of exactly those two annotations under the pause's own field manager (the
 * bot's, with `-pause`: an apply owns exactly what it sends, so sharing the name with the weights' apply
 * would drop the weights); taking the pause off is an apply of neither, which removes only them.
 */
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { FLUX_RECONCILE, type PausedObject } from "../engine/ownership.ts";
import { APPLY_PATCH } from "./apply.ts";
import { KubeApiError, kubeCall } from "./call.ts";

/** Which rollout set the pause. */
export const PAUSED_FOR = "rollout-bot.io/paused-for";

/** The field manager the pause annotations are applied under (managedFields shows who set them). */
export function pauseManager(fieldManager: string): string {
  return `${fieldManager.slice(0, 122)}-pause`;
}

export type { PausedObject } from "../engine/ownership.ts";

export class GitopsPause {
  private readonly objects: CustomObjectsApi;

  constructor(
    kubeConfig: KubeConfig,
    private readonly opts: { timeoutMs: number; fieldManager?: string },
  ) {
    this.objects = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** Apply exactly these annotations (none: take off the ones this manager set). Never forced. */
  private apply(o: PausedObject, annotations: Record<string, string> | undefined, what: string): Promise<unknown> {
    const body = {
      apiVersion: `${o.group}/${o.version}`,
      kind: o.kind,
      metadata: { name: o.name, namespace: o.namespace, ...(annotations ? { annotations } : {}) },
    };
    const fieldManager = pauseManager(this.opts.fieldManager ?? "rollout-bot");
    return kubeCall(
      `${what} ${o.kind} ${o.namespace}/${o.name}`,
      (opts) =>
        this.objects.patchNamespacedCustomObject(
          { group: o.group, version: o.version, namespace: o.namespace, plural: o.plural, name: o.name, body, fieldManager, force: false },
          opts,
        ),
      { timeoutMs: this.opts.timeoutMs, contentType: APPLY_PATCH },
    );
  }

  /** Disable Flux's reconcile of the object for rollout `id`. */
  async pause(o: PausedObject, id: string): Promise<void> {
    await this.apply(o, { [FLUX_RECONCILE]: "disabled", [PAUSED_FOR]: id }, "pause Flux on");
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
    const after = await this.apply(o, undefined, "resume Flux on");
    // Still there: the annotations were not (only) this manager's, e.g. a pause set by an older bot with a
    // merge patch, or the same value set by someone else too. Ours by `paused-for`, so removed by name.
    const left = (after as { metadata?: { annotations?: Record<string, string> } }).metadata?.annotations ?? {};
    if (left[PAUSED_FOR] === id || left[FLUX_RECONCILE] !== undefined) {
      await kubeCall(
        `resume Flux on ${o.kind} ${o.namespace}/${o.name}`,
        (opts) =>
          this.objects.patchNamespacedCustomObject(
            {
              group: o.group,
              version: o.version,
              namespace: o.namespace,
              plural: o.plural,
              name: o.name,
              body: { metadata: { annotations: { [FLUX_RECONCILE]: null, [PAUSED_FOR]: null } } },
            },
            opts,
          ),
        { timeoutMs: this.opts.timeoutMs, contentType: "application/merge-patch+json" },
      );
    }
    return "resumed";
  }
}

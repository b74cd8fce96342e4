/**
 * The bot's writes to the objects it shifts, as server-side apply under its own field manager
 * (../shared/reference/PROGRESSIVE-DELIVERY.md §5): PATCH `application/apply-patch+yaml` with only the
 * fields the bot owns, `fieldManager=<configured, rollout-bot by default>`, `force` only when a person chose
 * to take the fields (Re-apply over an "owned" refusal, Abort). The resourceVersion just read goes in the
 * applied object, so the compare-and-set stays: a stale write is a 409 Conflict without causes (read again),
 * another manager's field is a 409 with `FieldManagerConflict` causes (RouterError "owned", see errors.ts).
 */
import type { CustomObjectsApi } from "@kubernetes/client-node";
import type { ApiDiscovery } from "./discovery.ts";
import { kubeRequest } from "./request.ts";

export const APPLY_PATCH = "application/apply-patch+yaml";

export type ApplyRequest = {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespace: string;
  name: string;
  /** Absent: create if missing (apply creates), else no precondition. */
  resourceVersion?: string | undefined;
  /** Metadata the bot owns besides identity (a created object's labels). */
  metadata?: Record<string, unknown>;
  /** Top-level fields the bot owns, e.g. `{ spec: { backends } }`: exactly what the manager will own. */
  fields: Record<string, unknown>;
  fieldManager: string;
  force: boolean;
  dryRun?: boolean;
};

/** The applied object: apiVersion, kind, identity (with the resourceVersion precondition) and the owned fields. */
export function appliedObject(req: ApplyRequest): Record<string, unknown> {
  return {
    apiVersion: `${req.group}/${req.version}`,
    kind: req.kind,
    metadata: {
      ...req.metadata,
      name: req.name,
      namespace: req.namespace,
      ...(req.resourceVersion ? { resourceVersion: req.resourceVersion } : {}),
    },
    ...req.fields,
  };
}

/** Send one server-side apply; failures as RouterError (409 "conflict" or "owned"). */
export function serverSideApply(
  objects: CustomObjectsApi,
  what: string,
  req: ApplyRequest,
  opts: { timeoutMs: number; discovery?: ApiDiscovery },
): Promise<unknown> {
  const { group, version, namespace, plural, name, fieldManager } = req;
  return kubeRequest(
    what,
    (o) =>
      objects.patchNamespacedCustomObject(
        {
          group,
          version,
          namespace,
          plural,
          name,
          body: appliedObject(req),
          fieldManager,
          force: req.force,
          ...(req.dryRun ? { dryRun: "All" } : {}),
        },
        o,
      ),
    { ...opts, contentType: APPLY_PATCH },
  );
}

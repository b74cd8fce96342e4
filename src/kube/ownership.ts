/**
 * Reads what decides who owns an object the bot writes: the object's labels, annotations and managedFields,
 * then each owner it names (the Argo CD Application, the Flux Kustomization or HelmRelease). What the facts
 * mean is decided in src/engine/ownership.ts. An owner the bot may not read (403) or whose CRD is not
 * served is reported as unreadable, never as absent; an API that does not answer now throws (retry later).
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import {
  ARGOCD_CM,
  ARGOCD_CM_PREFIX,
  ApplicationSpecSchema,
  ArgoCmRuleSchema,
  type ArgoCmRules,
  HelmReleaseSpecSchema,
  KustomizationSpecSchema,
  claimedOwners,
  driftAuthor,
  judgeOwnership,
  type DriftAuthor,
  type GitopsSettings,
  type ObjectSignals,
  type OwnerKind,
  type OwnerRead,
  type OwnerSpecs,
  type OwnershipVerdict,
  type WrittenAt,
  type WrittenObject,
} from "../engine/ownership.ts";
import type { GitopsPause } from "./gitops-pause.ts";
import { KubeApiError, kubeCall } from "./call.ts";
import { ApiDiscovery } from "./discovery.ts";

/** Where each owner's object is served. */
export const OWNER_APIS: Record<OwnerKind, { group: string; version: string; plural: string; kind: string }> = {
  argocd: { group: "argoproj.io", version: "v1alpha1", plural: "applications", kind: "Application" },
  "flux-kustomization": { group: "kustomize.toolkit.fluxcd.io", version: "v1", plural: "kustomizations", kind: "Kustomization" },
  "flux-helmrelease": { group: "helm.toolkit.fluxcd.io", version: "v2", plural: "helmreleases", kind: "HelmRelease" },
};

const SPEC_SCHEMAS = { argocd: ApplicationSpecSchema, "flux-kustomization": KustomizationSpecSchema, "flux-helmrelease": HelmReleaseSpecSchema } as const;

export type { WrittenAt } from "../engine/ownership.ts";

/** What the worker needs for the GitOps checks and `gitops: pause`. */
export type GitopsDeps = {
  ownership: OwnershipReader;
  pause: GitopsPause;
  /** The same for each other cluster the targets file declares, by name (these are the bot's own cluster's). */
  clusters?: ReadonlyMap<string, GitopsDeps>;
};

const MetaSchema = z.looseObject({
  metadata: z.looseObject({
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    managedFields: z
      .array(
        z.looseObject({
          manager: z.string().optional(),
          operation: z.string().optional(),
          time: z.string().optional(),
          subresource: z.string().optional(),
          fieldsV1: z.unknown().optional(),
        }),
      )
      .optional(),
  }),
});

/** The object's own ownership signals from a read of it (any version: metadata is the same in all). */
export function signalsOf(raw: unknown): ObjectSignals {
  const parsed = MetaSchema.safeParse(raw);
  if (!parsed.success) return { labels: {}, annotations: {}, managedFields: [] };
  const m = parsed.data.metadata;
  return {
    labels: m.labels ?? {},
    annotations: m.annotations ?? {},
    managedFields: (m.managedFields ?? []).flatMap((e) =>
      e.manager === undefined
        ? []
        : [
            {
              manager: e.manager,
              ...(e.operation ? { operation: e.operation } : {}),
              ...(e.time ? { time: e.time } : {}),
              ...(e.subresource ? { subresource: e.subresource } : {}),
              fieldsV1: e.fieldsV1,
            },
          ],
    ),
  };
}

export type OwnershipReaderOptions = { timeoutMs: number; settings: GitopsSettings; discovery?: ApiDiscovery };

export class OwnershipReader {
  private readonly objects: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly discovery: ApiDiscovery;

  constructor(
    kubeConfig: KubeConfig,
    private readonly opts: OwnershipReaderOptions,
  ) {
    this.objects = kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.discovery = opts.discovery ?? new ApiDiscovery(kubeConfig, { timeoutMs: opts.timeoutMs });
  }

  get settings(): GitopsSettings {
    return this.opts.settings;
  }

  /** The version the object is read and patched through: the first of its versions the cluster serves. */
  async servedVersion(obj: Pick<WrittenAt, "group" | "versions">): Promise<string> {
    return (await this.discovery.pick(obj.group, obj.versions)) ?? obj.versions[0]!;
  }

  /** The object as it is now, or undefined when it does not exist (yet: SMI creates its split). */
  async read(obj: WrittenAt): Promise<unknown> {
    const version = await this.servedVersion(obj);
    try {
      return await kubeCall(
        `read ${obj.kind} ${obj.namespace}/${obj.name}`,
        (o) => this.objects.getNamespacedCustomObject({ group: obj.group, version, namespace: obj.namespace, plural: obj.plural, name: obj.name }, o),
        { timeoutMs: this.opts.timeoutMs },
      );
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  /** One owner's spec: read, missing, or unreadable (403, CRD not served, anything else but an outage). */
  async ownerSpec(kind: OwnerKind, namespace: string, name: string): Promise<OwnerRead<Record<string, unknown>>> {
    const api = OWNER_APIS[kind];
    try {
      const raw = await kubeCall(
        `read ${api.kind} ${namespace}/${name}`,
        (o) => this.objects.getNamespacedCustomObject({ group: api.group, version: api.version, namespace, plural: api.plural, name }, o),
        { timeoutMs: this.opts.timeoutMs },
      );
      const spec = z.looseObject({ spec: SPEC_SCHEMAS[kind] }).safeParse(raw);
      if (!spec.success) return { state: "unreadable", why: "error", message: `${api.kind} ${namespace}/${name} has an unexpected spec` };
      return { state: "read", spec: spec.data.spec };
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.transient) throw err;
      if (err.code === 404 && !err.resourceNotServed) return { state: "missing" };
      const why = err.code === 403 ? "forbidden" : err.code === 404 ? "not-served" : "error";
      return { state: "unreadable", why, message: err.failure.message };
    }
  }

  /**
   * Argo CD's system-level ignore rules: the `resource.customizations.ignoreDifferences.*` keys of ConfigMap
   * `argocd-cm` in Argo CD's namespace (the only ConfigMap the bot may read). A key whose value does not parse
   * is left out (Argo CD would not apply it either); 403 and 404 are unreadable, never "no rules".
   */
  async argoCmRules(): Promise<OwnerRead<ArgoCmRules>> {
    const namespace = this.opts.settings.argocdNamespace;
    try {
      const cm = await kubeCall(`read ConfigMap ${namespace}/${ARGOCD_CM}`, (o) => this.core.readNamespacedConfigMap({ namespace, name: ARGOCD_CM }, o), {
        timeoutMs: this.opts.timeoutMs,
      });
      const rules: ArgoCmRules = {};
      for (const [key, value] of Object.entries(cm.data ?? {})) {
        if (!key.startsWith(ARGOCD_CM_PREFIX)) continue;
        let parsed: unknown;
        try {
          parsed = parseYaml(value);
        } catch {
          continue;
        }
        const rule = ArgoCmRuleSchema.safeParse(parsed);
        if (rule.success) rules[key] = rule.data;
      }
      return { state: "read", spec: rules };
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.transient) throw err;
      return { state: "unreadable", why: err.code === 403 ? "forbidden" : "error", message: err.failure.message };
    }
  }

  /** The verdict for an object as it is now; undefined when the object does not exist. */
  async judge(obj: WrittenAt): Promise<OwnershipVerdict | undefined> {
    return (await this.inspect(obj))?.verdict;
  }

  /** The object as read (what it holds now) and its verdict. */
  async inspect(obj: WrittenAt): Promise<{ raw: unknown; verdict: OwnershipVerdict } | undefined> {
    const raw = await this.read(obj);
    if (raw === undefined) return undefined;
    return { raw, verdict: await this.judgeRead(obj, signalsOf(raw)) };
  }

  /** Who last changed the bot's fields of the object (undefined: nobody else, or the object is gone). */
  async author(obj: WrittenAt): Promise<DriftAuthor | undefined> {
    const raw = await this.read(obj);
    if (raw === undefined) return undefined;
    const signals = signalsOf(raw);
    return driftAuthor(await this.judgeRead(obj, signals), signals, this.opts.settings);
  }

  /** The verdict from signals already read (a router's read of the object). */
  async judgeRead(obj: WrittenAt, signals: ObjectSignals): Promise<OwnershipVerdict> {
    const written: WrittenObject = { group: obj.group, kind: obj.kind, namespace: obj.namespace, name: obj.name, fields: obj.fields };
    const specs: OwnerSpecs = {};
    for (const owner of claimedOwners(written, signals, this.opts.settings)) {
      if (!owner.name || !owner.namespace || specs[owner.kind]) continue;
      (specs as Record<OwnerKind, unknown>)[owner.kind] = await this.ownerSpec(owner.kind, owner.namespace, owner.name);
      if (owner.kind === "argocd") specs["argocd-cm"] = await this.argoCmRules();
    }
    return judgeOwnership(written, signals, specs, this.opts.settings);
  }
}

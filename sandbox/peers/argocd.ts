/**
 * A local stand-in for Argo CD's application controller, acting on the Kubernetes API peer as the real one
 * acts on a cluster (../shared/reference/PROGRESSIVE-DELIVERY.md §3): each object it manages carries the
 * tracking annotation; every `intervalMs` it compares the live object with "git" (the manifest it was given),
 * leaving out what the Application's `ignoreDifferences` covers (JSON pointers, `managedFieldsManagers`),
 * and when they differ and the Application has automated sync with `selfHeal` it applies git back with
 * server-side apply under `argocd-controller`, forcing conflicts (`ServerSideApply=true` behaviour); with
 * `RespectIgnoreDifferences=true` the ignored fields keep their live values.
 * Written independently of the bot's own judgement (src/engine/ownership.ts), so tests of one check the other.
 */
import { parse as parseYaml } from "yaml";
import type { KubeApiPeer, KubeObject } from "./kube-api.ts";
import { argoCdConfigMap } from "./kube-api-gitops.ts";
import { fromFieldsV1, leafFields } from "./kube-api-managed.ts";
import { repeat } from "./repeat.ts";

export const ARGOCD_MANAGER = "argocd-controller";

type Managed = { app: string; plural: string; namespace: string; manifest: KubeObject };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export class ArgoCdPeer {
  private readonly managed: Managed[] = [];
  private stopRepeat: (() => void) | undefined;
  /** Self-heals done, newest last: what was put back and when. */
  readonly heals: { app: string; name: string; at: number }[] = [];

  constructor(
    private readonly kube: KubeApiPeer,
    private readonly opts: { namespace?: string; intervalMs?: number } = {},
  ) {
    // Argo CD's install creates its settings ConfigMap; system-level ignore rules go there.
    if (!kube.get("configmaps", this.namespace, "argocd-cm")) kube.seed("configmaps", this.namespace, argoCdConfigMap());
  }

  private get namespace(): string {
    return this.opts.namespace ?? "argocd";
  }

  /** Sync `manifest` (as git holds it) into the cluster for Application `app`, tracked by annotation. */
  manage(app: string, plural: string, manifest: KubeObject): KubeObject {
    const namespace = String(manifest.metadata?.namespace);
    const [group, kind] = [String(manifest.apiVersion).split("/").slice(0, -1).join("/"), String(manifest.kind)];
    const desired = structuredClone(manifest);
    const metadata = (desired.metadata ??= {});
    metadata.annotations = {
      ...(isRecord(metadata.annotations) ? metadata.annotations : {}),
      "argocd.argoproj.io/tracking-id": `${app}:${group}/${kind}:${namespace}/${String(metadata.name)}`,
    };
    const applied = this.kube.apply(plural, namespace, desired, { manager: ARGOCD_MANAGER, force: true });
    // Git's manifest as the API server stores it (defaults filled), so a comparison is not fooled by defaulting.
    desired.spec = structuredClone(applied.spec);
    const same = (x: Managed) => x.plural === plural && x.namespace === namespace && x.manifest.metadata?.name === desired.metadata?.name;
    this.managed.splice(0, this.managed.length, ...this.managed.filter((x) => !same(x)), { app, plural, namespace, manifest: desired });
    return applied;
  }

  start(): this {
    this.stopRepeat?.();
    this.stopRepeat = repeat(() => this.reconcile(), this.opts.intervalMs ?? 500);
    return this;
  }

  stop(): void {
    this.stopRepeat?.();
    this.stopRepeat = undefined;
  }

  /** One pass over every managed object: self-heal what differs from git where the Application says so. */
  reconcile(): void {
    for (const m of this.managed) {
      const app = this.kube.get("applications", this.namespace, m.app);
      const name = String(m.manifest.metadata?.name);
      const live = this.kube.get(m.plural, m.namespace, name);
      if (!app || !live || !isRecord(app.spec)) continue;
      const spec = app.spec as {
        syncPolicy?: { automated?: { enabled?: boolean; selfHeal?: boolean }; syncOptions?: string[] };
        ignoreDifferences?: unknown[];
      };
      const auto = spec.syncPolicy?.automated;
      if (!auto || auto.enabled === false || !auto.selfHeal) continue;
      const ignored = this.ignoredPaths([...(spec.ignoreDifferences ?? []), ...this.systemRules(m)], m, live);
      const liveLeaves = leafFields(live);
      const differs = [...leafFields(m.manifest)].some(
        ([p, v]) => !ignored.some((i) => p === i || p.startsWith(`${i}/`)) && JSON.stringify(liveLeaves.get(p)) !== JSON.stringify(v),
      );
      if (!differs) continue;
      const desired = structuredClone(m.manifest);
      if ((spec.syncPolicy?.syncOptions ?? []).includes("RespectIgnoreDifferences=true")) {
        for (const p of ignored) copyAt(live, desired, p);
      }
      this.kube.apply(m.plural, m.namespace, desired, { manager: ARGOCD_MANAGER, force: true });
      this.heals.push({ app: m.app, name, at: Date.now() });
    }
  }

  /** argocd-cm's `resource.customizations.ignoreDifferences.<group>_<Kind>` and `.all`, as entries for this object. */
  private systemRules(m: Managed): unknown[] {
    const cm = this.kube.get("configmaps", this.namespace, "argocd-cm");
    const data = isRecord(cm?.data) ? cm.data : {};
    const group = String(m.manifest.apiVersion).split("/").slice(0, -1).join("/");
    const out: unknown[] = [];
    for (const key of [`resource.customizations.ignoreDifferences.${group}_${String(m.manifest.kind)}`, "resource.customizations.ignoreDifferences.all"]) {
      const value = data[key];
      if (typeof value !== "string") continue;
      const rule: unknown = parseYaml(value);
      if (isRecord(rule)) out.push({ ...rule, group, kind: m.manifest.kind });
    }
    return out;
  }

  private ignoredPaths(entries: unknown[], m: Managed, live: KubeObject): string[] {
    const group = String(m.manifest.apiVersion).split("/").slice(0, -1).join("/");
    const out: string[] = [];
    for (const e of entries) {
      if (!isRecord(e)) continue;
      const matches =
        (e.group === "*" || (e.group ?? "") === group) &&
        (e.kind === "*" || e.kind === m.manifest.kind) &&
        (e.name === undefined || e.name === m.manifest.metadata?.name) &&
        (e.namespace === undefined || e.namespace === m.namespace);
      if (!matches) continue;
      if (Array.isArray(e.jsonPointers)) out.push(...e.jsonPointers.map(String));
      if (Array.isArray(e.managedFieldsManagers)) {
        const managers = new Set(e.managedFieldsManagers.map(String));
        const entries = Array.isArray(live.metadata?.managedFields) ? (live.metadata.managedFields as { manager: string; fieldsV1: unknown }[]) : [];
        for (const mf of entries) if (managers.has(mf.manager)) out.push(...fromFieldsV1(mf.fieldsV1));
      }
    }
    return out;
  }
}

function copyAt(from: KubeObject, to: KubeObject, pointer: string): void {
  const tokens = pointer
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
  let src: unknown = from;
  for (const t of tokens) src = isRecord(src) ? src[t] : undefined;
  if (src === undefined) return;
  let dst: Record<string, unknown> = to;
  for (const t of tokens.slice(0, -1)) {
    if (!isRecord(dst[t])) dst[t] = {};
    dst = dst[t] as Record<string, unknown>;
  }
  dst[tokens[tokens.length - 1]!] = structuredClone(src);
}

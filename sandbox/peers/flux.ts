/**
 * A local stand-in for Flux's kustomize-controller, acting on the Kubernetes API peer as the real one acts on
 * a cluster (../shared/reference/PROGRESSIVE-DELIVERY.md §4.1): each object it manages carries the
 * `kustomize.toolkit.fluxcd.io/name` / `namespace` labels; at each `reconcile()` (or every `intervalMs` once
 * started) it compares the live object with "git" (the manifest it was given), leaving out the paths of the
 * Kustomization's `spec.ignore` rules that target the object, and when they differ it applies git back with
 * server-side apply under `kustomize-controller`, forcing conflicts. A suspended Kustomization, or
 * `kustomize.toolkit.fluxcd.io/reconcile: disabled` / `ssa: Ignore` on the live object, leaves it alone.
 * Written independently of the bot's own judgement (src/engine/ownership.ts), so tests of one check the other.
 */
import type { KubeApiPeer, KubeObject } from "./kube-api.ts";
import { leafFields } from "./kube-api-managed.ts";
import { repeat } from "./repeat.ts";

export const FLUX_MANAGER = "kustomize-controller";

type Managed = { kustomization: string; plural: string; namespace: string; group: string; manifest: KubeObject };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export class FluxPeer {
  private readonly managed: Managed[] = [];
  private stopRepeat: (() => void) | undefined;
  /** Reverts done, newest last: which object was put back and when. */
  readonly reverts: { kustomization: string; name: string; at: number }[] = [];

  constructor(
    private readonly kube: KubeApiPeer,
    private readonly opts: { namespace?: string; intervalMs?: number } = {},
  ) {}

  private get namespace(): string {
    return this.opts.namespace ?? "flux-system";
  }

  /** Apply `manifest` (as git holds it) for Kustomization `kustomization`, labelled as kustomize-controller labels. */
  manage(kustomization: string, plural: string, manifest: KubeObject): KubeObject {
    const namespace = String(manifest.metadata?.namespace);
    const group = String(manifest.apiVersion).split("/").slice(0, -1).join("/");
    const desired = structuredClone(manifest);
    const metadata = (desired.metadata ??= {});
    metadata.labels = {
      ...(isRecord(metadata.labels) ? metadata.labels : {}),
      "kustomize.toolkit.fluxcd.io/name": kustomization,
      "kustomize.toolkit.fluxcd.io/namespace": this.namespace,
    };
    const applied = this.kube.apply(plural, namespace, desired, { manager: FLUX_MANAGER, force: true });
    desired.spec = structuredClone(applied.spec);
    const same = (x: Managed) => x.plural === plural && x.namespace === namespace && x.manifest.metadata?.name === desired.metadata?.name;
    this.managed.splice(0, this.managed.length, ...this.managed.filter((x) => !same(x)), { kustomization, plural, namespace, group, manifest: desired });
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

  /** One reconcile of every managed object: put git back where it drifted, unless told to leave it. */
  reconcile(): void {
    for (const m of this.managed) {
      const ks = this.kube.get("kustomizations", this.namespace, m.kustomization);
      const name = String(m.manifest.metadata?.name);
      const live = this.kube.get(m.plural, m.namespace, name);
      if (!ks || !live || !isRecord(ks.spec) || ks.spec.suspend === true) continue;
      const flag = (key: string) => {
        const a = isRecord(live.metadata?.annotations) ? live.metadata.annotations[key] : undefined;
        const l = isRecord(live.metadata?.labels) ? live.metadata.labels[key] : undefined;
        return String(a ?? l ?? "").toLowerCase();
      };
      if (flag("kustomize.toolkit.fluxcd.io/reconcile") === "disabled") continue;
      if (["ignore", "ifnotpresent"].includes(flag("kustomize.toolkit.fluxcd.io/ssa"))) continue;
      const ignored = this.ignoredPaths(Array.isArray(ks.spec.ignore) ? ks.spec.ignore : [], m);
      const liveLeaves = leafFields(live);
      const differs = [...leafFields({ spec: m.manifest.spec })].some(
        ([p, v]) => !ignored.some((i) => p === i || p.startsWith(`${i}/`)) && JSON.stringify(liveLeaves.get(p)) !== JSON.stringify(v),
      );
      if (!differs) continue;
      const desired = structuredClone(m.manifest);
      // Ignored paths are stripped from the payload (the bot writes them by apply).
      for (const p of ignored) stripAt(desired, p);
      this.kube.apply(m.plural, m.namespace, desired, { manager: FLUX_MANAGER, force: true });
      this.reverts.push({ kustomization: m.kustomization, name, at: Date.now() });
    }
  }

  private ignoredPaths(rules: unknown[], m: Managed): string[] {
    const matches = (pattern: unknown, value: string) => pattern === undefined || pattern === "" || new RegExp(`^(?:${String(pattern)})$`).test(value);
    const out: string[] = [];
    for (const rule of rules) {
      if (!isRecord(rule) || !Array.isArray(rule.paths)) continue;
      const t = isRecord(rule.target) ? rule.target : {};
      const ok =
        matches(t.group, m.group) &&
        matches(t.kind, String(m.manifest.kind)) &&
        matches(t.name, String(m.manifest.metadata?.name)) &&
        matches(t.namespace, m.namespace);
      if (ok) out.push(...rule.paths.map(String));
    }
    return out;
  }
}

function stripAt(obj: KubeObject, pointer: string): void {
  const tokens = pointer
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
  let node: unknown = obj;
  for (const t of tokens.slice(0, -1)) node = isRecord(node) ? node[t] : undefined;
  if (isRecord(node)) delete node[tokens[tokens.length - 1]!];
}

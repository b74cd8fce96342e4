/**
 * The GitOps component's RBAC (deploy/components/gitops) is GITOPS_PERMISSIONS (src/kube/permissions.ts),
 * cluster-wide, plus GITOPS_ARGOCD_PERMISSIONS in Argo CD's namespace only (argocd-cm, by name), and those
 * lists are what the GitOps code really does: the ownership reads of Argo CD (with argocd-cm), Flux
 * Kustomization and HelmRelease owners and `gitops: pause` run against the Kubernetes API peer enforcing the
 * base grant plus the component's, each in its scope; every request is allowed and every verb is used.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { GITOPS_ARGOCD_PERMISSIONS, GITOPS_PERMISSIONS, roleRules, type PolicyRule } from "../../src/kube/permissions.ts";
import { buildRouters, type Routers } from "../../src/routers/factory.ts";
import { startKubeApiPeer, type KubeApiPeer, type KubeObject } from "../../sandbox/peers/kube-api.ts";
import { allowingRule, requestAttributes } from "../../sandbox/peers/kube-api-authz.ts";
import { GITOPS_TYPES, argoApplication, argoCdConfigMap, fluxKustomization } from "../../sandbox/peers/kube-api-gitops.ts";
import type { WrittenAt } from "../../src/engine/ownership.ts";

type Rbac = KubeObject & { rules?: PolicyRule[]; subjects?: unknown[]; roleRef?: { kind: string; name: string } };
const load = (file: string) =>
  parseAllDocuments(readFileSync(fileURLToPath(new URL(`../../deploy/components/gitops/${file}`, import.meta.url)), "utf8")).map((d) => d.toJS() as Rbac);
const docs = load("clusterrole.yaml");
const argoCm = load("role-argocd-cm.yaml");
const kustomization = load("kustomization.yaml")[0] as { resources?: string[] };
const sorted = (rules: PolicyRule[]) => rules.map((r) => JSON.stringify(r)).sort();

describe("deploy/components/gitops", () => {
  it("grants exactly GITOPS_PERMISSIONS to the bot's service account", () => {
    const role = docs.find((d) => d.kind === "ClusterRole")!;
    expect(sorted(role.rules!)).toEqual(sorted(roleRules(GITOPS_PERMISSIONS)));
    const binding = docs.find((d) => d.kind === "ClusterRoleBinding")!;
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "rollout-bot", namespace: "rollout-bot" }]);
    for (const p of [...GITOPS_PERMISSIONS, ...GITOPS_ARGOCD_PERMISSIONS]) expect(p.neededBy).toMatch(/src\/\S+\.ts/);
  });

  it("grants exactly GITOPS_ARGOCD_PERMISSIONS in Argo CD's namespace only, and the component includes it", () => {
    const role = argoCm.find((d) => d.kind === "Role")!;
    expect(role.metadata?.namespace).toBe("argocd");
    expect(sorted(role.rules!)).toEqual(sorted(roleRules(GITOPS_ARGOCD_PERMISSIONS)));
    const binding = argoCm.find((d) => d.kind === "RoleBinding")!;
    expect(binding.metadata?.namespace).toBe("argocd");
    expect(binding.roleRef).toMatchObject({ kind: "Role", name: role.metadata?.name });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "rollout-bot", namespace: "rollout-bot" }]);
    expect(kustomization.resources).toEqual(["clusterrole.yaml", "role-argocd-cm.yaml"]);
  });
});

describe("the GitOps requests the code makes are exactly what base + component allow", () => {
  let peer: KubeApiPeer;
  let routers: Routers;
  const rules = [...roleRules(), ...roleRules(GITOPS_PERMISSIONS)];
  const inArgocd = { rules: roleRules(GITOPS_ARGOCD_PERMISSIONS), namespaces: ["argocd"] };
  beforeAll(async () => {
    peer = await startKubeApiPeer({ smiFlavour: "nginx", resources: GITOPS_TYPES, rbac: { rules, also: [inArgocd] } });
    const built = await buildRouters({ kube: { KUBECONFIG: peer.kubeconfigPath }, kubeTimeoutMs: 10_000, namerdTimeoutMs: 5_000 });
    if (!built.ok) throw new Error(built.errors.join("; "));
    routers = built.value;
  });
  afterAll(() => peer?.close());

  it("judging Argo CD, Flux and Helm owners; pausing and resuming a route and a split", async () => {
    const meta = (labels: Record<string, string>, annotations: Record<string, string> = {}) => ({ name: "web", labels, annotations });
    peer.seed("httproutes", "shop", {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: meta(
        { "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system" },
        { "argocd.argoproj.io/tracking-id": "shop:gateway.networking.k8s.io/HTTPRoute:shop/web" },
      ),
      spec: { parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }], rules: [{ backendRefs: [{ name: "web-v1", port: 8080 }] }] },
    });
    peer.seed("trafficsplits", "shop", {
      apiVersion: "split.smi-spec.io/v1alpha3",
      kind: "TrafficSplit",
      metadata: meta({ "helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "shop" }),
      spec: { service: "web", backends: [{ service: "web-v1", weight: 100 }] },
    });
    peer.seed("applications", "argocd", argoApplication("shop", { syncPolicy: { syncOptions: ["RespectIgnoreDifferences=true"] } }));
    peer.seed("configmaps", "argocd", argoCdConfigMap());
    // Another ConfigMap in the same namespace stays out of reach: the grant names argocd-cm only.
    peer.seed("configmaps", "argocd", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "argocd-secret-ish" }, data: {} });
    peer.seed("kustomizations", "flux-system", fluxKustomization("apps"));
    peer.seed("helmreleases", "shop", { apiVersion: "helm.toolkit.fluxcd.io/v2", kind: "HelmRelease", metadata: { name: "web" }, spec: { interval: "5m" } });
    const route: WrittenAt = {
      group: "gateway.networking.k8s.io",
      kind: "HTTPRoute",
      plural: "httproutes",
      versions: ["v1"],
      namespace: "shop",
      name: "web",
      fields: ["/spec/rules"],
    };
    const split: WrittenAt = {
      group: "split.smi-spec.io",
      kind: "TrafficSplit",
      plural: "trafficsplits",
      versions: ["v1alpha3"],
      namespace: "shop",
      name: "web",
      fields: ["/spec/backends"],
    };
    const rv = (await routers.gitops.ownership.judge(route))!;
    expect(rv.owners.map((o) => o.reason)).toEqual(["manual-sync", "drift-correction"]);
    expect(peer.requests.filter((r) => r.resource === "configmaps").map((r) => `${r.namespace}/${r.name} ${r.status}`)).toEqual(["argocd/argocd-cm 200"]);
    expect((await routers.gitops.ownership.judge(split))!.owners.map((o) => o.reason)).toEqual(["drift-detection-off"]);
    for (const o of [route, split]) {
      const paused = { group: o.group, version: o.versions[0]!, plural: o.plural, kind: o.kind, namespace: o.namespace, name: o.name };
      await routers.gitops.pause.pause(paused, "web#1");
      expect(await routers.gitops.pause.resume(paused, "web#1")).toBe("resumed");
    }

    const seen = peer.requests.map((r) => ({ record: r, attrs: requestAttributes(r.method, r.path, r.query) }));
    for (const { record, attrs } of seen) {
      if (!attrs.resourceRequest) continue;
      const allowed = allowingRule(rules, attrs) ?? (attrs.namespace === "argocd" ? allowingRule(inArgocd.rules, attrs) : undefined);
      expect(allowed, `${record.method} ${record.path}`).toBeDefined();
      expect([401, 403]).not.toContain(record.status);
    }
    const other = await fetch(`${peer.url}/api/v1/namespaces/argocd/configmaps/argocd-secret-ish`, { headers: { authorization: `Bearer ${peer.token}` } });
    expect(other.status).toBe(403);
    for (const rule of [...roleRules(GITOPS_PERMISSIONS), ...inArgocd.rules]) {
      for (const verb of rule.verbs) {
        const used = seen.some(({ attrs }) => attrs.resourceRequest && allowingRule([{ ...rule, verbs: [verb] }], attrs));
        expect(used, `${verb} on ${rule.resources.join(",")} was granted but never used`).toBe(true);
      }
    }
  });
});

/**
 * The deploy component's RBAC (deploy/components/deploy) is DEPLOY_PERMISSIONS (src/kube/permissions.ts), and
 * that list is what `--image` really does: reading the stable's objects, applying the copies, reading the new
 * pods and removing objects run against the Kubernetes API peer enforcing the base grant plus the component's;
 * every request is allowed and every verb of the component is used. Without the component, the apply is a 403.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { DEPLOY_PERMISSIONS, roleRules, type PolicyRule } from "../../src/kube/permissions.ts";
import { buildRouters, type Routers } from "../../src/routers/factory.ts";
import { startKubeApiPeer, type KubeApiPeer, type KubeObject } from "../../sandbox/peers/kube-api.ts";
import { allowingRule, requestAttributes } from "../../sandbox/peers/kube-api-authz.ts";
import { KubeApiError } from "../../src/kube/call.ts";

const component = fileURLToPath(new URL("../../deploy/components/deploy/clusterrole.yaml", import.meta.url));
const docs = parseAllDocuments(readFileSync(component, "utf8")).map((d) => d.toJS() as KubeObject & { rules?: PolicyRule[]; subjects?: unknown[] });
const sorted = (rules: PolicyRule[]) => rules.map((r) => JSON.stringify(r)).sort();

describe("deploy/components/deploy", () => {
  it("grants exactly DEPLOY_PERMISSIONS to the bot's service account", () => {
    const role = docs.find((d) => d.kind === "ClusterRole")!;
    expect(sorted(role.rules!)).toEqual(sorted(roleRules(DEPLOY_PERMISSIONS)));
    const binding = docs.find((d) => d.kind === "ClusterRoleBinding")!;
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "rollout-bot", namespace: "rollout-bot" }]);
    for (const p of DEPLOY_PERMISSIONS) expect(p.neededBy).toMatch(/src\/\S+\.ts/);
  });
});

describe("the requests --image makes are exactly what base + component allow", () => {
  let peer: KubeApiPeer;
  let routers: Routers;
  const rules = [...roleRules(), ...roleRules(DEPLOY_PERMISSIONS)];
  beforeAll(async () => {
    peer = await startKubeApiPeer({ smiFlavour: "nginx", rbac: { rules }, deploymentController: { readyAfterMs: 10 } });
    const built = await buildRouters({ kube: { KUBECONFIG: peer.kubeconfigPath }, kubeTimeoutMs: 10_000, namerdTimeoutMs: 5_000 });
    if (!built.ok) throw new Error(built.errors.join("; "));
    routers = built.value;
  });
  afterAll(() => peer?.close());

  it("read, apply, watch and remove a version's Deployment and Service", async () => {
    const labels = { app: "web", version: "web-v2" };
    const api = routers.deploy.api;
    const d = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web-v2", namespace: "shop" },
      spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: "web", image: "web:2" }] } } },
    };
    const s = { apiVersion: "v1", kind: "Service", metadata: { name: "web-v2", namespace: "shop" }, spec: { selector: labels, ports: [{ port: 80 }] } };
    const made = [await api.apply(d), await api.apply(s)];
    expect(await api.read({ kind: "Deployment", namespace: "shop", name: "web-v2" })).toBeDefined();
    expect(await api.read({ kind: "Service", namespace: "shop", name: "web-v2" })).toBeDefined();
    expect((await api.facts("shop", "web-v2"))?.replicas).toBe(1);
    expect(await api.remove({ kind: "Deployment", namespace: "shop", name: "web-v2" }, String(made[0]!.metadata?.uid))).toBe(true);
    expect(await api.remove({ kind: "Service", namespace: "shop", name: "web-v2" }, String(made[1]!.metadata?.uid))).toBe(true);

    const seen = peer.requests.map((r) => ({ record: r, attrs: requestAttributes(r.method, r.path, r.query) }));
    for (const { record, attrs } of seen) {
      if (!attrs.resourceRequest) continue;
      expect(allowingRule(rules, attrs), `${record.method} ${record.path}`).toBeDefined();
      expect([401, 403]).not.toContain(record.status);
    }
    for (const rule of roleRules(DEPLOY_PERMISSIONS)) {
      for (const verb of rule.verbs) {
        const used = seen.some(({ attrs }) => attrs.resourceRequest && allowingRule([{ ...rule, verbs: [verb] }], attrs));
        expect(used, `${verb} on ${rule.resources.join(",")} was granted but never used`).toBe(true);
      }
    }
  });

  it("the base grant alone cannot create a workload", async () => {
    peer.rbac = { rules: roleRules() };
    try {
      const err = await routers.deploy.api
        .apply({ apiVersion: "v1", kind: "Service", metadata: { name: "web-v3", namespace: "shop" }, spec: { selector: { app: "web" } } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KubeApiError);
      expect((err as KubeApiError).code).toBe(403);
      expect(peer.get("services", "shop", "web-v3")).toBeUndefined();
    } finally {
      peer.rbac = { rules };
    }
  });
});

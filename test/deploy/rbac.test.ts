/**
 * The bot's Kubernetes permissions: one list (src/kube/permissions.ts), what every install in deploy/
 * grants the bot's service account equal to it (and where), and the list equal to what the code really
 * does. The routers and the clean-up run their flows against the Kubernetes API peer through the
 * production wiring (buildRouters), the peer enforcing what overlays/http grants as the API server's RBAC
 * authorizer would (403 otherwise): every flow must succeed, and every verb of every rule must have been
 * used (nothing granted that no code needs).
 * Without a rule the code needs, the person starting a rollout is told which permission is missing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { PERMISSIONS, roleRules, type PolicyRule } from "../../src/kube/permissions.ts";
import { buildRouters, type Routers } from "../../src/routers/factory.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { readyWorkload, startKubeApiPeer, type KubeApiPeer } from "../../sandbox/peers/kube-api.ts";
import { allowingRule, requestAttributes, type RbacPolicy } from "../../sandbox/peers/kube-api-authz.ts";
import { kustomizeBuild, type KubeObject } from "../support/kustomize.ts";
import { analysisRunType, rolloutType } from "../../sandbox/peers/argo-rollouts.ts";
import { argoRolloutsFlows } from "../support/argo-flows.ts";
import { flaggerFlows } from "../support/flagger-flows.ts";
import { canaryType } from "../../sandbox/peers/flagger.ts";

const deploy = (p: string) => fileURLToPath(new URL(`../../deploy/${p}`, import.meta.url));

type Rbac = KubeObject & { rules?: PolicyRule[]; roleRef?: { kind: string; name: string }; subjects?: { kind: string; name: string; namespace?: string }[] };

/** Rules compared as sets: order of rules, verbs, groups and resources carries no meaning. */
const normalise = (rules: PolicyRule[]) =>
  rules
    .map((r) => ({ apiGroups: [...r.apiGroups].sort(), resources: [...r.resources].sort(), verbs: [...r.verbs].sort() }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

function botServiceAccount(objects: KubeObject[]): { name: string; namespace: string } {
  const bot = objects.find((o) => o.kind === "Deployment" && o.metadata.name === "rollout-bot")!;
  const spec = (bot.spec as { template: { spec: { serviceAccountName: string } } }).template.spec;
  return { name: spec.serviceAccountName, namespace: bot.metadata.namespace! };
}

/**
 * What the bot's service account may do once an install is applied: the rules of every Role/ClusterRole
 * bound to it, and where (everywhere for a ClusterRoleBinding, the binding's namespace for a RoleBinding).
 * Every bound role must hold the same rules, so one policy describes the grant.
 */
function grantOf(objects: Rbac[]): RbacPolicy & { roleKinds: string[] } {
  const sa = botServiceAccount(objects);
  const bindings = objects.filter(
    (o) =>
      (o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding") &&
      o.subjects?.some((s) => s.kind === "ServiceAccount" && s.name === sa.name && s.namespace === sa.namespace),
  );
  expect(bindings.length, "bindings of the bot's service account").toBeGreaterThan(0);
  const ruleSets = bindings.map((b) => {
    const role = objects.find(
      (o) => o.kind === b.roleRef!.kind && o.metadata.name === b.roleRef!.name && (o.kind === "ClusterRole" || o.metadata.namespace === b.metadata.namespace),
    );
    expect(role, `${b.kind} ${b.metadata.namespace ?? ""}/${b.metadata.name} -> ${b.roleRef!.kind} ${b.roleRef!.name}`).toBeDefined();
    return normalise(role!.rules ?? []);
  });
  for (const rules of ruleSets) expect(rules).toEqual(ruleSets[0]);
  const clusterWide = bindings.some((b) => b.kind === "ClusterRoleBinding");
  return {
    rules: ruleSets[0]!,
    ...(clusterWide ? {} : { namespaces: bindings.map((b) => b.metadata.namespace!).sort() }),
    roleKinds: [...new Set(bindings.map((b) => b.roleRef!.kind))],
  };
}

const INSTALLS: [string, string[] | "all", string][] = [
  ["overlays/http", ["rollout-bot"], "Role"],
  ["overlays/socket-mode", ["rollout-bot"], "Role"],
  ["examples/http-in-cluster-redis", ["rollout-bot"], "Role"],
  ["examples/socket-mode-cluster-rbac", "all", "ClusterRole"],
  ["examples/http-some-namespaces", ["payments", "shop"], "ClusterRole"],
];

describe("RBAC in deploy/ is the permission list", () => {
  it.each(INSTALLS)("%s grants exactly those rules in %j, through a %s", async (dir, where, kind) => {
    const objects = (await kustomizeBuild(deploy(dir))) as Rbac[];
    const grant = grantOf(objects);
    expect(grant.rules).toEqual(normalise(roleRules()));
    expect(grant.namespaces ?? "all").toEqual(where);
    expect(grant.roleKinds).toEqual([kind]);
    // Nothing else in the install grants anything: no unbound roles, no bindings to other subjects.
    const roles = objects.filter((o) => o.kind === "Role" || o.kind === "ClusterRole");
    expect(roles.map((r) => r.kind)).toEqual(roles.map(() => kind));
    for (const b of objects.filter((o) => o.kind.endsWith("RoleBinding")))
      expect(b.subjects).toEqual([{ kind: "ServiceAccount", ...botServiceAccount(objects) }]);
    expect(objects.some((o) => o.kind === "ServiceAccount" && o.metadata.name === botServiceAccount(objects).name)).toBe(true);
  });

  it("granted in some namespaces only: a target elsewhere is refused by the API, naming the namespace", async () => {
    const grant = grantOf((await kustomizeBuild(deploy("examples/http-some-namespaces"))) as Rbac[]);
    const peer = await startKubeApiPeer({ smiFlavour: "nginx", rbac: grant });
    try {
      const built = await buildRouters({ kube: { KUBECONFIG: peer.kubeconfigPath }, kubeTimeoutMs: 10_000, namerdTimeoutMs: 5_000 });
      if (!built.ok) throw new Error(built.errors.join("; "));
      const pair = { stable: "web-v1", canary: "web-v2" };
      const target = (namespace: string) => TargetSchema.parse({ name: "web", namespace, router: "smi" });
      expect(await built.value.registry.for(target("shop")).validate(target("shop"), pair)).toBeUndefined();
      expect(await built.value.registry.for(target("billing")).validate(target("billing"), pair)).toContain(
        'cannot list resource "trafficsplits" in API group "split.smi-spec.io" in the namespace "billing"',
      );
    } finally {
      await peer.close();
    }
  });

  it("every permission says which code needs it, and grants no wildcard", () => {
    for (const p of PERMISSIONS) {
      expect(p.neededBy).toMatch(/src\/\S+\.ts/);
      expect([...p.apiGroups, ...p.resources, ...p.verbs]).not.toContain("*");
    }
  });
});

describe("the requests the code makes are exactly what the rules allow", () => {
  let peer: KubeApiPeer;
  let routers: Routers;
  // overlays/http as installed: the Role in the bot's own namespace, targets there.
  const ns = "rollout-bot";

  beforeAll(async () => {
    const grant = grantOf((await kustomizeBuild(deploy("overlays/http"))) as Rbac[]);
    peer = await startKubeApiPeer({
      smiFlavour: "nginx",
      rbac: { rules: grant.rules, namespaces: grant.namespaces },
      resources: [rolloutType, analysisRunType, canaryType],
    });
    const built = await buildRouters({ kube: { KUBECONFIG: peer.kubeconfigPath }, kubeTimeoutMs: 10_000, namerdTimeoutMs: 5_000 });
    if (!built.ok) throw new Error(built.errors.join("; "));
    routers = built.value;
  });
  afterAll(async () => {
    await peer?.close();
  });

  /** SMI rollouts (found by apex and by name), Abort, clean-up by scale-down, and preflight. */
  async function smiFlows(): Promise<void> {
    const pair = { stable: "web-v1", canary: "web-v2" };
    const byApex = TargetSchema.parse({ name: "web", namespace: ns, router: "smi" });
    const byName = TargetSchema.parse({ name: "api", namespace: ns, router: "smi", smi: { trafficSplit: "api-split" } });
    const smi = routers.registry.for(byApex);

    // A rollout whose split does not exist yet: validate (dry run), create, advance, finish, clean up.
    expect(await smi.validate(byApex, pair)).toBeUndefined();
    await smi.apply(byApex, pair, 10);
    await smi.apply(byApex, pair, 50, { canaryPercent: 10 });
    await smi.observe(byApex, pair);
    await smi.finalize(byApex, pair, "canary", { expect: { canaryPercent: 50 } });
    peer.seed("deployments", ns, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web-v1" },
      spec: { replicas: 3, selector: { matchLabels: { app: "web-v1" } }, template: { metadata: { labels: { app: "web-v1" } } } },
    });
    await routers.scaleDown(ns, "web-v1");
    expect(peer.get("deployments", ns, "web-v1")?.spec).toMatchObject({ replicas: 0 });

    // Preflight: the Services, and the canary's Deployment through the canary Service's selector, then by name.
    for (const svc of ["web", "web-v1", "web-v2"]) peer.seed("services", ns, readyWorkload("services", svc)!);
    peer.seed("deployments", ns, readyWorkload("deployments", "web-v2", 2)!);
    expect(await routers.preflight.start(byApex, pair)).toEqual([]);
    peer.seed("services", ns, { ...readyWorkload("services", "web-v2")!, spec: { selector: { app: "nobody" } } });
    expect(await routers.preflight.canary(byApex, pair)).toEqual([]);

    // A target naming its split: read by name, then Abort back to stable.
    expect(await smi.validate(byName, pair)).toBeUndefined();
    await smi.apply(byName, pair, 20);
    await smi.finalize(byName, pair, "stable", { force: true });
    expect(await smi.discoverStable?.(byName)).toBe("web-v1");
  }

  /**
   * Gateway API rollouts: validate (with its dry-run apply), the test stage, a step, Finish, and an Abort
   * of a second route; the controllers' answer (status.parents) is read as the router waits for it.
   */
  async function gatewayFlows(): Promise<void> {
    const pair = { stable: "web-v1", canary: "web-v2" };
    const route = (name: string) => ({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name },
      spec: {
        parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }],
        rules: [{ name: "api", backendRefs: [{ name: "web-v1", port: 8080 }] }],
      },
    });
    const weights = (name: string) =>
      ((peer.get("httproutes", ns, name)?.spec as { rules: { backendRefs: { name: string; weight?: number }[] }[] }).rules[0]!.backendRefs ?? []).map(
        (r) => `${r.name} ${r.weight}`,
      );
    const web = TargetSchema.parse({ name: "web", namespace: ns, router: "gateway", gateway: { rule: "api" } });
    const api = TargetSchema.parse({ name: "api", namespace: ns, router: "gateway", gateway: { rule: "api" } });
    const gateway = routers.registry.for(web);
    peer.seed("httproutes", ns, route("web"));
    peer.seed("httproutes", ns, route("api"));

    expect(await gateway.validate(web, pair)).toBeUndefined();
    expect(await gateway.discoverStable?.(web)).toBe("web-v1");
    await gateway.apply(web, pair, 0);
    await gateway.apply(web, pair, 10, { canaryPercent: 0 });
    expect(await gateway.observe(web, pair)).toMatchObject({ canaryPercent: 10 });
    await gateway.finalize(web, pair, "canary", { expect: { canaryPercent: 10 } });
    expect(weights("web")).toEqual(["web-v2 100"]);

    await gateway.apply(api, pair, 0);
    await gateway.apply(api, pair, 20, { canaryPercent: 0 });
    await gateway.finalize(api, pair, "stable", { force: true });
    expect(weights("api")).toEqual(["web-v1 100", "web-v2 0"]);
  }

  it("SMI and Gateway API rollouts, Abort, clean-up by scale-down and preflight; Argo Rollouts followed and steered; Flagger Canaries read", async () => {
    await smiFlows();
    await gatewayFlows();
    await argoRolloutsFlows(peer, ns);
    await flaggerFlows(peer, ns);

    const seen = peer.requests.map((r) => ({ record: r, attrs: requestAttributes(r.method, r.path, r.query) }));
    expect(
      seen.some((s) => s.record.dryRun && s.record.method === "POST"),
      "validate's dry-run create was sent",
    ).toBe(true);
    expect(
      seen.some((s) => s.record.dryRun && s.record.method === "PATCH" && s.record.resource === "httproutes"),
      "the gateway validate's dry-run apply was sent",
    ).toBe(true);
    for (const { record, attrs } of seen) {
      const what = `${record.method} ${record.path}${record.query}`;
      if (!attrs.resourceRequest) {
        // Discovery only: served to every authenticated user by system:discovery, no rule needed.
        expect(record.method, what).toBe("GET");
        expect(record.path, what).toMatch(/^\/(apis?)(\/[^/]+){0,2}\/?$/);
        continue;
      }
      expect(
        allowingRule(roleRules(), attrs),
        `${what} (${attrs.verb} ${attrs.apiGroup}/${attrs.resource}${attrs.subresource ? `/${attrs.subresource}` : ""}) is not allowed`,
      ).toBeDefined();
      // A 404 is expected (a named split is read before it is created); a refusal is not.
      expect([401, 403], `${what} answered ${record.status}`).not.toContain(record.status);
      expect(record.status, what).toBeGreaterThan(0);
    }
    // Nothing granted that no code used: every verb of every rule was needed by some request.
    for (const rule of roleRules()) {
      for (const verb of rule.verbs) {
        const used = seen.some(({ attrs }) => attrs.resourceRequest && allowingRule([{ ...rule, verbs: [verb] }], attrs));
        expect(used, `${verb} on ${rule.resources.join(",")} was granted but never used`).toBe(true);
      }
    }
  });
});

describe("without a permission the code needs", () => {
  let peer: KubeApiPeer;
  let routers: Routers;
  const pair = { stable: "web-v1", canary: "web-v2" };
  const web = TargetSchema.parse({ name: "web", namespace: "shop", router: "smi" });
  const without = (verb: string, resource: string) =>
    roleRules().map((r) => (r.resources.includes(resource) ? { ...r, verbs: r.verbs.filter((v) => v !== verb) } : r));

  beforeAll(async () => {
    peer = await startKubeApiPeer({ smiFlavour: "nginx" });
    const built = await buildRouters({ kube: { KUBECONFIG: peer.kubeconfigPath }, kubeTimeoutMs: 10_000, namerdTimeoutMs: 5_000 });
    if (!built.ok) throw new Error(built.errors.join("; "));
    routers = built.value;
  });
  afterAll(async () => {
    await peer?.close();
  });

  it("create on trafficsplits: the start is refused naming the verb, resource and namespace, and nothing is written", async () => {
    peer.rbac = { rules: without("create", "trafficsplits") };
    const refusal = await routers.registry.for(web).validate(web, pair);
    expect(refusal).toBe(
      "TrafficSplit shop/web does not exist and cannot be created: the bot's Kubernetes credentials may not check creating TrafficSplit shop/web: 403 Forbidden: " +
        'trafficsplits.split.smi-spec.io is forbidden: User "system:serviceaccount:rollout-bot:rollout-bot" cannot create resource "trafficsplits" in API group "split.smi-spec.io" in the namespace "shop"',
    );
    expect(peer.list("trafficsplits", "shop")).toEqual([]);
  });

  it("patch on httproutes: the start is refused naming the verb, resource and namespace, and the route is unchanged", async () => {
    peer.rbac = undefined;
    const route = peer.seed("httproutes", "shop", {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "web" },
      spec: { parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }], rules: [{ backendRefs: [{ name: "web-v1", port: 8080 }] }] },
    });
    peer.rbac = { rules: without("patch", "httproutes") };
    const gateway = TargetSchema.parse({ name: "web", namespace: "shop", router: "gateway" });
    const refusal = await routers.registry.for(gateway).validate(gateway, pair);
    expect(refusal).toBe(
      "the bot's Kubernetes credentials may not check applying HTTPRoute shop/web: 403 Forbidden: " +
        'httproutes.gateway.networking.k8s.io "web" is forbidden: User "system:serviceaccount:rollout-bot:rollout-bot" cannot patch resource "httproutes" in API group "gateway.networking.k8s.io" in the namespace "shop"',
    );
    expect(peer.get("httproutes", "shop", "web")).toEqual(route);
    expect(peer.mutations("httproutes", "shop", "web")).toEqual([]);
  });

  it("patch on deployments/scale: the clean-up fails with the API's reason, the Deployment keeps its replicas", async () => {
    peer.rbac = undefined;
    peer.seed("deployments", "shop", {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web-v1" },
      spec: { replicas: 3, selector: { matchLabels: { app: "web-v1" } }, template: { metadata: { labels: { app: "web-v1" } } } },
    });
    peer.rbac = { rules: without("patch", "deployments/scale") };
    const err = await routers.scaleDown("shop", "web-v1").then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain('cannot patch resource "deployments/scale" in API group "apps" in the namespace "shop"');
    expect(err).toMatchObject({ code: 403, transient: false });
    expect(peer.get("deployments", "shop", "web-v1")?.spec).toMatchObject({ replicas: 3 });
  });
});

describe("RBAC request attributes (as the API server derives them)", () => {
  const rules = roleRules();
  it.each([
    ["GET", "/apis/split.smi-spec.io/v1alpha3/namespaces/shop/trafficsplits/web", "", "get", true],
    ["GET", "/apis/split.smi-spec.io/v1alpha3/namespaces/shop/trafficsplits", "", "list", true],
    ["GET", "/apis/split.smi-spec.io/v1alpha3/namespaces/shop/trafficsplits", "?watch=true", "watch", false],
    ["POST", "/apis/split.smi-spec.io/v1alpha3/namespaces/shop/trafficsplits", "?dryRun=All", "create", true],
    ["PUT", "/apis/split.smi-spec.io/v1alpha3/namespaces/shop/trafficsplits/web", "", "update", false],
    // Every write is a server-side apply (a PATCH), which also creates a missing split.
    ["PATCH", "/apis/split.smi-spec.io/v1alpha3/namespaces/shop/trafficsplits/web", "?fieldManager=rollout-bot&force=false", "patch", true],
    ["DELETE", "/apis/split.smi-spec.io/v1alpha3/namespaces/shop/trafficsplits/web", "", "delete", false],
    ["PATCH", "/apis/apps/v1/namespaces/shop/deployments/web-v1/scale", "?fieldManager=rollout-bot&force=false", "patch", true],
    ["PUT", "/apis/apps/v1/namespaces/shop/deployments/web-v1/scale", "", "update", false],
    ["PUT", "/apis/apps/v1/namespaces/shop/deployments/web-v1", "", "update", false],
    // Preflight reads Services and Deployments; it never writes them.
    ["GET", "/apis/apps/v1/namespaces/shop/deployments", "", "list", true],
    ["GET", "/api/v1/namespaces/shop/services/web", "", "get", true],
    ["GET", "/api/v1/namespaces/shop/services", "", "list", false],
    ["DELETE", "/api/v1/namespaces/shop/services/web", "", "delete", false],
    // The Gateway API router reads and applies (server-side) one named route, status included in the read.
    ["GET", "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/web", "", "get", true],
    ["PATCH", "/apis/gateway.networking.k8s.io/v1beta1/namespaces/shop/httproutes/web", "?dryRun=All&fieldManager=rollout-bot&force=true", "patch", true],
    ["PUT", "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/web", "", "update", false],
    ["GET", "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes", "", "list", false],
    ["POST", "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes", "", "create", false],
    ["PUT", "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/web/status", "", "update", false],
    ["DELETE", "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/web", "", "delete", false],
    // A Flagger Canary is read by name; it is never listed, watched or written.
    ["GET", "/apis/flagger.app/v1beta1/namespaces/shop/canaries/web", "", "get", true],
    ["GET", "/apis/flagger.app/v1beta1/namespaces/shop/canaries", "?watch=true", "watch", false],
    ["PATCH", "/apis/flagger.app/v1beta1/namespaces/shop/canaries/web/status", "", "patch", false],
  ] as const)("%s %s%s is %s, allowed: %s", (method, path, query, verb, allowed) => {
    const attrs = requestAttributes(method, path, query);
    expect(attrs).toMatchObject({ resourceRequest: true, verb });
    expect(allowingRule(rules, attrs) !== undefined).toBe(allowed);
  });

  it("discovery paths are non-resource requests, which no Role rule allows", () => {
    for (const path of ["/apis", "/api", "/apis/split.smi-spec.io", "/apis/split.smi-spec.io/v1alpha3", "/api/v1"]) {
      const attrs = requestAttributes("GET", path);
      expect(attrs.resourceRequest, path).toBe(false);
      expect(allowingRule([{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }], attrs)).toBeUndefined();
    }
  });
});

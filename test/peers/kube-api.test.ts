/**
 * The Kubernetes API peer's protocol, checked over raw HTTP: if the peer drifts from what a real API
 * server answers, the router tests built on it would prove nothing.
 */
import { afterEach, describe, expect, it } from "vitest";
import { KubeConfig, VersionApi } from "@kubernetes/client-node";
import { startKubeApiPeer, type KubeApiPeer, type SmiFlavour } from "../../sandbox/peers/kube-api.ts";

const peers: KubeApiPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

async function peer(smiFlavour: SmiFlavour, namespaces?: string[]): Promise<KubeApiPeer> {
  const p = await startKubeApiPeer({ smiFlavour, namespaces });
  peers.push(p);
  return p;
}

type Json = Record<string, any>;

async function call(p: KubeApiPeer, method: string, path: string, body?: unknown, contentType = "application/json") {
  const res = await fetch(p.url + path, {
    method,
    headers: { authorization: `Bearer ${p.token}`, ...(body === undefined ? {} : { "content-type": contentType }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

const TS = "/apis/split.smi-spec.io";

function split(name: string, apiVersion: string, backends: { service: string; weight: unknown }[], extra: Json = {}) {
  return { apiVersion, kind: "TrafficSplit", metadata: { name }, spec: { service: "web", backends, ...extra } };
}

describe("discovery", () => {
  it.each([
    ["linkerd", ["v1alpha1"], "v1alpha1"],
    ["linkerd-smi", ["v1alpha2", "v1alpha1"], "v1alpha2"],
    ["nginx", ["v1alpha3"], "v1alpha3"],
    ["sdk", ["v1alpha4"], "v1alpha4"],
  ] as const)("%s serves TrafficSplit %j, preferring %s", async (flavour, versions, preferred) => {
    const p = await peer(flavour);
    const all = await call(p, "GET", "/apis");
    expect(all.body.kind).toBe("APIGroupList");
    const g = all.body.groups.find((x: Json) => x.name === "split.smi-spec.io");
    expect(g.versions.map((v: Json) => v.version)).toEqual(versions);
    expect(g.preferredVersion).toEqual({ groupVersion: `split.smi-spec.io/${preferred}`, version: preferred });

    const group = await call(p, "GET", TS);
    expect(group.body).toMatchObject({ kind: "APIGroup", name: "split.smi-spec.io", preferredVersion: { version: preferred } });

    const list = await call(p, "GET", `${TS}/${versions[0]}`);
    expect(list.body).toMatchObject({ kind: "APIResourceList", groupVersion: `split.smi-spec.io/${versions[0]}` });
    expect(list.body.resources).toContainEqual(expect.objectContaining({ name: "trafficsplits", kind: "TrafficSplit", namespaced: true }));
  });

  it("answers 404 Status for versions and groups it does not serve", async () => {
    const p = await peer("nginx");
    for (const path of [`${TS}/v1alpha1`, `${TS}/v1alpha1/namespaces/default/trafficsplits`, "/apis/nope.example.com"]) {
      const r = await call(p, "GET", path);
      expect(r.status, path).toBe(404);
      expect(r.body).toMatchObject({ kind: "Status", status: "Failure", reason: "NotFound", code: 404 });
    }
    const none = await peer("none");
    const groups = (await call(none, "GET", "/apis")).body.groups.map((g: Json) => g.name);
    expect(groups).not.toContain("split.smi-spec.io");
    expect(groups).toEqual(expect.arrayContaining(["apps", "gateway.networking.k8s.io"]));
  });

  it("lists the deployments scale subresource and serves /version and /api", async () => {
    const p = await peer("sdk");
    const apps = await call(p, "GET", "/apis/apps/v1");
    expect(apps.body.resources.map((r: Json) => r.name)).toEqual(["deployments", "deployments/scale"]);
    expect((await call(p, "GET", "/version")).body.major).toBe("1");
    expect((await call(p, "GET", "/api")).body.versions).toEqual(["v1"]);
  });
});

describe("objects", () => {
  it("creates with 201, refuses a second create with 409 AlreadyExists and answers 404 Status for a missing object", async () => {
    const p = await peer("nginx");
    const path = `${TS}/v1alpha3/namespaces/shop/trafficsplits`;
    const created = await call(p, "POST", path, split("web", "split.smi-spec.io/v1alpha3", [{ service: "web-v1", weight: 100 }]));
    expect(created.status).toBe(201);
    expect(created.body.metadata).toMatchObject({ name: "web", namespace: "shop", generation: 1 });
    expect(created.body.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof created.body.metadata.resourceVersion).toBe("string");
    expect(created.body.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const again = await call(p, "POST", path, split("web", "split.smi-spec.io/v1alpha3", [{ service: "web-v1", weight: 100 }]));
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ kind: "Status", reason: "AlreadyExists", code: 409 });

    const missing = await call(p, "GET", `${path}/other`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({
      reason: "NotFound",
      message: 'trafficsplits.split.smi-spec.io "other" not found',
      details: { name: "other", kind: "trafficsplits" },
    });
    const list = await call(p, "GET", path);
    expect(list.body.kind).toBe("TrafficSplitList");
    expect(list.body.items.map((i: Json) => i.metadata.name)).toEqual(["web"]);
  });

  it("refuses a PUT with a stale resourceVersion (409 Conflict) or none (422), accepts the current one", async () => {
    const p = await peer("sdk");
    const seeded = p.seed("trafficsplits", "default", split("web", "split.smi-spec.io/v1alpha4", [{ service: "web-v1", weight: 100 }]));
    const stale = String(seeded.metadata!.resourceVersion);
    p.edit("trafficsplits", "default", "web", (o) => {
      o.metadata!.labels = { edited: "by-hand" };
    });
    const url = `${TS}/v1alpha4/namespaces/default/trafficsplits/web`;
    const body = (rv?: string) => ({
      ...split("web", "split.smi-spec.io/v1alpha4", [{ service: "web-v1", weight: 50 }]),
      metadata: { name: "web", resourceVersion: rv },
    });

    const conflict = await call(p, "PUT", url, body(stale));
    expect(conflict.status).toBe(409);
    expect(conflict.body).toMatchObject({ reason: "Conflict", code: 409 });
    expect(conflict.body.message).toContain("the object has been modified");

    const unconditional = await call(p, "PUT", url, body(undefined));
    expect(unconditional.status).toBe(422);
    expect(unconditional.body.message).toContain("must be specified for an update");

    const current = String(p.get("trafficsplits", "default", "web")!.metadata!.resourceVersion);
    const ok = await call(p, "PUT", url, body(current));
    expect(ok.status).toBe(200);
    expect(Number(ok.body.metadata.resourceVersion)).toBeGreaterThan(Number(current));
    expect(ok.body.metadata.generation).toBe(2);
    expect(p.get("trafficsplits", "default", "web")!.spec).toEqual({ service: "web", backends: [{ service: "web-v1", weight: 50 }] });
  });

  it("keeps the resourceVersion when a write changes nothing", async () => {
    const p = await peer("sdk");
    const seeded = p.seed("trafficsplits", "default", split("web", "split.smi-spec.io/v1alpha4", [{ service: "web-v1", weight: 100 }]));
    const rv = seeded.metadata!.resourceVersion;
    const r = await call(p, "PUT", `${TS}/v1alpha4/namespaces/default/trafficsplits/web`, { ...seeded, metadata: { ...seeded.metadata } });
    expect(r.status).toBe(200);
    expect(r.body.metadata.resourceVersion).toBe(rv);
  });

  it("hands out one cluster-wide, increasing resourceVersion", async () => {
    const p = await peer("sdk");
    const a = p.seed("trafficsplits", "a", split("web", "split.smi-spec.io/v1alpha4", [{ service: "x", weight: 1 }]));
    const b = p.seed("httproutes", "b", { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", metadata: { name: "r" }, spec: {} });
    const c = p.edit("trafficsplits", "a", "web", (o) => void ((o.spec as Json).service = "api"));
    const versions = [a, b, c].map((o) => Number(o.metadata!.resourceVersion));
    expect(versions[1]).toBeGreaterThan(versions[0]!);
    expect(versions[2]).toBeGreaterThan(versions[1]!);
  });
});

describe("delete and other resource types", () => {
  it("deletes an object once, then answers 404", async () => {
    const p = await peer("sdk");
    p.seed("trafficsplits", "default", split("web", "split.smi-spec.io/v1alpha4", [{ service: "a", weight: 1 }]));
    const url = `${TS}/v1alpha4/namespaces/default/trafficsplits/web`;
    const gone = await call(p, "DELETE", url);
    expect(gone.body).toMatchObject({ kind: "Status", status: "Success", details: { name: "web", kind: "trafficsplits" } });
    expect(p.get("trafficsplits", "default", "web")).toBeUndefined();
    expect((await call(p, "DELETE", url)).status).toBe(404);
    expect(p.mutations("trafficsplits", "default", "web").map((m) => m.status)).toEqual([200, 404]);
  });

  it("serves HTTPRoute v1 and v1beta1 with the CRD's backendRef defaults and weight bounds", async () => {
    const p = await peer("none");
    const route = (weight?: number) => ({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "web" },
      spec: { rules: [{ backendRefs: [{ name: "web-v1", port: 80, ...(weight === undefined ? {} : { weight }) }] }] },
    });
    const path = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes";
    expect((await call(p, "POST", path, route(1_000_001))).status).toBe(422);
    const created = await call(p, "POST", path, route());
    expect(created.body.spec.rules[0].backendRefs[0]).toEqual({ name: "web-v1", port: 80, group: "", kind: "Service", weight: 1 });
    const beta = await call(p, "GET", "/apis/gateway.networking.k8s.io/v1beta1/namespaces/default/httproutes/web");
    expect(beta.body.apiVersion).toBe("gateway.networking.k8s.io/v1beta1");
  });
});

describe("validation per served version", () => {
  it("nginx (v1alpha3) wants whole-number weights >= 0 and spec.service/backends", async () => {
    const p = await peer("nginx");
    const path = `${TS}/v1alpha3/namespaces/default/trafficsplits`;
    const cases: [unknown, string][] = [
      ["10", 'spec.backends[0].weight in body must be of type integer: "string"'],
      [1.5, 'spec.backends[0].weight in body must be of type integer: "number"'],
      [-1, "should be greater than or equal to 0"],
    ];
    for (const [weight, message] of cases) {
      const r = await call(p, "POST", path, split("web", "split.smi-spec.io/v1alpha3", [{ service: "web-v1", weight }]));
      expect(r.status).toBe(422);
      expect(r.body).toMatchObject({ kind: "Status", reason: "Invalid", code: 422 });
      expect(r.body.message).toContain('TrafficSplit.split.smi-spec.io "web" is invalid');
      expect(r.body.message).toContain(message);
    }
    const noBackends = await call(p, "POST", path, {
      apiVersion: "split.smi-spec.io/v1alpha3",
      kind: "TrafficSplit",
      metadata: { name: "web" },
      spec: { service: "web" },
    });
    expect(noBackends.status).toBe(422);
    expect(noBackends.body.details.causes).toContainEqual(expect.objectContaining({ field: "spec.backends", message: "Required value" }));
    const withMatches = await call(
      p,
      "POST",
      path,
      split("web", "split.smi-spec.io/v1alpha3", [{ service: "web-v1", weight: 0 }], { matches: [{ kind: "HTTPRouteGroup", name: "canary-header" }] }),
    );
    expect(withMatches.status).toBe(201);
    expect(withMatches.body.spec.matches).toEqual([{ kind: "HTTPRouteGroup", name: "canary-header" }]);
  });

  it("linkerd (v1alpha1) takes quantities and integers, refuses what is neither", async () => {
    const p = await peer("linkerd");
    const path = `${TS}/v1alpha1/namespaces/default/trafficsplits`;
    const good = await call(
      p,
      "POST",
      path,
      split("web", "split.smi-spec.io/v1alpha1", [
        { service: "web-v1", weight: "900m" },
        { service: "web-v2", weight: 100 },
      ]),
    );
    expect(good.status).toBe(201);
    expect(good.body.spec.backends).toEqual([
      { service: "web-v1", weight: "900m" },
      { service: "web-v2", weight: 100 },
    ]);
    for (const weight of ["lots", 0.5]) {
      const bad = await call(p, "POST", path, split(`web-${typeof weight}`, "split.smi-spec.io/v1alpha1", [{ service: "web-v1", weight }]));
      expect(bad.status).toBe(422);
      expect(bad.body.reason).toBe("Invalid");
    }
  });

  it("prunes fields a version does not declare (v1alpha1 has no matches)", async () => {
    const p = await peer("linkerd");
    const r = await call(
      p,
      "POST",
      `${TS}/v1alpha1/namespaces/default/trafficsplits`,
      split("web", "split.smi-spec.io/v1alpha1", [{ service: "web-v1", weight: "1" }], { matches: [{ kind: "HTTPRouteGroup", name: "x" }] }),
    );
    expect(r.status).toBe(201);
    expect(r.body.spec).toEqual({ service: "web", backends: [{ service: "web-v1", weight: "1" }] });
  });

  it("linkerd-smi returns stored v1alpha1 quantities unchanged when read through v1alpha2 (no conversion)", async () => {
    const p = await peer("linkerd-smi");
    p.seed("trafficsplits", "default", split("web", "split.smi-spec.io/v1alpha1", [{ service: "web-v1", weight: "900m" }]));
    const r = await call(p, "GET", `${TS}/v1alpha2/namespaces/default/trafficsplits/web`);
    expect(r.body.apiVersion).toBe("split.smi-spec.io/v1alpha2");
    expect(r.body.spec.backends[0].weight).toBe("900m");
  });
});

describe("patch", () => {
  it("applies merge patches and JSON patches, refuses strategic merge on a custom resource", async () => {
    const p = await peer("sdk");
    p.seed(
      "trafficsplits",
      "default",
      split("web", "split.smi-spec.io/v1alpha4", [
        { service: "web-v1", weight: 100 },
        { service: "web-v2", weight: 0 },
      ]),
    );
    const url = `${TS}/v1alpha4/namespaces/default/trafficsplits/web`;
    const merge = await call(
      p,
      "PATCH",
      url,
      {
        metadata: { labels: { team: "shop" } },
        spec: {
          backends: [
            { service: "web-v1", weight: 90 },
            { service: "web-v2", weight: 10 },
          ],
        },
      },
      "application/merge-patch+json",
    );
    expect(merge.status).toBe(200);
    expect(merge.body.metadata.labels).toEqual({ team: "shop" });
    expect(merge.body.spec.backends).toEqual([
      { service: "web-v1", weight: 90 },
      { service: "web-v2", weight: 10 },
    ]);

    const json = await call(
      p,
      "PATCH",
      url,
      [
        { op: "test", path: "/spec/backends/1/weight", value: 10 },
        { op: "replace", path: "/spec/backends/1/weight", value: 20 },
      ],
      "application/json-patch+json",
    );
    expect(json.status).toBe(200);
    expect(json.body.spec.backends[1].weight).toBe(20);
    const failedTest = await call(p, "PATCH", url, [{ op: "test", path: "/spec/backends/1/weight", value: 10 }], "application/json-patch+json");
    expect(failedTest.status).toBe(422);

    const strategic = await call(p, "PATCH", url, { spec: {} }, "application/strategic-merge-patch+json");
    expect(strategic.status).toBe(415);

    const stale = await call(p, "PATCH", url, { metadata: { resourceVersion: "1" }, spec: { service: "x" } }, "application/merge-patch+json");
    expect(stale.status).toBe(409);
    const invalid = await call(p, "PATCH", url, { spec: { backends: null } }, "application/merge-patch+json");
    expect(invalid.status).toBe(422);
  });
});

describe("namespaces", () => {
  it("when restricted, refuses writes in unknown namespaces with 404 and lists them empty", async () => {
    const p = await peer("sdk", ["default"]);
    const r = await call(p, "POST", `${TS}/v1alpha4/namespaces/ghost/trafficsplits`, split("web", "split.smi-spec.io/v1alpha4", [{ service: "a", weight: 1 }]));
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ reason: "NotFound", message: 'namespaces "ghost" not found', details: { kind: "namespaces" } });
    const list = await call(p, "GET", `${TS}/v1alpha4/namespaces/ghost/trafficsplits`);
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([]);
    expect((await call(p, "GET", "/api/v1/namespaces/ghost")).status).toBe(404);
    expect((await call(p, "GET", "/api/v1/namespaces/default")).body.status.phase).toBe("Active");
  });
});

describe("deployments scale subresource", () => {
  it("reads and writes replicas through /scale with GET, PUT and merge PATCH", async () => {
    const p = await peer("sdk");
    p.seed("deployments", "shop", {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web-v1" },
      spec: { replicas: 3, selector: { matchLabels: { app: "web" } }, template: { metadata: { labels: { app: "web" } } } },
    });
    const url = "/apis/apps/v1/namespaces/shop/deployments/web-v1/scale";
    const scale = await call(p, "GET", url);
    expect(scale.body).toMatchObject({ kind: "Scale", apiVersion: "autoscaling/v1", spec: { replicas: 3 }, status: { replicas: 3, selector: "app=web" } });

    const put = await call(p, "PUT", url, { ...scale.body, spec: { replicas: 1 } });
    expect(put.body.spec.replicas).toBe(1);
    const stale = await call(p, "PUT", url, { ...scale.body, spec: { replicas: 5 } });
    expect(stale.status).toBe(409);

    const patched = await call(p, "PATCH", url, { spec: { replicas: 0 } }, "application/merge-patch+json");
    expect(patched.status).toBe(200);
    expect(p.get("deployments", "shop", "web-v1")).toMatchObject({ spec: { replicas: 0 }, status: { readyReplicas: 0 } });
    expect((await call(p, "PUT", url, { spec: { replicas: -1 } })).status).toBe(422);
  });
});

describe("test hooks", () => {
  it("logs requests, counts writes per object, injects faults and wants the kubeconfig's token", async () => {
    const p = await peer("sdk");
    const path = `${TS}/v1alpha4/namespaces/default/trafficsplits`;
    p.failNext({ method: "POST", status: 503, times: 2 });
    const body = split("web", "split.smi-spec.io/v1alpha4", [{ service: "a", weight: 1 }]);
    expect((await call(p, "POST", path, body)).status).toBe(503);
    expect((await call(p, "POST", path, body)).body).toMatchObject({ kind: "Status", reason: "ServiceUnavailable", code: 503 });
    expect((await call(p, "POST", path, body)).status).toBe(201);
    await call(p, "POST", `${path}?dryRun=All`, split("other", "split.smi-spec.io/v1alpha4", [{ service: "a", weight: 1 }]));
    expect(p.get("trafficsplits", "default", "other")).toBeUndefined();
    expect(p.mutations("trafficsplits", "default", "web").map((r) => r.status)).toEqual([503, 503, 201]);
    expect(p.mutations("trafficsplits", "default", "other")).toEqual([]);

    p.failNext({ pathIncludes: "/trafficsplits/web", reset: true });
    await expect(fetch(`${p.url}${path}/web`, { headers: { authorization: `Bearer ${p.token}` } })).rejects.toThrow();

    const started = Date.now();
    p.failNext({ method: "GET", delayMs: 200 });
    expect((await call(p, "GET", `${path}/web`)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);

    const anonymous = await fetch(`${p.url}${path}`);
    expect(anonymous.status).toBe(401);
  });

  it("writes a kubeconfig the real client uses", async () => {
    const p = await peer("sdk");
    const kc = new KubeConfig();
    kc.loadFromFile(p.kubeconfigPath);
    expect(kc.getCurrentCluster()?.server).toBe(p.url);
    const info = await kc.makeApiClient(VersionApi).getCode();
    expect(info.gitVersion).toContain("peer");
  });
});

/**
 * Server-side apply and managedFields on the Kubernetes API peer, over raw HTTP, as the API server answers
 * them (../shared/reference/PROGRESSIVE-DELIVERY.md §5): fieldManager required, force only on apply, 409
 * conflicts with one cause per field, ownership moved by updates and forced applies, the resourceVersion
 * precondition kept.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKubeApiPeer, type KubeApiPeer } from "../../sandbox/peers/kube-api.ts";
import { fromFieldsV1 } from "../../sandbox/peers/kube-api-managed.ts";

type Json = Record<string, any>;
let p: KubeApiPeer;
beforeAll(async () => {
  p = await startKubeApiPeer({ smiFlavour: "none" });
});
afterAll(() => p.close());

const URL_ = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes";

async function call(method: string, path: string, body?: unknown, contentType = "application/json", userAgent = "test-client/1.0") {
  const res = await fetch(p.url + path, {
    method,
    headers: { authorization: `Bearer ${p.token}`, "user-agent": userAgent, ...(body === undefined ? {} : { "content-type": contentType }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

const route = (name: string, weights: number[], extra: Json = {}) => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name, ...extra },
  spec: {
    parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }],
    rules: [{ backendRefs: weights.map((w, i) => ({ name: `web-v${i + 1}`, port: 8080, weight: w })) }],
  },
});
const APPLY = "application/apply-patch+yaml";
const owners = (obj: Json) =>
  Object.fromEntries((obj.metadata.managedFields as Json[]).map((e) => [`${e.manager}/${e.operation}`, fromFieldsV1(e.fieldsV1).sort()]));

describe("server-side apply on the peer", () => {
  it("apply needs a fieldManager; force is refused on other patches", async () => {
    expect(await call("PATCH", `${URL_}/a`, route("a", [100]), APPLY)).toMatchObject({
      status: 400,
      body: { message: "fieldManager: Required value: is required for apply patch" },
    });
    const created = await call("PATCH", `${URL_}/a?fieldManager=argocd-controller`, route("a", [100]), APPLY);
    expect(created.status).toBe(201); // an apply that creates answers 201 Created, as the API server does
    expect(owners(created.body)).toEqual({ "argocd-controller/Apply": ["/spec/parentRefs", "/spec/rules"] });
    expect(created.body.metadata.managedFields[0]).toMatchObject({ apiVersion: "gateway.networking.k8s.io/v1", fieldsType: "FieldsV1" });
    expect((await call("PATCH", `${URL_}/a?force=true`, { metadata: { labels: { x: "y" } } }, "application/merge-patch+json")).status).toBe(422);
  });

  it("a different value on a field another manager owns is a 409 naming it; the same value is shared; force takes it", async () => {
    await call("PATCH", `${URL_}/b?fieldManager=kustomize-controller`, route("b", [100, 0]), APPLY);
    const mine = { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", metadata: { name: "b" }, spec: { rules: route("b", [90, 10]).spec.rules } };
    const refused = await call("PATCH", `${URL_}/b?fieldManager=rollout-bot`, mine, APPLY);
    expect(refused).toMatchObject({
      status: 409,
      body: {
        reason: "Conflict",
        message: 'Apply failed with 1 conflict: conflict with "kustomize-controller": .spec.rules',
        details: { causes: [{ type: "FieldManagerConflict", message: 'conflict with "kustomize-controller"', field: ".spec.rules" }] },
      },
    });
    // The same value as stored (with the CRD's defaults: an atomic list compares whole).
    const same = { ...mine, spec: { rules: (p.get("httproutes", "shop", "b")!.spec as Json).rules } };
    const shared = await call("PATCH", `${URL_}/b?fieldManager=rollout-bot`, same, APPLY);
    expect(owners(shared.body)).toEqual({ "kustomize-controller/Apply": ["/spec/parentRefs", "/spec/rules"], "rollout-bot/Apply": ["/spec/rules"] });
    const forced = await call("PATCH", `${URL_}/b?fieldManager=rollout-bot&force=true`, mine, APPLY);
    expect(forced.status).toBe(200);
    expect(owners(forced.body)).toEqual({ "kustomize-controller/Apply": ["/spec/parentRefs"], "rollout-bot/Apply": ["/spec/rules"] });
    expect(forced.body.spec.rules[0].backendRefs.map((r: Json) => r.weight)).toEqual([90, 10]);
  });

  it("an update takes the fields it changed (manager from fieldManager or the User-Agent); Update owners are named with version and time", async () => {
    const created = await call("POST", URL_, route("c", [100]), "application/json", "kubectl-client-side-apply/v1.33.0");
    expect(owners(created.body)).toEqual({ "kubectl-client-side-apply/Update": ["/spec/parentRefs", "/spec/rules"] });
    const patched = await call("PATCH", `${URL_}/c?fieldManager=kubectl-edit`, { metadata: { labels: { team: "shop" } } }, "application/merge-patch+json");
    expect(owners(patched.body)).toEqual({
      "kubectl-client-side-apply/Update": ["/spec/parentRefs", "/spec/rules"],
      "kubectl-edit/Update": ["/metadata/labels/team"],
    });
    const conflict = await call("PATCH", `${URL_}/c?fieldManager=rollout-bot`, { ...route("c", [50]), spec: { rules: route("c", [50]).spec.rules } }, APPLY);
    expect(conflict.status).toBe(409);
    expect(conflict.body.message).toMatch(
      /^Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using gateway.networking.k8s.io\/v1 at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: .spec.rules$/,
    );
  });

  it("keeps the compare-and-set: a stale resourceVersion in the applied object is a 409, nothing written", async () => {
    const first = await call("PATCH", `${URL_}/d?fieldManager=rollout-bot`, route("d", [100]), APPLY);
    const rv = first.body.metadata.resourceVersion as string;
    p.edit("httproutes", "shop", "d", (o) => {
      (o.metadata as Json).labels = { touched: "yes" };
    });
    const stale = await call("PATCH", `${URL_}/d?fieldManager=rollout-bot`, { ...route("d", [0]), metadata: { name: "d", resourceVersion: rv } }, APPLY);
    expect(stale).toMatchObject({ status: 409, body: { reason: "Conflict", message: expect.stringContaining("the object has been modified") } });
    expect((p.get("httproutes", "shop", "d")!.spec as Json).rules[0].backendRefs[0].weight).toBe(100);
    expect(owners(p.get("httproutes", "shop", "d")!)).toEqual({
      "rollout-bot/Apply": ["/spec/parentRefs", "/spec/rules"],
      "kubectl-edit/Update": ["/metadata/labels/touched"],
    });
  });

  it("a field the applier stops sending is removed when nobody else owns it", async () => {
    await call("PATCH", `${URL_}/e?fieldManager=me`, route("e", [100], { labels: { a: "1", b: "2" } }), APPLY);
    const after = await call("PATCH", `${URL_}/e?fieldManager=me`, route("e", [100], { labels: { a: "1" } }), APPLY);
    expect(after.body.metadata.labels).toEqual({ a: "1" });
  });
});

/**
 * The bot's Kubernetes plumbing: where credentials come from (loadKubeConfig) and the Deployment scale
 * helpers used by "cleanup: scale-down", against the local API peer through the real client-node.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, mkdir, rm, writeFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfigError, loadClusterKubeConfig, loadKubeConfig } from "../../src/kube/config.ts";
import { ReplicasOwnedError, getDeploymentReplicas, scaleDeployment } from "../../src/kube/deployments.ts";
import { KubeApiError } from "../../src/kube/call.ts";
import { readyWorkload, startKubeApiPeer, type KubeApiPeer } from "../../sandbox/peers/kube-api.ts";

let peer: KubeApiPeer;
let dir: string;

beforeAll(async () => {
  peer = await startKubeApiPeer({ smiFlavour: "sdk" });
  dir = await mkdtemp(join(tmpdir(), "kube-client-test-"));
});
afterAll(async () => {
  await peer.close();
  await rm(dir, { recursive: true, force: true });
});

describe("loadKubeConfig", () => {
  const nowhere = () => ({ env: {}, home: join(dir, "no-home"), serviceAccountRoot: join(dir, "no-pod") });

  it("loads the given file", () => {
    const kc = loadKubeConfig(peer.kubeconfigPath);
    expect(kc.getCurrentCluster()?.server).toBe(peer.url);
  });

  it("follows KUBECONFIG, then ~/.kube/config", async () => {
    expect(loadKubeConfig(undefined, { ...nowhere(), env: { KUBECONFIG: peer.kubeconfigPath } }).getCurrentCluster()?.server).toBe(peer.url);
    const home = join(dir, "home");
    await mkdir(join(home, ".kube"), { recursive: true });
    await copyFile(peer.kubeconfigPath, join(home, ".kube", "config"));
    expect(loadKubeConfig(undefined, { ...nowhere(), home }).getCurrentCluster()?.server).toBe(peer.url);
  });

  it("says what it looked at when there is nothing to load", () => {
    expect(() => loadKubeConfig(undefined, nowhere())).toThrow(KubeConfigError);
    expect(() => loadKubeConfig(undefined, nowhere())).toThrow(
      /no Kubernetes configuration found: KUBECONFIG is not set, .*no-home\/\.kube\/config does not exist/,
    );
    expect(() => loadKubeConfig(join(dir, "missing.yaml"))).toThrow(`kubeconfig ${join(dir, "missing.yaml")} (given path) does not exist`);
    expect(() => loadKubeConfig(undefined, { ...nowhere(), env: { KUBECONFIG: "/nope/a:/nope/b" } })).toThrow(
      "KUBECONFIG names /nope/a, /nope/b, and none of them exists",
    );
  });

  it("sends its requests over one kept-alive connection instead of opening one per request", async () => {
    // client-node makes a new agent per request; the bot's config reuses one (issue 24: a dozen connections per start).
    const kc = loadKubeConfig(peer.kubeconfigPath);
    peer.seed("deployments", "pool", readyWorkload("deployments", "web", 2)!);
    const before = peer.connections;
    for (let i = 0; i < 5; i++) expect(await getDeploymentReplicas(kc, "pool", "web")).toEqual({ desired: 2, current: 2 });
    await Promise.all(Array.from({ length: 3 }, () => getDeploymentReplicas(kc, "pool", "web")));
    // Five one after another on one connection; three at once need at most two more.
    expect(peer.connections - before).toBeGreaterThanOrEqual(1);
    expect(peer.connections - before).toBeLessThanOrEqual(3);
  });

  it("keeps the connections of a cluster reached through a context of the bot's kubeconfig too", async () => {
    // `clusters: [{ name: prod-eu, context: eu }]`: the same pooling as the bot's own cluster (issue 24).
    const path = join(dir, "two-contexts.yaml");
    const doc = JSON.parse(loadKubeConfig(peer.kubeconfigPath).exportConfig()) as { contexts: { name: string; context: unknown }[] };
    doc.contexts.push({ name: "eu", context: doc.contexts[0]!.context });
    await writeFile(path, JSON.stringify(doc));
    const kc = loadClusterKubeConfig({ name: "prod-eu", context: "eu" }, loadKubeConfig(path));
    peer.seed("deployments", "pool-eu", readyWorkload("deployments", "web", 2)!);
    const before = peer.connections;
    for (let i = 0; i < 5; i++) expect(await getDeploymentReplicas(kc, "pool-eu", "web")).toEqual({ desired: 2, current: 2 });
    expect(peer.connections - before).toBe(1);
  });

  it("refuses a kubeconfig without a usable context", async () => {
    const path = join(dir, "no-context.yaml");
    await writeFile(path, "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n");
    expect(() => loadKubeConfig(path)).toThrow(/has no current-context/);
  });
});

describe("deployment replicas", () => {
  const deployment = (name: string, replicas: number) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } } } },
  });

  it("reads and scales through the scale subresource, writing only when the count changes", async () => {
    const kc = loadKubeConfig(peer.kubeconfigPath);
    peer.seed("deployments", "shop", deployment("web-v1", 3));
    peer.reset();
    expect(await getDeploymentReplicas(kc, "shop", "web-v1")).toEqual({ desired: 3, current: 3 });
    expect(await scaleDeployment(kc, "shop", "web-v1", 0)).toEqual({ from: 3, to: 0, changed: true });
    expect(peer.get("deployments", "shop", "web-v1")?.spec).toMatchObject({ replicas: 0 });
    expect(await scaleDeployment(kc, "shop", "web-v1", 0)).toEqual({ from: 0, to: 0, changed: false });
    const writes = peer.mutations("deployments", "shop", "web-v1");
    expect(writes.map((m) => `${m.method} ${m.subresource} ${m.status} ${new URLSearchParams(m.query).get("fieldManager")}`)).toEqual([
      "PATCH scale 200 rollout-bot",
    ]);
    // The bot owns exactly spec.replicas now, through the scale subresource.
    const managed = peer.get("deployments", "shop", "web-v1")?.metadata?.managedFields as { manager: string; subresource?: string; fieldsV1: unknown }[];
    expect(managed.filter((e) => e.manager === "rollout-bot")).toEqual([
      expect.objectContaining({ operation: "Apply", subresource: "scale", fieldsV1: { "f:spec": { "f:replicas": {} } } }),
    ]);
  });

  it("another manager owning spec.replicas (an HPA, Argo CD) is named and never forced; the bot's own apply is taken back", async () => {
    const kc = loadKubeConfig(peer.kubeconfigPath);
    // An HPA: kube-controller-manager writes replicas through the scale subresource.
    peer.seed("deployments", "shop", deployment("hpa", 4));
    const hpa = await fetch(`${peer.url}/apis/apps/v1/namespaces/shop/deployments/hpa/scale?fieldManager=kube-controller-manager`, {
      method: "PUT",
      headers: { authorization: `Bearer ${peer.token}`, "content-type": "application/json" },
      body: JSON.stringify({ apiVersion: "autoscaling/v1", kind: "Scale", metadata: { name: "hpa", namespace: "shop" }, spec: { replicas: 6 } }),
    });
    expect(hpa.status).toBe(200);
    const err = await scaleDeployment(kc, "shop", "hpa", 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplicasOwnedError);
    expect((err as ReplicasOwnedError).managers).toEqual(["kube-controller-manager"]);
    expect((err as Error).message).toContain(
      'its spec.replicas is owned by `kube-controller-manager` (Apply failed with 1 conflict: conflict with "kube-controller-manager" with subresource "scale"',
    );
    expect((err as Error).message).toContain("the bot does not take it by force, nothing was changed");
    expect(peer.get("deployments", "shop", "hpa")?.spec).toMatchObject({ replicas: 6 });

    // Argo CD applied the Deployment (replicas included) with server-side apply.
    peer.apply("deployments", "shop", deployment("argo", 3), { manager: "argocd-controller", force: true });
    const argo = await scaleDeployment(kc, "shop", "argo", 0).catch((e: unknown) => e);
    expect(argo).toMatchObject({ managers: ["argocd-controller"], transient: false });
    expect(peer.get("deployments", "shop", "argo")?.spec).toMatchObject({ replicas: 3 });
    expect(peer.mutations("deployments", "shop", "argo").map((m) => `${m.status} ${new URLSearchParams(m.query).get("force")}`)).toEqual(["409 false"]);

    // A Deployment the bot applied itself (`--image`): its own field under another subresource is taken back.
    peer.apply("deployments", "shop", deployment("own", 2), { manager: "rollout-bot" });
    expect(await scaleDeployment(kc, "shop", "own", 0)).toEqual({ from: 2, to: 0, changed: true });
    expect(peer.mutations("deployments", "shop", "own").map((m) => `${m.status} ${new URLSearchParams(m.query).get("force")}`)).toEqual([
      "409 false",
      "200 true",
    ]);
  });

  it("a count set by hand (kubectl apply) is taken, as kubectl scale would, and the result says from whom", async () => {
    const kc = loadKubeConfig(peer.kubeconfigPath);
    const created = await fetch(`${peer.url}/apis/apps/v1/namespaces/shop/deployments?fieldManager=kubectl-client-side-apply`, {
      method: "POST",
      headers: { authorization: `Bearer ${peer.token}`, "content-type": "application/json" },
      body: JSON.stringify(deployment("by-hand", 3)),
    });
    expect(created.status).toBe(201);
    expect(await scaleDeployment(kc, "shop", "by-hand", 0)).toEqual({ from: 3, to: 0, changed: true, tookFrom: ["kubectl-client-side-apply"] });
    expect(peer.get("deployments", "shop", "by-hand")?.spec).toMatchObject({ replicas: 0 });
    expect(peer.mutations("deployments", "shop", "by-hand").map((m) => `${m.method} ${m.status} ${new URLSearchParams(m.query).get("force")}`)).toEqual([
      "POST 201 null",
      "PATCH 409 false",
      "PATCH 200 true",
    ]);
  });

  it("retries once when the Deployment changed in between, and reports a missing Deployment", async () => {
    const kc = loadKubeConfig(peer.kubeconfigPath);
    peer.seed("deployments", "shop", deployment("web-v2", 2));
    // Someone labels it between the read and the apply: the apply's resourceVersion is stale (409, no causes).
    peer.onNext({ method: "PATCH", pathIncludes: "/deployments/web-v2/scale" }, () => {
      peer.edit("deployments", "shop", "web-v2", (o) => void ((o.metadata as { labels?: Record<string, string> }).labels = { team: "shop" }));
    });
    expect(await scaleDeployment(kc, "shop", "web-v2", 1)).toEqual({ from: 2, to: 1, changed: true });
    expect(peer.mutations("deployments", "shop", "web-v2").map((m) => m.status)).toEqual([409, 200]);

    const err = await scaleDeployment(kc, "shop", "nope", 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ code: 404, transient: false });
    expect((err as Error).message).toContain('deployments.apps "nope" not found');
  });
});

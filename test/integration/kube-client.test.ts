/**
 * The bot's Kubernetes plumbing: where credentials come from (loadKubeConfig) and the Deployment scale
 * helpers used by "cleanup: scale-down", against the local API peer through the real client-node.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, mkdir, rm, writeFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfigError, loadClusterKubeConfig, loadKubeConfig } from "../../src/kube/config.ts";
import { getDeploymentReplicas, scaleDeployment } from "../../src/kube/deployments.ts";
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
    expect(writes.map((m) => `${m.method} ${m.subresource} ${m.status}`)).toEqual(["PUT scale 200"]);
  });

  it("retries once when someone scaled in between, and reports a missing Deployment", async () => {
    const kc = loadKubeConfig(peer.kubeconfigPath);
    peer.seed("deployments", "shop", deployment("web-v2", 2));
    peer.onNext({ method: "PUT", pathIncludes: "/deployments/web-v2/scale" }, () => {
      peer.edit("deployments", "shop", "web-v2", (o) => void ((o.spec as { replicas: number }).replicas = 5));
    });
    expect(await scaleDeployment(kc, "shop", "web-v2", 1)).toEqual({ from: 5, to: 1, changed: true });

    const err = await scaleDeployment(kc, "shop", "nope", 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ code: 404, transient: false });
    expect((err as Error).message).toContain('deployments.apps "nope" not found');
  });
});

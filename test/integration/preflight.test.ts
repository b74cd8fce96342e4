import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { TargetSchema } from "../../src/engine/target.ts";
import { loadKubeConfig } from "../../src/kube/config.ts";
import { kubePreflight, type Preflight } from "../../src/kube/preflight.ts";
import { CANARY_MEMORY_MS, WorkloadReader } from "../../src/kube/workloads.ts";
import { readyWorkload, startKubeApiPeer, type KubeApiPeer, type KubeObject } from "../../sandbox/peers/kube-api.ts";
import { CHANNEL, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { HTTPROUTE_CRD, crdValidator } from "../support/crd-schema.ts";
import { waitFor } from "../support/wait.ts";
import { percentOnSplit } from "../support/split.ts";

/**
 * Issue 11: before any traffic moves, the apex, stable and canary Services must exist and the canary's
 * Deployment must be ready. A refused start is a private reply naming the object and what is wrong; the
 * Kubernetes API sees no write (not even a dry run) and the channel sees no message.
 */

const ALICE = "UALICE";
let h: Harness;

beforeAll(async () => {
  // A cluster that holds only what each test creates.
  h = await startHarness({ implicitWorkloads: false });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.kube.reset();
});

function seedService(ns: string, name: string, selector?: Record<string, string>): void {
  const svc = readyWorkload("services", name)!;
  if (selector) (svc.spec as Record<string, unknown>).selector = selector;
  h.kube.seed("services", ns, svc);
}

/** A Deployment with `replicas`, of which `available` are available (status as its controller reports it). */
function seedDeployment(ns: string, name: string, replicas: number, available = replicas, podLabels?: Record<string, string>): void {
  const d = readyWorkload("deployments", name, replicas)! as KubeObject & { spec: { template: { metadata: { labels: Record<string, string> } } } };
  if (podLabels) d.spec.template.metadata.labels = podLabels;
  const saved = h.kube.seed("deployments", ns, d);
  const generation = (saved.metadata as { generation: number }).generation;
  h.kube.setStatus("deployments", ns, name, { observedGeneration: generation, replicas, readyReplicas: available, availableReplicas: available });
}

/** Start, wait for the private answer about it, and check nothing reached the cluster or the channel. */
async function expectRefused(text: string, rolloutId: string): Promise<string> {
  const postsBefore = h.slack.messages(CHANNEL).length;
  const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text });
  const reply = await waitFor(() => h.slack.responses(res.responseUrl).find((p) => p.text?.includes("Cannot start")), { what: `refusal of "${text}"` });
  expect(reply.response_type ?? "ephemeral").toBe("ephemeral");
  expect(reply.text).toContain("Nothing was changed");
  expect((await h.bot.store.get(rolloutId))?.status).toBe("rejected");
  // Reads only: no write, no dry run, on any resource.
  expect(h.kube.requests.filter((r) => r.method !== "GET")).toEqual([]);
  expect(h.slack.messages(CHANNEL).length).toBe(postsBefore);
  return reply.text!;
}

describe("a start is refused privately, with zero writes and zero channel posts", () => {
  it("no Services at all (ad hoc)", async () => {
    const text = await expectRefused("start nosuch-svc --from a-v1 --to a-v2 --namespace default", "nosuch-svc#1");
    expect(text).toContain("`nosuch-svc`: no such Service in namespace `default` (the apex service clients call)");
    expect(text).toContain("`a-v1`: no such Service in namespace `default` (the stable version)");
    expect(text).toContain("`a-v2`: no such Service in namespace `default` (the canary)");
    expect(text).toContain("`a-v2`: no such Deployment in namespace `default`");
    // The Services were read: the API saw a GET of each.
    expect(h.kube.requests.filter((r) => r.resource === "services").map((r) => r.name)).toEqual(["nosuch-svc", "a-v1", "a-v2"]);
  });

  it("a canary Service that does not exist", async () => {
    seedService("shop", "cart");
    seedService("shop", "cart-v1");
    seedDeployment("shop", "cart-v2", 3);
    const text = await expectRefused("start cart --from cart-v1 --to cart-v2 --namespace shop", "cart#1");
    expect(text).toContain("`cart-v2`: no such Service in namespace `shop` (the canary)");
    expect(text).not.toContain("`cart-v1`");
    expect(text).not.toContain("Deployment"); // found by name, and ready
  });

  it("a stable Service that does not exist", async () => {
    seedService("shop2", "cart");
    seedService("shop2", "cart-v2");
    seedDeployment("shop2", "cart-v2", 3);
    const text = await expectRefused("start cart --from cart-v1 --to cart-v2 --namespace shop2", "cart#2");
    expect(text).toContain("`cart-v1`: no such Service in namespace `shop2` (the stable version)");
    expect(text).not.toContain("`cart-v2`");
  });

  it("a canary Deployment with 0 of 3 replicas available", async () => {
    for (const s of ["cart", "cart-v1", "cart-v2"]) seedService("shop3", s);
    seedDeployment("shop3", "cart-v2", 3, 0);
    const text = await expectRefused("start cart --from cart-v1 --to cart-v2 --namespace shop3", "cart#3");
    expect(text).toContain("`cart-v2`: 0 of 3 replicas available");
  });

  it("a canary Deployment scaled to 0", async () => {
    for (const s of ["cart", "cart-v1", "cart-v2"]) seedService("shop4", s);
    seedDeployment("shop4", "cart-v2", 0);
    const text = await expectRefused("start cart --from cart-v1 --to cart-v2 --namespace shop4", "cart#4");
    expect(text).toContain("`cart-v2`: scaled to 0 replicas");
  });

  it("the canary's Deployment is found through the canary Service's selector", async () => {
    seedService("shop5", "cart");
    seedService("shop5", "cart-v1");
    seedService("shop5", "cart-v2", { app: "cart", track: "canary" });
    seedDeployment("shop5", "cart-v2", 2); // named like the canary, but not what its Service selects
    seedDeployment("shop5", "cart-canary", 4, 1, { app: "cart", track: "canary" });
    const text = await expectRefused("start cart --from cart-v1 --to cart-v2 --namespace shop5", "cart#5");
    expect(text).toContain("`cart-canary`: 1 of 4 replicas available");
  });

  it("a Deployment that has not rolled out its latest change", async () => {
    for (const s of ["cart", "cart-v1", "cart-v2"]) seedService("shop6", s);
    seedDeployment("shop6", "cart-v2", 3);
    h.kube.setStatus("deployments", "shop6", "cart-v2", { observedGeneration: 0, replicas: 3, availableReplicas: 3 });
    const text = await expectRefused("start cart --from cart-v1 --to cart-v2 --namespace shop6", "cart#6");
    expect(text).toContain("`cart-v2`: its latest change (generation 1) is not rolled out yet (observed generation 0)");
  });
});

it("a ready canary still starts: the split is written and the message posted", async () => {
  for (const s of ["web", "web-v1", "web-v2"]) seedService("ready", s);
  seedDeployment("ready", "web-v2", 3);
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --from web-v1 --to web-v2 --namespace ready" });
  await waitForMessage(h, "web#1", "Advance to 50%");
  expect(percentOnSplit(h.kube.get("trafficsplits", "ready", "web")?.spec, "web-v2")).toBe(10);
});

describe("what preflight cannot read", () => {
  it("a refused read (403) refuses the start with the API's words; nothing is written", async () => {
    // Only this namespace's reads: the earlier tests' rollouts keep checking their own canaries meanwhile.
    h.kube.failNext({
      method: "GET",
      pathIncludes: "/namespaces/locked/services/",
      status: 403,
      message: 'services "vault" is forbidden: User "rollout-bot" cannot get resource "services"',
    });
    const text = await expectRefused("start vault --from vault-v1 --to vault-v2 --namespace locked", "vault#1");
    expect(text).toContain('could not check the workloads in namespace `locked`: read Service locked/vault: services "vault" is forbidden');
  });

  it("an API that does not answer (503) is retried; the start goes ahead once it does", async () => {
    for (const s of ["api", "api-v1", "api-v2"]) seedService("flaky", s);
    seedDeployment("flaky", "api-v2", 2);
    h.kube.failNext({ method: "GET", pathIncludes: "/services/", status: 503, times: 2 });
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start api --from api-v1 --to api-v2 --namespace flaky" });
    await waitForMessage(h, "api#1", "Advance to 50%");
    expect(h.kube.requests.filter((r) => r.resource === "services" && r.status === 503)).toHaveLength(2);
  });
});

describe("namerd targets", () => {
  const SEED = "/srv => /#/io.l5d.k8s/web/http ; /host/world => /srv/world-v1 ; /host/outside => /srv/outside-v1 ;";
  let hn: Harness;
  beforeAll(async () => {
    hn = await startHarness({
      implicitWorkloads: false,
      namerd: { internal: SEED },
      targetsYaml: `targets:
  - name: world
    namespace: web
    router: namerd
    namerd: { url: "{{NAMERD_URL}}", dtabNamespace: internal, prefix: /host/world }
  - name: outside
    router: namerd
    namerd: { url: "{{NAMERD_URL}}", dtabNamespace: internal, prefix: /host/outside }
`,
    });
  });
  afterAll(async () => {
    await hn?.close();
  });

  it("check the Deployment named by the canary version in the target's namespace; the dtab is untouched", async () => {
    const res = await hn.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start world --to world-v2" });
    const reply = await waitFor(() => hn.slack.responses(res.responseUrl).find((p) => p.text?.includes("Cannot start")), { what: "the refusal" });
    expect(reply.text).toContain("`world-v2`: no such Deployment in namespace `web` (the canary)");
    expect(hn.namerd!.writes).toBe(0);
    expect(hn.slack.messages(CHANNEL)).toEqual([]);

    hn.kube.seed("deployments", "web", readyWorkload("deployments", "world-v2", 2)!);
    await hn.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start world --to world-v2" });
    await waitForMessage(hn, "world#2", "Start shifting (10%)");
  });

  it("without a namespace there is no Deployment to check (namerd outside Kubernetes): the start goes ahead", async () => {
    hn.kube.reset();
    // No Deployment named outside-v2 exists anywhere in this cluster.
    await hn.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start outside --to outside-v2" });
    await waitForMessage(hn, "outside#1", "Start shifting (10%)");
    // (world#2 keeps checking its own canary in namespace web meanwhile.)
    expect(hn.kube.requests.filter((r) => (r.resource === "deployments" || r.resource === "services") && r.namespace !== "web")).toEqual([]);
  });
});

describe("gateway targets: the Services checked are the ones the route's backendRefs name", () => {
  // Route `web` in gw-routes (not the target's namespace): Services follow `web-{version}`.
  // Route `pay` in gw2: explicit stableService/canaryService, which follow no template.
  const TARGETS = `targets:
  - name: web
    namespace: gw-apps
    router: gateway
    steps: [10, 100]
    gateway: { namespace: gw-routes, rule: api, service: "web-{version}" }
    metrics: { source: none, refreshSeconds: 3600 }
  - name: pay
    namespace: gw2
    router: gateway
    stable: pay-v1
    steps: [10, 100]
    gateway: { stableService: pay-stable, canaryService: pay-canary }
    metrics: { source: none, refreshSeconds: 3600 }
`;
  let hg: Harness;
  beforeAll(async () => {
    hg = await startHarness({ implicitWorkloads: false, targetsYaml: TARGETS, kube: { validators: { httproutes: crdValidator(HTTPROUTE_CRD) } } });
  });
  afterAll(async () => {
    await hg?.close();
  });

  const route = (ns: string, name: string, stableService: string): KubeObject => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: ns },
    spec: {
      parentRefs: [{ group: "core", kind: "Service", name, port: 80 }],
      rules: [{ name: "api", matches: [{ path: { type: "PathPrefix", value: "/api" } }], backendRefs: [{ name: stableService, port: 8080 }] }],
    },
  });
  /** A Service selecting `labels`, and a ready Deployment of `replicas` whose pods carry them. */
  function seedWorkload(ns: string, service: string, deployment: string, labels: Record<string, string>): void {
    const svc = readyWorkload("services", service)!;
    (svc.spec as Record<string, unknown>).selector = labels;
    hg.kube.seed("services", ns, svc);
    const d = readyWorkload("deployments", deployment, 2)! as KubeObject & { spec: { template: { metadata: { labels: Record<string, string> } } } };
    d.spec.template.metadata.labels = labels;
    const saved = hg.kube.seed("deployments", ns, d);
    const generation = (saved.metadata as { generation: number }).generation;
    hg.kube.setStatus("deployments", ns, deployment, { observedGeneration: generation, replicas: 2, readyReplicas: 2, availableReplicas: 2 });
  }
  async function refusal(text: string): Promise<string> {
    const res = await hg.driver.slash({ userId: ALICE, channelId: CHANNEL, text });
    const reply = await waitFor(() => hg.slack.responses(res.responseUrl).find((p) => p.text?.includes("Cannot start")), { what: `refusal of "${text}"` });
    return reply.text!;
  }
  const servicesRead = (ns: string) => hg.kube.requests.filter((r) => r.resource === "services" && r.namespace === ns).map((r) => r.name);
  const writes = () => hg.kube.requests.filter((r) => r.method !== "GET");
  const backends = (ns: string, name: string) =>
    (hg.kube.get("httproutes", ns, name)!.spec as { rules: { backendRefs: { name: string; weight?: number }[] }[] }).rules[0]!.backendRefs.map(
      (b) => `${b.name} ${b.weight ?? 1}`,
    );

  it("a Service template (`web-{version}`): refused naming `web-v2` while it is missing, started once it exists", async () => {
    hg.kube.reset();
    hg.kube.seed("httproutes", "gw-routes", route("gw-routes", "web", "web-v1"));
    seedWorkload("gw-routes", "web-v1", "web-v1", { app: "web", version: "v1" });
    const text = await refusal("start web --from v1 --to v2");
    expect(text).toContain("`web-v2`: no such Service in namespace `gw-routes` (the canary)");
    expect(text).toContain("`web-v2`: no such Deployment in namespace `gw-routes` (the canary)");
    expect(text).not.toContain("`v2`");
    expect(text).not.toContain("web-v1");
    expect(servicesRead("gw-routes")).toEqual(["web-v1", "web-v2"]);
    expect(writes()).toEqual([]);
    expect(hg.slack.messages(CHANNEL)).toEqual([]);

    seedWorkload("gw-routes", "web-v2", "web-v2", { app: "web", version: "v2" });
    await hg.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --from v1 --to v2" });
    await waitForMessage(hg, "web#2", "Start shifting (10%)");
    expect(backends("gw-routes", "web")).toEqual(["web-v1 100", "web-v2 0"]);
  });

  it("explicit stableService/canaryService: refused naming `pay-canary` while it is missing, started once it exists", async () => {
    hg.kube.reset();
    hg.kube.seed("httproutes", "gw2", route("gw2", "pay", "pay-stable"));
    seedWorkload("gw2", "pay-stable", "pay-v1", { app: "pay", track: "stable" });
    const text = await refusal("start pay --from pay-v1 --to pay-v2");
    expect(text).toContain("`pay-canary`: no such Service in namespace `gw2` (the canary)");
    // The canary's Deployment is looked for by the version's name when there is no Service to follow.
    expect(text).toContain("`pay-v2`: no such Deployment in namespace `gw2` (the canary)");
    expect(text).not.toContain("pay-stable");
    expect(servicesRead("gw2")).toEqual(["pay-stable", "pay-canary"]);
    expect(writes()).toEqual([]);

    seedWorkload("gw2", "pay-canary", "pay-v2", { app: "pay", track: "canary" });
    await hg.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start pay --from pay-v1 --to pay-v2" });
    await waitForMessage(hg, "pay#2", "Start shifting (10%)");
    expect(backends("gw2", "pay")).toEqual(["pay-stable 100", "pay-canary 0"]);
  });
});

describe("the periodic check reads the canary's Deployments the last list found, by name (issue 13)", () => {
  const pair = { stable: "web-v1", canary: "web-v2" };
  const CANARY = { app: "web", track: "canary" };
  let peer: KubeApiPeer;
  let ns: string;
  let clock: number;

  beforeAll(async () => {
    peer = await startKubeApiPeer({ smiFlavour: "sdk" });
  });
  afterAll(async () => {
    await peer?.close();
  });
  beforeEach(() => {
    peer.reset();
    ns = `t-${randomBytes(3).toString("hex")}`;
    clock = Date.now();
  });

  const preflight = (opts: { rememberedCanaries?: number } = {}): Preflight =>
    kubePreflight(new WorkloadReader(loadKubeConfig(peer.kubeconfigPath), { ...opts, now: () => clock }));
  const target = (namespace = ns) => TargetSchema.parse({ name: "web", namespace, router: "smi" });

  /** The Services of an SMI rollout, the canary's selecting CANARY, in its own namespace among many Deployments. */
  function seedNamespace(namespace = ns): void {
    for (const s of ["web", "web-v1", "web-v2"]) peer.seed("services", namespace, readyWorkload("services", s)!);
    peer.edit("services", namespace, "web-v2", (o) => void ((o.spec as { selector: unknown }).selector = CANARY));
    for (let i = 0; i < 20; i++) peer.seed("deployments", namespace, readyWorkload("deployments", `other-${i}`, 2)!);
  }
  function seedCanary(name: string, replicas = 3, namespace = ns): void {
    const d = readyWorkload("deployments", name, replicas)! as KubeObject & { spec: { template: { metadata: { labels: Record<string, string> } } } };
    d.spec.template.metadata.labels = CANARY;
    peer.seed("deployments", namespace, d);
  }
  const setPodLabels = (name: string, labels: Record<string, string>) =>
    peer.edit("deployments", ns, name, (o) => void ((o.spec as { template: { metadata: { labels: unknown } } }).template.metadata.labels = labels));

  /** The Deployment reads the peer saw: "LIST" for the namespace, "GET <name>" for one; sorted, as the GETs go out together. */
  const deploymentReads = () =>
    peer.requests
      .filter((r) => r.method === "GET" && r.resource === "deployments")
      .map((r) => (r.name === undefined ? "LIST" : `GET ${r.name}`))
      .sort();
  const lists = () => deploymentReads().filter((r) => r === "LIST").length;

  it("after a start's list, checks read only the remembered Deployments, and still report one scaled down", async () => {
    seedNamespace();
    seedCanary("web-canary-a");
    seedCanary("web-canary-b", 2);
    const p = preflight();
    expect(await p.start(target(), pair)).toEqual([]);
    expect(deploymentReads()).toEqual(["LIST"]);
    peer.reset();

    for (let i = 0; i < 3; i++) expect(await p.canary(target(), pair)).toEqual([]);
    expect(lists()).toBe(0);
    expect(deploymentReads()).toEqual(["GET web-canary-a", "GET web-canary-a", "GET web-canary-a", "GET web-canary-b", "GET web-canary-b", "GET web-canary-b"]);

    peer.edit("deployments", ns, "web-canary-b", (o) => void ((o.spec as { replicas: number }).replicas = 0));
    expect(await p.canary(target(), pair)).toEqual([{ code: "scaled-to-zero", name: "web-canary-b", namespace: ns }]);
    const generation = (peer.get("deployments", ns, "web-canary-a")!.metadata as { generation: number }).generation;
    peer.setStatus("deployments", ns, "web-canary-a", { observedGeneration: generation, replicas: 3, availableReplicas: 1 });
    expect(await p.canary(target(), pair)).toEqual([
      { code: "replicas-unavailable", name: "web-canary-a", namespace: ns, available: 1, desired: 3 },
      { code: "scaled-to-zero", name: "web-canary-b", namespace: ns },
    ]);
    expect(lists()).toBe(0);

    // The next start lists again, whatever is remembered.
    await p.start(target(), pair);
    expect(lists()).toBe(1);
  });

  it("a remembered Deployment relabelled out of the selector makes the next check list, and the one after read by name", async () => {
    seedNamespace();
    seedCanary("web-canary-a");
    seedCanary("web-canary-b");
    const p = preflight();
    await p.start(target(), pair);
    peer.reset();

    setPodLabels("web-canary-b", { app: "web", track: "stable" });
    expect(await p.canary(target(), pair)).toEqual([]);
    expect(deploymentReads()).toEqual(["GET web-canary-a", "GET web-canary-b", "LIST"]);
    peer.reset();
    await p.canary(target(), pair);
    expect(deploymentReads()).toEqual(["GET web-canary-a"]);

    // The last one relabelled away: the Service selects nothing, so the Deployment named like the canary is looked for.
    setPodLabels("web-canary-a", { app: "web", track: "old" });
    peer.reset();
    expect(await p.canary(target(), pair)).toEqual([{ code: "deployment-missing", name: "web-v2", namespace: ns }]);
    expect(deploymentReads()).toEqual(["GET web-canary-a", "GET web-v2", "LIST"]);
  });

  it("a remembered Deployment deleted makes the next check list, and a replacement behind the Service is found", async () => {
    seedNamespace();
    seedCanary("web-canary-a");
    const p = preflight();
    await p.start(target(), pair);
    peer.reset();

    peer.remove("deployments", ns, "web-canary-a");
    seedCanary("web-canary-c", 0);
    expect(await p.canary(target(), pair)).toEqual([{ code: "scaled-to-zero", name: "web-canary-c", namespace: ns }]);
    expect(deploymentReads()).toEqual(["GET web-canary-a", "LIST"]);
    peer.reset();
    await p.canary(target(), pair);
    expect(deploymentReads()).toEqual(["GET web-canary-c"]);
  });

  it("a changed selector on the canary Service makes the next check list", async () => {
    seedNamespace();
    seedCanary("web-canary-a");
    const p = preflight();
    await p.start(target(), pair);
    peer.reset();

    peer.edit("services", ns, "web-v2", (o) => void ((o.spec as { selector: unknown }).selector = { app: "web" }));
    expect(await p.canary(target(), pair)).toEqual([]);
    expect(lists()).toBe(1);
  });

  it("a remembered answer expires: a Deployment added behind the Service is found within CANARY_MEMORY_MS", async () => {
    seedNamespace();
    seedCanary("web-canary-a");
    const p = preflight();
    await p.start(target(), pair);
    seedCanary("web-canary-new", 0);
    peer.reset();

    clock += CANARY_MEMORY_MS - 1;
    expect(await p.canary(target(), pair)).toEqual([]);
    expect(deploymentReads()).toEqual(["GET web-canary-a"]);

    clock += 1;
    expect(await p.canary(target(), pair)).toEqual([{ code: "scaled-to-zero", name: "web-canary-new", namespace: ns }]);
    expect(deploymentReads()).toEqual(["GET web-canary-a", "LIST"]);
    // Remembered afresh from that list, for as long again.
    peer.reset();
    clock += CANARY_MEMORY_MS - 1;
    await p.canary(target(), pair);
    expect(lists()).toBe(0);
  });

  it("keeps at most rememberedCanaries entries, dropping the least recently used", async () => {
    const [a, b, c] = [ns, `${ns}-b`, `${ns}-c`];
    for (const namespace of [a, b, c]) {
      seedNamespace(namespace);
      seedCanary("web-canary", 3, namespace);
    }
    const p = preflight({ rememberedCanaries: 2 });
    await p.canary(target(a), pair);
    await p.canary(target(b), pair);
    await p.canary(target(a), pair); // a used last: b is the one to drop
    await p.canary(target(c), pair);
    expect(lists()).toBe(3);
    peer.reset();
    await p.canary(target(a), pair);
    await p.canary(target(c), pair);
    expect(lists()).toBe(0);
    await p.canary(target(b), pair);
    expect(lists()).toBe(1);
  });
});

describe("the bot's periodic checks of a running rollout list the Deployments only at the start (issue 13)", () => {
  let hr: Harness;
  beforeAll(async () => {
    hr = await startHarness({
      implicitWorkloads: false,
      targetsYaml: `targets:
  - name: shelf
    namespace: shelf
    stable: shelf-v1
    steps: [10, 50, 100]
    metrics: { source: none, refreshSeconds: 5 }
`,
    });
  });
  afterAll(async () => {
    await hr?.close();
  });

  it("the start lists once; each check after it GETs the canary's Deployment by name", async () => {
    const canary = { app: "shelf", track: "canary" };
    for (const s of ["shelf", "shelf-v1", "shelf-v2"]) hr.kube.seed("services", "shelf", readyWorkload("services", s)!);
    hr.kube.edit("services", "shelf", "shelf-v2", (o) => void ((o.spec as { selector: unknown }).selector = canary));
    const d = readyWorkload("deployments", "shelf-canary", 2)! as KubeObject & { spec: { template: { metadata: { labels: Record<string, string> } } } };
    d.spec.template.metadata.labels = canary;
    hr.kube.seed("deployments", "shelf", d);
    for (let i = 0; i < 5; i++) hr.kube.seed("deployments", "shelf", readyWorkload("deployments", `other-${i}`)!);

    await hr.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start shelf --from shelf-v1 --to shelf-v2" });
    await waitForMessage(hr, "shelf#1", "Advance to 50%");
    const reads = () =>
      hr.kube.requests.filter((r) => r.method === "GET" && r.resource === "deployments").map((r) => (r.name === undefined ? "LIST" : `GET ${r.name}`));
    // The check at the start and at least one 5 s later.
    await waitFor(() => reads().filter((r) => r === "GET shelf-canary").length >= 2, { what: "two periodic checks", timeoutMs: 15_000 });
    expect(reads()[0]).toBe("LIST");
    expect(new Set(reads().slice(1))).toEqual(new Set(["GET shelf-canary"]));
  });
});

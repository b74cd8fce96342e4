import { describe, expect, it } from "vitest";
import {
  deployNames,
  imageProblem,
  judgeDeploy,
  madeByBot,
  newVersionObjects,
  nextVersion,
  type K8sObject,
  type RolloutFacts,
} from "../../src/engine/deploy.ts";
import { TargetSchema } from "../../src/engine/target.ts";

describe("image references", () => {
  it.each([
    "world",
    "world:2.0",
    "registry.example.com/team/world:2.0",
    "localhost:5000/world",
    `world@sha256:${"a".repeat(64)}`,
    `ghcr.io/o/world:v2@sha256:${"b".repeat(64)}`,
  ])("accepts %s", (image) => expect(imageProblem(image)).toBeUndefined());
  it.each([
    ["", "empty"],
    ["World:2", "uppercase"],
    ["world:", "grammar"],
    ["world:2 --privileged", "grammar"],
    ["world@sha256:short", "grammar"],
    ["-world", "grammar"],
    [`world:${"t".repeat(129)}`, "grammar"],
  ] as const)("refuses %j (%s)", (image, why) => expect(imageProblem(image)?.why).toBe(why));
});

describe("the next version's name", () => {
  it("is the next free number after the stable's", () => {
    expect(nextVersion("world-v1", () => false)).toBe("world-v2");
    expect(nextVersion("world-v9", (v) => v === "world-v10" || v === "world-v11")).toBe("world-v12");
    expect(nextVersion("world", () => false)).toBeUndefined();
  });
  it("follows a Gateway target's service template, and has no per-version Service to make with fixed names", () => {
    const gw = TargetSchema.parse({ name: "web", namespace: "shop", router: "gateway", gateway: { service: "web-{version}" } });
    expect(deployNames(gw, { stable: "v1", canary: "v2" })).toEqual({
      namespace: "shop",
      stable: { deployment: "web-v1", service: "web-v1" },
      canary: { deployment: "web-v2", service: "web-v2" },
    });
    const fixed = TargetSchema.parse({ name: "web", router: "gateway", gateway: { stableService: "a", canaryService: "b" } });
    expect(deployNames(fixed, { stable: "v1", canary: "v2" })).toBeUndefined();
  });
});

const names = { namespace: "web", stable: { deployment: "world-v1", service: "world-v1" }, canary: { deployment: "world-v2", service: "world-v2" } };
const labels = { app: "world", version: "world-v1" };
const stable = (containers = [{ name: "world", image: "world:1" }], selector: Record<string, string> = labels): K8sObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: {
    name: "world-v1",
    namespace: "web",
    uid: "u1",
    resourceVersion: "9",
    generation: 4,
    managedFields: [{}],
    ownerReferences: [{}],
    labels: { ...labels, "kustomize.toolkit.fluxcd.io/name": "x" },
  },
  spec: { replicas: 2, paused: true, selector: { matchLabels: selector }, template: { metadata: { labels, creationTimestamp: null }, spec: { containers } } },
  status: { readyReplicas: 2 },
});
const input = (d: K8sObject, settings: { container?: string; versionLabel: string } = { versionLabel: "version" }) => ({
  rolloutId: "world#1",
  fieldManager: "rollout-bot",
  stableVersion: "world-v1",
  version: "world-v2",
  image: "world:2",
  names,
  settings,
  stableDeployment: d,
  stableService: {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "world-v1" },
    spec: { selector: labels, clusterIP: "10.0.0.1", ports: [{ port: 80, nodePort: 30001 }] },
  },
});

describe("the new version's objects", () => {
  it("drop what belongs to the stable object and mark the copy as the bot's", () => {
    const out = newVersionObjects(input(stable()));
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    const m = out.value.deployment.metadata!;
    expect(Object.keys(m).sort()).toEqual(["annotations", "labels", "name", "namespace"]);
    expect(m.labels).toEqual({ app: "world", version: "world-v2", "app.kubernetes.io/managed-by": "rollout-bot" });
    expect(out.value.deployment.status).toBeUndefined();
    expect(out.value.deployment.spec).not.toHaveProperty("paused");
    expect(madeByBot(out.value.deployment, "rollout-bot", "world#1")).toBe(true);
    expect(madeByBot(out.value.deployment, "rollout-bot", "world#2")).toBe(false);
    expect(madeByBot(stable(), "rollout-bot")).toBe(false);
  });
  it("refuse an ambiguous or missing container", () => {
    const two = stable([
      { name: "world", image: "world:1" },
      { name: "proxy", image: "envoy:1" },
    ]);
    expect(newVersionObjects(input(two))).toMatchObject({ ok: false, error: { code: "container-ambiguous", containers: ["world", "proxy"] } });
    const picked = newVersionObjects(input(two, { container: "world", versionLabel: "version" }));
    expect(
      picked.ok && (picked.value.deployment.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers.map((c) => c.image),
    ).toEqual(["world:2", "envoy:1"]);
    expect(newVersionObjects(input(two, { container: "app", versionLabel: "version" }))).toMatchObject({ ok: false, error: { code: "container-missing" } });
  });
  it("rename a label that names the stable version (app: world-v1) to the new one", () => {
    const byName = stable(undefined, { app: "world-v1" });
    (byName.spec as { template: { metadata: { labels: unknown } } }).template.metadata.labels = { app: "world-v1" };
    const out = newVersionObjects(input(byName));
    expect(out.ok && out.value.deployment.spec).toMatchObject({
      selector: { matchLabels: { app: "world-v2", version: "world-v2" } },
      template: { metadata: { labels: { app: "world-v2", version: "world-v2" } } },
    });
  });
  it("refuse a stable selector that would pick the new pods too", () => {
    const shared = stable(undefined, { app: "world" });
    (shared.spec as { template: { metadata: { labels: unknown } } }).template.metadata.labels = { app: "world" };
    expect(newVersionObjects(input(shared))).toMatchObject({ ok: false, error: { code: "selector-overlap", kind: "Deployment" } });
  });
});

const facts = (over: Partial<RolloutFacts> = {}): RolloutFacts => ({
  generation: 1,
  observedGeneration: 1,
  replicas: 3,
  updatedReplicas: 3,
  readyReplicas: 1,
  availableReplicas: 1,
  pods: [],
  ...over,
});
const pod = (c: RolloutFacts["pods"][number]["containers"][number], unschedulable?: string) => ({
  name: "world-v2-abc",
  containers: [c],
  ...(unschedulable ? { unschedulable } : {}),
});

describe("waiting for the new version", () => {
  it("counts ready replicas, then is up", () => {
    expect(judgeDeploy(facts(), 0, 1000, 1000)).toEqual({ kind: "waiting", ready: 1, desired: 3 });
    expect(judgeDeploy(facts({ readyReplicas: 3, availableReplicas: 3 }), 0, 1000, 1000)).toEqual({ kind: "ready", ready: 3, desired: 3 });
    expect(judgeDeploy(facts({ readyReplicas: 3, availableReplicas: 3, observedGeneration: 0 }), 0, 1000, 1000).kind).toBe("waiting");
  });
  it("fails at once on what Kubernetes reports, and at the deadline", () => {
    const c = { name: "world", ready: false, restarts: 0 };
    expect(judgeDeploy(facts({ pods: [pod({ ...c, waiting: { reason: "ImagePullBackOff", message: "Back-off" } })] }), 0, 1000, 1000)).toMatchObject({
      failure: { code: "image-pull", reason: "ImagePullBackOff" },
    });
    expect(judgeDeploy(facts({ pods: [pod({ ...c, waiting: { reason: "ErrImagePull" } })] }), 0, 1000, 1000).kind).toBe("waiting");
    expect(
      judgeDeploy(
        facts({ pods: [pod({ ...c, restarts: 3, waiting: { reason: "CrashLoopBackOff" }, lastTerminated: { reason: "OOMKilled", exitCode: 137 } })] }),
        0,
        1000,
        1000,
      ),
    ).toMatchObject({
      failure: { code: "crash-loop", lastReason: "OOMKilled", exitCode: 137, restarts: 3 },
    });
    expect(judgeDeploy(facts({ pods: [pod(c, "0/3 nodes are available: 3 Insufficient cpu.")] }), 0, 1000, 1000)).toMatchObject({
      failure: { code: "unschedulable" },
    });
    expect(judgeDeploy(facts({ progressDeadlineExceeded: "ReplicaSet has timed out progressing." }), 0, 1000, 1000)).toMatchObject({
      failure: { code: "progress-deadline" },
    });
    expect(
      judgeDeploy(facts({ pods: [pod({ ...c, waiting: { reason: "CreateContainerConfigError", message: 'secret "db" not found' } })] }), 0, 1000, 1000),
    ).toMatchObject({ failure: { code: "config-error" } });
    expect(judgeDeploy(facts(), 1000, 1000, 1000)).toEqual({ kind: "failed", failure: { code: "timeout", ready: 1, desired: 3, timeoutMs: 1000 } });
  });
});

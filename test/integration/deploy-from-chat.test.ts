import { afterEach, describe, expect, it } from "vitest";
import { Deployment } from "kubernetes-models/apps/v1";
import { Service } from "kubernetes-models/v1";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import type { NamerdPeer } from "../../sandbox/peers/namerd.ts";
import { CHANNEL, clickButton, rolloutMessage, startHarness, waitForEphemeral, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { unknownFields } from "../support/kube-strict-fields.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 23: the Linkerd 1 blue-green flow from one `--image` command, as Slack drives it, against the real bot,
 * Redis, the namerd peer and the Kubernetes API peer running its small Deployment controller (pods ready one
 * after another, images named to fail do). What is asserted is what people see (the message, its thread) and
 * what is left in the cluster and in namerd.
 */

const ALICE = "UALICE";
const ID = "world#1";
const SEED = "/srv => /#/io.l5d.k8s/web/http ; /host => /srv ; /host/world => /srv/world-v1 ;";
const IMAGE = "registry.example.com/world:2.0";

const TARGETS = (extra = "") => `
targets:
  - name: world
    namespace: web
    router: namerd
    steps: [10, 100]
    deploy: true
    cleanup: delete
    deployTimeout: 20s
${extra}
    namerd:
      url: "{{NAMERD_URL}}"
      dtabNamespace: internal
      prefix: /host/world
      dst: /srv/{version}
`;

/** The stable version as a pipeline would have left it: history, kubectl's record, allocated addresses. */
function stableDeployment(): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: "world-v1",
      namespace: "web",
      labels: { app: "world", version: "world-v1" },
      annotations: { "deployment.kubernetes.io/revision": "4", "kubectl.kubernetes.io/last-applied-configuration": "{}", "team.example.com/owner": "greeters" },
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: "world", version: "world-v1" } },
      template: {
        metadata: { labels: { app: "world", version: "world-v1" } },
        spec: {
          serviceAccountName: "world",
          containers: [
            {
              name: "world",
              image: "registry.example.com/world:1.0",
              env: [{ name: "GREETING", value: "hello" }],
              resources: { requests: { cpu: "100m", memory: "64Mi" } },
              readinessProbe: { httpGet: { path: "/ready", port: 8080 } },
              volumeMounts: [{ name: "config", mountPath: "/etc/world" }],
            },
          ],
          volumes: [{ name: "config", configMap: { name: "world" } }],
        },
      },
    },
  };
}

function stableService(): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "world-v1", namespace: "web", labels: { app: "world" } },
    spec: {
      type: "NodePort",
      clusterIP: "10.0.0.17",
      clusterIPs: ["10.0.0.17"],
      selector: { app: "world", version: "world-v1" },
      ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }],
    },
  };
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function harness(extra = "", reuse?: Harness): Promise<Harness & { namerd: NamerdPeer }> {
  const made = await startHarness({
    namerd: { internal: SEED },
    targetsYaml: TARGETS(extra),
    implicitWorkloads: false,
    deployPollMs: 50,
    kube: { deploymentController: { readyAfterMs: 300 } },
    ...(reuse ? { reuse } : {}),
  });
  if (!reuse) {
    made.kube.seed("deployments", "web", stableDeployment());
    made.kube.seed("services", "web", stableService());
  }
  h = made;
  return made as Harness & { namerd: NamerdPeer };
}

const threadTexts = (hh: Harness, id = ID): string[] => {
  const m = rolloutMessage(hh, id);
  return m ? hh.slack.thread(CHANNEL, m.ts).map((t) => t.text ?? "") : [];
};

const waitForThread = (hh: Harness, contains: string, id = ID) =>
  waitFor(() => threadTexts(hh, id).find((t) => t.includes(contains)), { timeoutMs: 10_000, what: `thread reply with ${contains}` });

/** What the bot sent when it applied an object (the copy itself, before the API server filled anything in). */
function applied(hh: Harness, resource: string, name: string): KubeObject {
  const writes = hh.kube.mutations(resource, "web", name).filter((r) => r.method === "PATCH");
  expect(writes).toHaveLength(1);
  return writes[0]!.body as KubeObject;
}

describe("deploy from chat", () => {
  it("one --image command to Finish with cleanup: delete: the old version is gone, the new one has all traffic", async () => {
    const hh = await harness();
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `start world --image ${IMAGE} --from world-v1` });
    await waitForEphemeral(hh, ALICE, "Deploying `world-v2` (image `registry.example.com/world:2.0`) next to `world-v1` first");

    // The pods come up one after another, and the message says how many are ready.
    await waitForMessage(hh, ID, (t) => /Deploying `world-v2` \([12] of 3 ready\)/.test(t));
    await waitForMessage(hh, ID, "Start shifting (10%)");
    await waitForThread(hh, "world-v2 is up: 3 of 3 ready, image registry.example.com/world:2.0");

    // The copy: the stable's spec with the new image and version label, marked as the bot's, without the stable's history.
    const d = applied(hh, "deployments", "world-v2");
    expect(() => new Deployment(d as never).validate()).not.toThrow();
    expect(unknownFields(d, "V1Deployment")).toEqual([]);
    const spec = d.spec as { replicas: number; selector: unknown; template: { metadata: { labels: unknown }; spec: Record<string, unknown> } };
    expect(spec.replicas).toBe(3);
    expect(spec.selector).toEqual({ matchLabels: { app: "world", version: "world-v2" } });
    expect(spec.template.metadata.labels).toEqual({ app: "world", version: "world-v2" });
    const [container] = spec.template.spec.containers as Record<string, unknown>[];
    const [was] = (stableDeployment().spec as typeof spec).template.spec.containers as Record<string, unknown>[];
    expect(container).toEqual({ ...was, image: IMAGE });
    expect(spec.template.spec.serviceAccountName).toBe("world");
    expect(spec.template.spec.volumes).toEqual([{ name: "config", configMap: { name: "world" } }]);
    expect(d.metadata?.labels).toEqual({ app: "world", version: "world-v2", "app.kubernetes.io/managed-by": "rollout-bot" });
    expect(d.metadata?.annotations).toEqual({
      "team.example.com/owner": "greeters",
      "rollout-bot.io/created-by-rollout": ID,
      "rollout-bot.io/copied-from": "world-v1",
    });
    expect(hh.kube.mutations("deployments", "web", "world-v2")[0]!.query).toContain("fieldManager=rollout-bot");
    const s = applied(hh, "services", "world-v2");
    expect(() => new Service(s as never).validate()).not.toThrow();
    expect(unknownFields(s, "V1Service")).toEqual([]);
    expect(s.spec).toEqual({ type: "NodePort", selector: { app: "world", version: "world-v2" }, ports: [{ port: 80, targetPort: 8080 }] });

    await clickButton(hh, ID, ALICE, "Start shifting (10%)");
    await waitForMessage(hh, ID, "Advance to 100%");
    await clickButton(hh, ID, ALICE, "Advance to 100%");
    await waitForMessage(hh, ID, "Finish");
    await clickButton(hh, ID, ALICE, "Finish");
    await waitForStatus(hh, ID, "completed");
    await waitForThread(hh, "Removed the old version: Deployment web/world-v1 and Service web/world-v1 (the mesh sends it nothing)");

    expect(hh.namerd.get("internal")!.text).toContain("/host/world => /srv/world-v2 ;");
    expect(hh.kube.get("deployments", "web", "world-v1")).toBeUndefined();
    expect(hh.kube.get("services", "web", "world-v1")).toBeUndefined();
    expect(hh.kube.get("deployments", "web", "world-v2")).toBeDefined();
    expect(hh.kube.get("services", "web", "world-v2")).toBeDefined();
  });

  for (const [image, shown, nowhere] of [
    ["registry.example.com/world:does-not-exist", 'is in ImagePullBackOff (Back-off pulling image \\"registry.example.com/world:does-not-exist\\")', false],
    ["registry.example.com/world:crash", "is in CrashLoopBackOff after 1 restart, last exit: Error (exit code 1)", false],
    [IMAGE, "cannot be scheduled (FailedScheduling): pod", true],
  ] as const) {
    it(`a new version that cannot come up (${nowhere ? "no node fits" : image.split(":")[1]}) ends the start at once and is removed`, async () => {
      const hh = await harness();
      if (nowhere) {
        // The stable's pods were placed before its node pool went away: the copy's cannot be.
        hh.kube.edit("deployments", "web", "world-v1", (o) => {
          (o.spec as { template: { spec: Record<string, unknown> } }).template.spec.nodeSelector = { pool: "nowhere" };
        });
      }
      const dtab = hh.namerd.get("internal")!.text;
      await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `start world --image ${image} --from world-v1` });
      await waitFor(async () => ((await hh.bot.store.get(ID))?.status === "rejected" ? true : undefined), { what: "the start to end" });
      await waitForMessage(hh, ID, shown);
      await waitForThread(hh, "Removed Deployment web/world-v2 and Service web/world-v2 (made by the bot for this rollout) after the failed deploy");
      expect(hh.kube.get("deployments", "web", "world-v2")).toBeUndefined();
      expect(hh.kube.get("services", "web", "world-v2")).toBeUndefined();
      expect(hh.kube.get("deployments", "web", "world-v1")).toBeDefined();
      expect(hh.namerd.get("internal")!.text).toBe(dtab);
    });
  }

  it("Abort removes only what the bot created, after traffic is back on stable", async () => {
    const hh = await harness();
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `start world --image ${IMAGE} --from world-v1` });
    await waitForMessage(hh, ID, "Start shifting (10%)");
    await clickButton(hh, ID, ALICE, "Start shifting (10%)");
    await waitForMessage(hh, ID, "Advance to 100%");
    await clickButton(hh, ID, ALICE, "Abort");
    await waitForStatus(hh, ID, "aborted");
    await waitForThread(hh, "after the abort (all traffic verified back on stable)");
    expect(hh.namerd.get("internal")!.text).toContain("/host/world => /srv/world-v1 ;");
    expect(hh.kube.get("deployments", "web", "world-v2")).toBeUndefined();
    expect(hh.kube.get("services", "web", "world-v2")).toBeUndefined();
    expect(hh.kube.get("deployments", "web", "world-v1")).toBeDefined();
    expect(hh.kube.get("services", "web", "world-v1")).toBeDefined();
    expect(hh.kube.mutations("deployments", "web", "world-v1")).toEqual([]);
  });

  it("Abort while deploying removes the half-up new version and moves no traffic", async () => {
    const hh = await harness();
    hh.kube.edit("deployments", "web", "world-v1", (o) => {
      (o.spec as { replicas: number }).replicas = 30; // 9 s to come up: long enough to abort on the way
    });
    const dtab = hh.namerd.get("internal")!.text;
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `start world --image ${IMAGE} --from world-v1` });
    await waitForMessage(hh, ID, (t) => /Deploying `world-v2` \([0-9]+ of 30 ready\)/.test(t));
    await clickButton(hh, ID, ALICE, "Abort");
    await waitFor(async () => ((await hh.bot.store.get(ID))?.status === "aborted" ? true : undefined), { what: "the abort" });
    await waitForThread(hh, "Removed Deployment web/world-v2 and Service web/world-v2 (made by the bot for this rollout) after the abort");
    expect(hh.kube.get("deployments", "web", "world-v2")).toBeUndefined();
    expect(hh.namerd.get("internal")!.text).toContain("/host/world => /srv/world-v1 ;");
    expect(dtab).toContain("/host/world => /srv/world-v1 ;");
  });

  it("a process that takes over while deploying picks up the wait and creates nothing twice", async () => {
    const first = await harness();
    await first.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `start world --image ${IMAGE} --from world-v1` });
    await waitForMessage(first, ID, (t) => /Deploying `world-v2` \([0-2] of 3 ready\)/.test(t));
    await first.stopBot();
    h = undefined;
    const second = await harness("", first);
    await waitForMessage(second, ID, "Start shifting (10%)");
    expect(second.kube.mutations("deployments", "web", "world-v2").filter((r) => r.method !== "GET")).toHaveLength(1);
    expect(second.kube.mutations("services", "web", "world-v2")).toHaveLength(1);
    await first.close();
  });

  it("refuses --image when Flux deploys the stable version, and says to change git", async () => {
    const hh = await harness();
    hh.kube.edit("deployments", "web", "world-v1", (o) => {
      o.metadata = {
        ...o.metadata,
        labels: { ...(o.metadata?.labels as object), "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system" },
      };
    });
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `start world --image ${IMAGE} --from world-v1` });
    await waitFor(async () => ((await hh.bot.store.get(ID))?.status === "rejected" ? true : undefined), { what: "the start to end" });
    expect((await hh.bot.store.get(ID))?.problem).toBe(
      "Deployment `web/world-v1` is deployed by Flux `apps`: a Deployment the bot created beside it would not be in git. Change the image in git and let it deploy it, then start the rollout with `--to`",
    );
    expect(hh.kube.requests.filter((r) => r.mutating && r.resource !== "pods" && r.name !== "world-v1")).toEqual([]);
  });

  it("refuses --image privately where the target does not allow it, or the image is not a reference", async () => {
    const hh = await harness();
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start world --image Registry/World:2 --from world-v1" });
    await waitForEphemeral(hh, ALICE, "is not a valid image reference: the repository must be lower-case");
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: `start world --image ${IMAGE} --from world-v1 --to world-v1` });
    await waitForEphemeral(hh, ALICE, "`--from` and `--to` are both `world-v1`");
    expect(hh.kube.requests.filter((r) => r.mutating)).toEqual([]);
  });
});

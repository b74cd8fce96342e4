import { afterEach, describe, expect, it } from "vitest";
import { roleRules } from "../../src/kube/permissions.ts";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import { CHANNEL, clickButton, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { waitFor } from "../support/wait.ts";
import { percentOnSplit } from "../support/split.ts";

/**
 * The whole bot, driven from Slack, with the Kubernetes API peer granting exactly the Role in deploy/
 * (src/kube/permissions.ts) and answering 403 to anything else, as a cluster installed from deploy/ would:
 * a rollout that creates its TrafficSplit, advances, finishes and scales the old Deployment down, and a
 * Gateway API rollout that edits its HTTPRoute, work without a single refusal; without a needed permission the person starting it is told which.
 */

const ALICE = "UALICE";
const ID = "web#1";
const TARGETS = `
targets:
  - name: web
    namespace: shop
    router: smi
    stable: web-v1
    steps: [10, 100]
    cleanup: scale-down
  - name: api
    namespace: shop
    router: gateway
    steps: [10, 100]
    gateway: { rule: api }
`;

const deployment = (name: string): KubeObject =>
  ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: "shop" },
    spec: { replicas: 3, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: {} } },
  }) as KubeObject;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("the bot under exactly the Role it is installed with", () => {
  it("creates the split, advances, finishes and scales the old version down, with no request refused", async () => {
    h = await startHarness({ targetsYaml: TARGETS });
    h.kube.seed("deployments", "shop", deployment("web-v1"));
    h.kube.seed("deployments", "shop", deployment("web-v2"));
    h.kube.rbac = { rules: roleRules() };

    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2" });
    await waitForMessage(h, ID, "Advance to 100%");
    expect(percentOnSplit(h.kube.get("trafficsplits", "shop", "web")?.spec, "web-v2")).toBe(10);
    await clickButton(h, ID, ALICE, "Advance to 100%");
    await waitForMessage(h, ID, "Finish");
    await clickButton(h, ID, ALICE, "Finish");
    await waitForMessage(h, ID, "Completed");

    expect(percentOnSplit(h.kube.get("trafficsplits", "shop", "web")?.spec, "web-v2")).toBe(100);
    await waitFor(() => (h!.kube.get("deployments", "shop", "web-v1")?.spec as { replicas?: number } | undefined)?.replicas === 0 || undefined, {
      what: "web-v1 scaled to 0",
    });
    expect(h.kube.get("deployments", "shop", "web-v2")?.spec).toMatchObject({ replicas: 3 });
    const refused = h.kube.requests.filter((r) => r.status === 403).map((r) => `${r.method} ${r.path}`);
    expect(refused).toEqual([]);
  });

  it("a Gateway API rollout: test stage, 10%, 100%, Finish on an HTTPRoute, with no request refused", async () => {
    h = await startHarness({ targetsYaml: TARGETS });
    h.kube.seed("httproutes", "shop", {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "api", namespace: "shop" },
      spec: {
        parentRefs: [{ group: "core", kind: "Service", name: "api", port: 80 }],
        rules: [{ name: "api", backendRefs: [{ name: "api-v1", port: 8080 }] }],
      },
    } as KubeObject);
    h.kube.rbac = { rules: roleRules() };
    const refs = () =>
      (h!.kube.get("httproutes", "shop", "api")?.spec as { rules: { backendRefs: { name: string; weight?: number }[] }[] }).rules.map((r) =>
        r.backendRefs.map((b) => `${b.name} ${b.weight}`).join(", "),
      );

    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start api --to api-v2" });
    await waitForMessage(h, "api#1", "Start shifting (10%)");
    expect(refs()).toEqual(["api-v1 100, api-v2 0", "api-v2 1"]); // the split rule, and the bot's test rule
    await clickButton(h, "api#1", ALICE, "Start shifting (10%)");
    await waitForMessage(h, "api#1", "Advance to 100%");
    await clickButton(h, "api#1", ALICE, "Advance to 100%");
    await waitForMessage(h, "api#1", "Finish");
    await clickButton(h, "api#1", ALICE, "Finish");
    await waitForMessage(h, "api#1", "Completed");

    expect(refs()).toEqual(["api-v2 100"]);
    expect(h.kube.requests.some((r) => r.resource === "httproutes" && r.method === "PATCH" && r.dryRun)).toBe(true);
    const refused = h.kube.requests.filter((r) => r.status === 403).map((r) => `${r.method} ${r.path}`);
    expect(refused).toEqual([]);
  });

  it("without create on TrafficSplits, the start is refused privately, naming the missing permission", async () => {
    h = await startHarness({ targetsYaml: TARGETS });
    h.kube.rbac = { rules: roleRules().map((r) => (r.resources.includes("trafficsplits") ? { ...r, verbs: r.verbs.filter((v) => v !== "create") } : r)) };

    const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2" });
    const reply = await waitFor(() => h!.slack.responses(res.responseUrl).find((p) => p.text?.includes("Cannot start")), { what: "refusal" });
    expect(reply.text).toContain('cannot create resource "trafficsplits" in API group "split.smi-spec.io" in the namespace "shop"');
    expect(reply.text).toContain("Nothing was changed");
    expect(h.kube.list("trafficsplits", "shop")).toEqual([]);
    expect(h.slack.messages(CHANNEL)).toEqual([]);
  });
});

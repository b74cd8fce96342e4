import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import { CHANNEL, clickButton, startHarness, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { HTTPROUTE_CRD, crdValidator } from "../support/crd-schema.ts";

/**
 * Issue 24: a wave of a Gateway API target through two clusters (each a Kubernetes API peer serving HTTPRoute,
 * every write checked against the reference CRD's schema). A cluster's Finish inside the wave keeps the
 * stable's backendRef at weight 0, so a later Abort can still send traffic back to it; only the wave's end
 * makes each route final. Abort from the second cluster puts both routes back on stable.
 */

const ALICE = "UALICE";
const NS = "shop";
const TWO = ["staging", "prod-eu"] as const;
const TARGETS = `
clusters:
${TWO.map((c) => `  - { name: ${c}, kubeconfig: "{{KUBECONFIG:${c}}}" }`).join("\n")}
targets:
  - name: web
    clusters: [staging, prod-eu]
    namespace: ${NS}
    router: gateway
    steps: [10, 100]
    gateway: { rule: api, testUrl: "http://web.shop.svc.cluster.local/api" }
    metrics: { source: none, refreshSeconds: 3600 }
`;

/** A mesh (GAMMA) route whose rule `api` sends everything to web-v1; another rule the bot must never touch. */
const route = (): KubeObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name: "web", namespace: NS },
  spec: {
    parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }],
    rules: [
      { name: "static", matches: [{ path: { type: "PathPrefix", value: "/static" } }], backendRefs: [{ name: "static-files", port: 80, weight: 3 }] },
      { name: "api", matches: [{ path: { type: "PathPrefix", value: "/api" } }], backendRefs: [{ name: "web-v1", port: 8080 }] },
    ],
  },
});

type Rule = { name?: string; matches?: { headers?: unknown[] }[]; backendRefs: { name: string; weight?: number }[] };
let h: Harness;
const rules = (c: string) => (h.clusters.get(c)!.get("httproutes", NS, "web")!.spec as { rules: Rule[] }).rules;
/** The split rule's backends, and whether the bot's header-matched test rule is there. */
const shape = (c: string) => {
  const all = rules(c);
  const api = all.find((r) => r.name === "api" && !r.matches?.some((m) => m.headers))!;
  return { api: api.backendRefs.map((b) => `${b.name} ${b.weight ?? 1}`), testRule: all.length > 2 };
};

/** Test stage, 10%, 100%, Finish in the wave's current cluster. */
async function throughCluster(id: string, cluster: string) {
  await waitForMessage(h, id, (t) => t.includes("Start shifting (10%)") && t.includes(`in cluster ${cluster}`));
  await clickButton(h, id, ALICE, /Start shifting/);
  await waitForMessage(h, id, (t) => t.includes("Advance to 100%") && t.includes(`in cluster ${cluster}`));
  await clickButton(h, id, ALICE, /Advance to 100%/);
  await waitForMessage(h, id, (t) => t.includes("Finish") && t.includes(`in cluster ${cluster}`));
  await clickButton(h, id, ALICE, /^Finish/);
}

beforeAll(async () => {
  h = await startHarness({ clusters: [...TWO], targetsYaml: TARGETS, kube: { validators: { httproutes: crdValidator(HTTPROUTE_CRD) } } });
});
afterAll(async () => {
  await h?.close();
});

describe("a Gateway API wave", () => {
  it("Finish in staging keeps web-v1 at weight 0 behind the gate; the wave's end makes both routes final", async () => {
    for (const c of TWO) h.clusters.get(c)!.seed("httproutes", NS, route());
    const untouched = JSON.stringify(rules("staging")[0]); // as the API server stored it (with its defaults)
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2" });
    await throughCluster("web#1", "staging");
    await waitForMessage(h, "web#1", "Waiting at the gate before prod-eu");
    // Not final yet: the stable stays in the rule at 0, so an Abort later in the wave can send traffic back.
    // The test rule (to web-v2, which has all the traffic anyway) goes with the final step too.
    expect(shape("staging")).toEqual({ api: ["web-v1 0", "web-v2 100"], testRule: true });
    expect(shape("prod-eu")).toEqual({ api: ["web-v1 1"], testRule: false });
    expect(h.clusters.get("prod-eu")!.requests.filter((r) => r.mutating)).toEqual([]);

    await clickButton(h, "web#1", ALICE, /Advance to prod-eu/);
    await throughCluster("web#1", "prod-eu");
    await waitForStatus(h, "web#1", "completed");
    // Both final: the stable's backendRef gone, the test rule gone, the other rule as it was.
    for (const c of TWO) {
      expect(shape(c)).toEqual({ api: ["web-v2 100"], testRule: false });
      expect(JSON.stringify(rules(c)[0])).toBe(untouched);
      // Every write was admitted by the CRD's schema.
      expect(
        h.clusters
          .get(c)!
          .mutations("httproutes", NS, "web")
          .every((m) => m.status === 200),
      ).toBe(true);
    }
  }, 60_000);

  it("Abort in prod-eu puts prod-eu, then staging (finished at 100%), back on web-v1", async () => {
    for (const c of TWO) h.clusters.get(c)!.seed("httproutes", NS, route());
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2" });
    await throughCluster("web#2", "staging");
    await waitForMessage(h, "web#2", "Waiting at the gate before prod-eu");
    await clickButton(h, "web#2", ALICE, /Advance to prod-eu/);
    await waitForMessage(h, "web#2", (t) => t.includes("Start shifting (10%)") && t.includes("in cluster prod-eu"));
    await clickButton(h, "web#2", ALICE, /Start shifting/);
    await waitForMessage(h, "web#2", (t) => t.includes("Advance to 100%") && t.includes("in cluster prod-eu"));
    expect(shape("prod-eu").api).toEqual(["web-v1 90", "web-v2 10"]);
    expect(shape("staging").api).toEqual(["web-v1 0", "web-v2 100"]);

    await clickButton(h, "web#2", ALICE, /Abort/);
    const aborted = await waitForStatus(h, "web#2", "aborted", 30_000);
    expect(aborted.wave?.rows.map((r) => `${r.cluster}:${r.state}:${r.percent}`)).toEqual(["staging:reverted:0", "prod-eu:reverted:0"]);
    for (const c of TWO) expect(shape(c)).toEqual({ api: ["web-v1 100", "web-v2 0"], testRule: false });
    // Newest first: prod-eu's last route write came before staging's revert.
    const last = (c: string) => h.clusters.get(c)!.mutations("httproutes", NS, "web").at(-1)!.at;
    expect(last("prod-eu")).toBeLessThanOrEqual(last("staging"));
  }, 60_000);
});

import { describe, expect, it } from "vitest";
import { parseTargetsFile } from "../../src/config.ts";
import { sandboxClusters, seedKey, seedObjects, SEED_TARGETS, targetsYaml, WAVE_STORY } from "../../sandbox/seed.ts";

/**
 * Issue 24: the sandbox's second cluster. prod-eu is declared as a remote cluster is (a kubeconfig file, its
 * own Prometheus) and holds the same backend-svc as the bot's own cluster, so a story across the sandbox's
 * clusters finds the same target name in each.
 */

const timing = { windowSeconds: 5, refreshSeconds: 5, autoNotice: "2s" };
const parse = (yaml: string) => {
  const r = parseTargetsFile(yaml, "sandbox targets");
  if (!r.ok) throw new Error(r.error.join("\n"));
  return r.value;
};

describe("the sandbox's clusters", () => {
  it("declares prod-eu through its kubeconfig file, its target reading prod-eu's own Prometheus", () => {
    const file = parse(
      targetsYaml({
        namerdUrl: "http://127.0.0.1:1/",
        linkerd1AdminUrl: "http://127.0.0.1:2/",
        backendMetrics: { kind: "prometheus", url: "http://127.0.0.1:3" },
        timing,
        clusters: [{ name: "prod-eu", kubeconfig: "/tmp/prod-eu/kubeconfig.yaml", metrics: { kind: "prometheus", url: "http://127.0.0.1:4" } }],
      }),
    );
    expect([...(file.clusters?.values() ?? [])]).toEqual([
      { name: "prod-eu", kubeconfig: "/tmp/prod-eu/kubeconfig.yaml", prometheusUrl: "http://127.0.0.1:4" },
    ]);
    const own = file.targets.get("backend-svc")!;
    const eu = file.targets.get("backend-svc@prod-eu")!;
    expect(eu.cluster).toBe("prod-eu");
    // No URL of its own: the bot takes the cluster's prometheusUrl.
    expect(eu.metrics).toMatchObject({ source: "prometheus", preset: "nginx" });
    expect(eu.metrics && "prometheusUrl" in eu.metrics ? eu.metrics.prometheusUrl : undefined).toBeUndefined();
    // Otherwise the same target as in the bot's own cluster.
    const { cluster: _c, metrics: _m, ...euRest } = eu;
    const { metrics: _o, ...ownRest } = own;
    expect(euRest).toEqual(ownRest);
  });

  it("without Prometheus, prod-eu's target reads prod-eu's own Linkerd 1 admin endpoint", () => {
    const file = parse(
      targetsYaml({
        namerdUrl: "http://127.0.0.1:1/",
        linkerd1AdminUrl: "http://127.0.0.1:2/",
        backendMetrics: { kind: "linkerd1", adminUrl: "http://127.0.0.1:2/" },
        timing,
        clusters: [{ name: "prod-eu", kubeconfig: "/tmp/k", metrics: { kind: "linkerd1", adminUrl: "http://127.0.0.1:5/" } }],
      }),
    );
    expect(file.clusters?.get("prod-eu")).toEqual({ name: "prod-eu", kubeconfig: "/tmp/k" });
    expect(file.targets.get("backend-svc@prod-eu")!.metrics).toMatchObject({ source: "linkerd1", linkerd1AdminUrl: "http://127.0.0.1:5/" });
  });

  it("lists every cluster, each holding backend-svc's and the wave's payments' Deployments, Services and TrafficSplit, prod-eu nothing else", () => {
    expect(sandboxClusters()).toEqual([undefined, "prod-eu"]);
    for (const cluster of sandboxClusters()) {
      expect(SEED_TARGETS.filter((t) => t.cluster === cluster && t.name === "backend-svc").map(seedKey)).toEqual([
        cluster ? `backend-svc@${cluster}` : "backend-svc",
      ]);
      const names = seedObjects(cluster as "prod-eu" | undefined).map((o) => `${o.resource}/${o.namespace}/${o.object.metadata?.name}`);
      expect(names).toEqual(
        expect.arrayContaining([
          "deployments/default/backend-v1",
          "deployments/default/backend-v2",
          "services/default/backend-svc",
          "services/default/backend-v2",
          "trafficsplits/default/backend-svc",
        ]),
      );
    }
    expect(seedObjects("prod-eu").map((o) => `${o.resource}/${o.object.metadata?.name}`)).toEqual([
      "deployments/backend-v1",
      "services/backend-v1",
      "deployments/backend-v2",
      "services/backend-v2",
      "services/backend-svc",
      "trafficsplits/backend-svc",
      "deployments/payments-v1",
      "services/payments-v1",
      "deployments/payments-v2",
      "services/payments-v2",
      "services/payments",
      "trafficsplits/payments",
    ]);
  });

  it("declares the bot's own cluster again as `staging` for the wave of payments, each cluster's verdict from its own Prometheus", () => {
    const file = parse(
      targetsYaml({
        namerdUrl: "http://127.0.0.1:1/",
        linkerd1AdminUrl: "http://127.0.0.1:2/",
        backendMetrics: { kind: "prometheus", url: "http://127.0.0.1:3" },
        timing,
        clusters: [{ name: "prod-eu", kubeconfig: "/tmp/prod-eu/kubeconfig.yaml", metrics: { kind: "prometheus", url: "http://127.0.0.1:4" } }],
        own: { kubeconfig: "/tmp/own/kubeconfig.yaml", metrics: { kind: "prometheus", url: "http://127.0.0.1:3" } },
      }),
    );
    expect(file.clusters?.get(WAVE_STORY.ownAlias)).toEqual({ name: "staging", kubeconfig: "/tmp/own/kubeconfig.yaml", prometheusUrl: "http://127.0.0.1:3" });
    const wave = file.targets.get("payments")!;
    expect(wave).toMatchObject({ clusters: ["staging", "prod-eu"], wave: { gate: "manual" }, namespace: "pay", stable: "payments-v1" });
    expect(wave.metrics).toMatchObject({ source: "prometheus", preset: "nginx" });
    expect(wave.metrics && "prometheusUrl" in wave.metrics ? wave.metrics.prometheusUrl : undefined).toBeUndefined();
    // The wave's name is no single-cluster target's: its claims go by (name, cluster).
    expect([...file.targets.keys()].filter((k) => k.split("@")[0] === "payments")).toEqual(["payments"]);
    // Without Prometheus there is no per-cluster source: people decide.
    const linkerd1 = parse(
      targetsYaml({
        namerdUrl: "http://127.0.0.1:1/",
        linkerd1AdminUrl: "http://127.0.0.1:2/",
        backendMetrics: { kind: "linkerd1", adminUrl: "http://127.0.0.1:2/" },
        timing,
        clusters: [{ name: "prod-eu", kubeconfig: "/tmp/k", metrics: { kind: "linkerd1", adminUrl: "http://127.0.0.1:5/" } }],
        own: { kubeconfig: "/tmp/own", metrics: { kind: "linkerd1", adminUrl: "http://127.0.0.1:2/" } },
      }),
    );
    expect(linkerd1.targets.get("payments")!.metrics).toMatchObject({ source: "none" });
  });
});

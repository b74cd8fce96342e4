import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseTargetsFile } from "../../src/config.ts";
import { loadClusterKubeConfig, loadKubeConfig } from "../../src/kube/config.ts";
import { parseRolloutId } from "../../src/engine/rollout.ts";
import { parseTargetKey, targetKey, targetKeyProblem } from "../../src/engine/target.ts";
import { parseStart } from "../../commands/start.ts";

/** Issue 24: the targets file's `clusters:`, how a target in another cluster is named, and its kubeconfig. */

describe("clusters in the targets file", () => {
  it("keys a target by name@cluster, so one name may be declared once per cluster", () => {
    const r = parseTargetsFile(`
clusters:
  - { name: prod-eu, context: eu }
  - { name: prod-us, kubeconfig: /etc/rollout-bot/clusters/prod-us/kubeconfig, prometheusUrl: "http://prom.us:9090" }
targets:
  - { name: shop, stable: v1 }
  - { name: shop, cluster: prod-eu, stable: v1 }
  - { name: shop, cluster: prod-us, stable: v1 }
`);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect([...r.value.targets.keys()]).toEqual(["shop", "shop@prod-eu", "shop@prod-us"]);
    expect(r.value.targets.get("shop@prod-us")?.cluster).toBe("prod-us");
    expect(r.value.clusters?.get("prod-us")?.prometheusUrl).toBe("http://prom.us:9090");
  });

  it("without `clusters:` the file reads as before (no clusters map)", () => {
    const r = parseTargetsFile("targets:\n  - { name: shop, stable: v1 }\n");
    expect(r.ok && r.value.clusters).toBeUndefined();
  });

  it("refuses a target naming an undeclared cluster, a name twice in one cluster, and a cluster reached two ways", () => {
    const undeclared = parseTargetsFile("clusters:\n  - { name: eu, context: eu }\ntargets:\n  - { name: shop, cluster: us }\n");
    expect(undeclared.ok ? [] : undeclared.error).toEqual([
      expect.stringContaining("target 'shop@us' names cluster 'us', which `clusters:` does not declare (eu)"),
    ]);
    const twice = parseTargetsFile("clusters:\n  - { name: eu, context: eu }\ntargets:\n  - { name: shop, cluster: eu }\n  - { name: shop, cluster: eu }\n");
    expect(twice.ok ? [] : twice.error).toEqual([expect.stringContaining("target 'shop@eu' is declared twice")]);
    const both = parseTargetsFile("clusters:\n  - { name: eu, context: eu, kubeconfig: /x }\n");
    expect(both.ok ? "" : both.error.join("\n")).toContain("name exactly one of `context`");
    const argo = parseTargetsFile(
      "clusters:\n  - { name: eu, context: eu }\ntargets:\n  - { name: shop, cluster: eu, router: argo-rollouts, argoRollouts: { channel: C0DEPLOYS } }\n",
    );
    expect(argo.ok ? "" : argo.error.join("\n")).toContain("followed in the bot's own cluster only");
  });

  it("gives a namerd target without a url its cluster's namerdUrl", () => {
    const r = parseTargetsFile(`
clusters:
  - { name: eu, context: eu, namerdUrl: "http://namerd.eu:4180" }
targets:
  - { name: shop, cluster: eu, router: namerd, namerd: { dtabNamespace: internal, prefix: /svc/shop } }
`);
    expect(r.ok && r.value.targets.get("shop@eu")?.namerd?.url).toBe("http://namerd.eu:4180");
  });
});

describe("naming a target in another cluster", () => {
  it("reads shop@prod-eu in commands and rollout ids, and says which part is wrong", () => {
    expect(targetKey({ name: "shop", cluster: "prod-eu" })).toBe("shop@prod-eu");
    expect(parseTargetKey("shop@prod-eu")).toEqual({ name: "shop", cluster: "prod-eu" });
    expect(parseRolloutId("shop@prod-eu#12")).toEqual({ target: "shop@prod-eu", seq: 12 });
    expect(parseRolloutId("shop@Prod#1")).toBeUndefined();
    expect(targetKeyProblem("shop@Prod")).toContain("names a cluster (after the `@`)");
    const parsed = parseStart(["shop@prod-eu", "--to", "v2"]);
    expect(parsed.ok && parsed.value.target).toBe("shop@prod-eu");
    const bad = parseStart(["shop@", "--to", "v2"]);
    expect(bad.ok ? "" : bad.error).toContain("is not a valid target");
  });
});

describe("a cluster's kubeconfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "clusters-"));
  const file = join(dir, "kubeconfig");
  const entry = (name: string, server: string) => ({
    cluster: { name, cluster: { server } },
    user: { name: `${name}-user`, user: { token: `t-${name}` } },
    context: { name, context: { cluster: name, user: `${name}-user` } },
  });
  const own = entry("home", "https://home.example:6443");
  const eu = entry("eu", "https://eu.example:6443");
  writeFileSync(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [own.cluster, eu.cluster],
      users: [own.user, eu.user],
      contexts: [own.context, eu.context],
      "current-context": "home",
    }),
  );

  it("takes a context of the bot's kubeconfig without changing the bot's own", () => {
    const base = loadKubeConfig(file);
    const kc = loadClusterKubeConfig({ name: "prod-eu", context: "eu" }, base);
    expect(kc.getCurrentCluster()?.server).toBe("https://eu.example:6443");
    expect(base.getCurrentCluster()?.server).toBe("https://home.example:6443");
  });

  it("names the context it could not find, and the ones there are", () => {
    expect(() => loadClusterKubeConfig({ name: "prod-us", context: "us" }, loadKubeConfig(file))).toThrow(
      'cluster prod-us: context "us" is not in the bot\'s kubeconfig (it has home, eu)',
    );
    expect(() => loadClusterKubeConfig({ name: "prod-us", kubeconfig: join(dir, "missing") }, loadKubeConfig(file))).toThrow("does not exist");
  });
});

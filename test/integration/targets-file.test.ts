import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTargetsFile } from "../../src/config.ts";
import { startKubeApiPeer, type KubeApiPeer } from "../../sandbox/peers/kube-api.ts";

/**
 * Issue 11: the targets file refuses what it does not understand. An unknown or misplaced key at any depth
 * stops `npm start` with every problem listed, each with its path and the key that was probably meant.
 */

let dir: string;
let kube: KubeApiPeer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "targets-file-"));
  kube = await startKubeApiPeer({ smiFlavour: "nginx" });
});
afterAll(async () => {
  await kube?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Run the real entry point (as `npm start` does) with this targets file; its exit code and stderr. */
async function start(yaml: string): Promise<{ code: number | null; stderr: string }> {
  const file = join(dir, `targets-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, yaml);
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      SLACK_SIGNING_SECRET: "s3cret",
      SLACK_BOT_TOKEN: "xoxb-test",
      KUBECONFIG: kube.kubeconfigPath,
      ROLLOUT_TARGETS: file,
      PORT: "0",
      REDIS_URL: "redis://127.0.0.1:1", // never reached: the file is refused first
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, stderr };
}

describe("npm start refuses a targets file with keys it does not know", () => {
  it("lists every unknown key with its path and the nearest known key, and exits", async () => {
    const { code, stderr } = await start(`
adhoc: false
colour: blue
targets:
  - name: shop
    stabel: shop-v1
    metrics: { source: prometheus, preset: linkerd2, windowSecond: 30 }
  - name: world
    router: namerd
    ingressUrl: http://linkerd-ingress:4140/
    namerd: { url: "http://namerd:4180", dtabNamespace: internal, prefix: /host/world }
`);
    expect(code).toBe(2);
    expect(stderr).toContain("rollout-bot cannot start:");
    expect(stderr).toContain('targets[0].stabel: unknown key (did you mean "stable"?)');
    expect(stderr).toContain('targets[0].metrics.windowSecond: unknown key (did you mean "windowSeconds"?)');
    expect(stderr).toContain("colour: unknown key (known keys here: adhoc, targets, clusters, policy)");
    expect(stderr).toContain("targets[1].ingressUrl: unknown key (it belongs under `targets[].namerd`)");
  }, 30_000);
});

describe("parseTargetsFile", () => {
  it.each([
    ["a misspelled target key", "targets:\n  - name: shop\n    namespce: shop\n", 'targets[0].namespce: unknown key (did you mean "namespace"?)'],
    [
      "an unknown metrics key",
      "targets:\n  - name: shop\n    metrics: { source: prometheus, preset: nginx, refreshSecs: 10 }\n",
      'targets[0].metrics.refreshSecs: unknown key (did you mean "refreshSeconds"?)',
    ],
    ["an unknown top-level key", "adhock: true\ntargets: []\n", 'adhock: unknown key (did you mean "adhoc"?)'],
    [
      "a nested settings block",
      "targets:\n  - name: shop\n    smi: { trafficSplt: web }\n",
      'targets[0].smi.trafficSplt: unknown key (did you mean "trafficSplit"?)',
    ],
    ["auto settings", "targets:\n  - name: shop\n    auto: { enabled: true, notise: 1m }\n", 'targets[0].auto.notise: unknown key (did you mean "notice"?)'],
  ])("%s", (_what, yaml, problem) => {
    const r = parseTargetsFile(yaml, "targets.yaml");
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.error).toContain(`targets.yaml: ${problem}`);
  });

  it("a namerd target with `cleanup: scale-down` must say where its Deployments are", () => {
    const yaml =
      "targets:\n  - name: world\n    router: namerd\n    cleanup: scale-down\n    namerd: { url: http://namerd:4180, dtabNamespace: internal, prefix: /host/world }\n";
    const r = parseTargetsFile(yaml, "targets.yaml");
    expect(r.ok === false && r.error.join("\n")).toContain("targets[0].namespace");
    expect(r.ok === false && r.error.join("\n")).toContain("`cleanup: scale-down` needs the namespace of the versions' Deployments");
    expect(parseTargetsFile(yaml.replace("router: namerd", "router: namerd\n    namespace: web"), "targets.yaml").ok).toBe(true);
  });

  it("a file with only known keys still loads", () => {
    const r = parseTargetsFile("adhoc: true\ntargets:\n  - name: shop\n    stable: shop-v1\n    metrics: { source: none }\n");
    expect(r.ok).toBe(true);
  });
});

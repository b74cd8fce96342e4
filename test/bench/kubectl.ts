import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:tls";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { KubeApiPeer, KubeObject } from "../../sandbox/peers/kube-api.ts";

/**
 * The same change as an Advance click, made the way a person or a pipeline step makes it without the bot:
 * `kubectl patch` (a fresh process each time) against the same Kubernetes API peer. Timed from the spawn to
 * the PATCH arriving at the peer, the same end point as the bot's click -> mesh write.
 *
 * kubectl (client-go) does not send a bearer token over plain HTTP, and the peer speaks plain HTTP, so the
 * peer is put behind a TLS front here (a self-signed certificate from `openssl`, skipped verification):
 * kubectl pays a TLS handshake, as it does against any real cluster. Without kubectl, the nearest honest
 * equivalent is measured instead and labelled so: a fresh Node process doing one merge patch with
 * @kubernetes/client-node (discovery included), straight to the peer.
 */

const run = promisify(execFile);
const REPO = fileURLToPath(new URL("../..", import.meta.url));
const NS = "bench";
const SPLIT = "kubectl-probe";

export type PatchResult = {
  /** What made the change: "kubectl patch" or the client-node fallback. */
  tool: string;
  /** Spawn -> the PATCH arrived at the API peer, ms. */
  toWriteMs: number[];
  /** Spawn -> the process exited, ms. */
  toExitMs: number[];
};

export async function kubectlVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await run("kubectl", ["version", "--client"], { timeout: 20_000 });
    return /Client Version: (\S+)/.exec(stdout)?.[1] ?? "unknown version";
  } catch {
    return undefined;
  }
}

export async function benchPatch(kube: KubeApiPeer, runs: number): Promise<PatchResult> {
  kube.seed("trafficsplits", NS, {
    kind: "TrafficSplit",
    metadata: { name: SPLIT, namespace: NS },
    spec: {
      service: SPLIT,
      backends: [
        { service: `${SPLIT}-v1`, weight: 100 },
        { service: `${SPLIT}-v2`, weight: 0 },
      ],
    },
  } as KubeObject);
  const version = await kubectlVersion();
  const dir = await mkdtemp(join(tmpdir(), "bench-kubectl-"));
  let front: Server | undefined;
  try {
    let tool: string;
    let command: (canary: number) => [string, string[]];
    if (version) {
      front = await tlsFront(dir, Number(new URL(kube.url).port));
      const kubeconfig = join(dir, "kubeconfig.yaml");
      await writeFile(kubeconfig, kubeconfigText(`https://127.0.0.1:${(front.address() as { port: number }).port}`, kube.token));
      tool = `kubectl patch (${version}, a fresh process each, TLS)`;
      command = (canary) => [
        "kubectl",
        [
          "--kubeconfig",
          kubeconfig,
          "--cache-dir",
          join(dir, "cache"),
          "-n",
          NS,
          "patch",
          "trafficsplits.split.smi-spec.io",
          SPLIT,
          "--type",
          "merge",
          "-p",
          JSON.stringify(patchBody(canary)),
        ],
      ];
    } else {
      tool = "no kubectl: a fresh node process, one @kubernetes/client-node merge patch";
      command = (canary) => [process.execPath, ["--input-type=module", "-e", clientNodePatch(kube.kubeconfigPath, canary)]];
    }
    const toWriteMs: number[] = [];
    const toExitMs: number[] = [];
    // One unmeasured run first: kubectl's discovery cache and the OS's file cache are warm, as at a terminal.
    for (let i = 0; i <= runs; i++) {
      const canary = i % 2 === 0 ? 50 : 10;
      const [cmd, args] = command(canary);
      const t = Date.now();
      const child = spawn(cmd, args, { cwd: REPO, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
      const [code] = (await once(child, "exit")) as [number | null];
      const exitedAt = Date.now();
      if (code !== 0) throw new Error(`${cmd} exited ${String(code)}: ${err}`);
      const write = kube.requests.find((q) => q.method === "PATCH" && q.name === SPLIT && q.at >= t && q.status === 200);
      if (!write) throw new Error(`${cmd} exited 0 but no PATCH of ${SPLIT} reached the API peer`);
      if (i === 0) continue;
      toWriteMs.push(write.at - t);
      toExitMs.push(exitedAt - t);
    }
    return { tool, toWriteMs, toExitMs };
  } finally {
    front?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function patchBody(canary: number) {
  return {
    spec: {
      backends: [
        { service: `${SPLIT}-v1`, weight: 100 - canary },
        { service: `${SPLIT}-v2`, weight: canary },
      ],
    },
  };
}

function kubeconfigText(server: string, token: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    `clusters: [{name: peer, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]`,
    `users: [{name: peer, user: {token: "${token}"}}]`,
    "contexts: [{name: peer, context: {cluster: peer, user: peer}}]",
    "current-context: peer",
    "",
  ].join("\n");
}

/** A TLS-terminating TCP front for the peer, with a throwaway self-signed certificate. */
async function tlsFront(dir: string, peerPort: number): Promise<Server> {
  const [key, cert] = [join(dir, "key.pem"), join(dir, "cert.pem")];
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
  ]);
  const server = createServer({ key: await readFile(key), cert: await readFile(cert) }, (socket) => {
    const upstream = connect(peerPort, "127.0.0.1");
    socket.pipe(upstream).pipe(socket);
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

/** The fallback's program: what a pipeline step written against the client library pays for one change. */
function clientNodePatch(kubeconfigPath: string, canary: number): string {
  const spec = { apiVersion: "split.smi-spec.io/v1alpha3", kind: "TrafficSplit", metadata: { name: SPLIT, namespace: NS }, ...patchBody(canary) };
  return [
    `import { KubeConfig, KubernetesObjectApi, PatchStrategy } from "@kubernetes/client-node";`,
    `const kc = new KubeConfig(); kc.loadFromFile(${JSON.stringify(kubeconfigPath)});`,
    `await KubernetesObjectApi.makeApiClient(kc).patch(${JSON.stringify(spec)}, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);`,
  ].join("\n");
}

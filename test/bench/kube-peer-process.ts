/**
 * The Kubernetes API peer in a process of its own, for the benchmarks: the API server is another machine in
 * production, so its CPU (validating, storing and serving thousands of objects) must not be charged to the
 * bot's event loop nor to the bench's load generator. Every workload the bot reads exists and is ready
 * (`implicitWorkloads`). Prints `{"kubeconfigPath": ..., "controlUrl": ...}` on one line once listening;
 * exits when stdin closes.
 *
 *   node --import tsx test/bench/kube-peer-process.ts
 *
 * The control server (loopback, bench only):
 *   GET /requests?since=<ms>&until=<ms>  -> {byKind: {"GET trafficsplits": n, ...}, total: n, connections: n}
 *                                           (connections: accepted since the peer started)
 *   GET /written?percent=<n>             -> {at: {"<service>": ms}}: the first successful TrafficSplit write
 *                                           giving each backend service that weight
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { startKubeApiPeer } from "../../sandbox/peers/kube-api.ts";

const kube = await startKubeApiPeer({ smiFlavour: "nginx", implicitWorkloads: true });

const control = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://control");
  const answer = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.method === "GET" && url.pathname === "/requests") {
    const since = Number(url.searchParams.get("since") ?? 0);
    const until = Number(url.searchParams.get("until") ?? Number.MAX_SAFE_INTEGER);
    const byKind: Record<string, number> = {};
    let total = 0;
    for (const q of kube.requests) {
      if (q.at < since || q.at >= until) continue;
      const kind = `${q.method} ${q.resource ?? q.path}${q.name === undefined && q.method === "GET" && q.resource ? " (list)" : ""}`;
      byKind[kind] = (byKind[kind] ?? 0) + 1;
      total++;
    }
    return answer(200, { byKind, total, connections: kube.connections });
  }
  if (req.method === "GET" && url.pathname === "/written") {
    const percent = Number(url.searchParams.get("percent"));
    const at: Record<string, number> = {};
    for (const q of kube.requests) {
      if (!q.mutating || q.resource !== "trafficsplits" || q.status >= 300) continue;
      const backends = (q.body as { spec?: { backends?: { service?: unknown; weight?: unknown }[] } } | undefined)?.spec?.backends ?? [];
      for (const b of backends) if (Number(b.weight) === percent && at[String(b.service)] === undefined) at[String(b.service)] = q.at;
    }
    return answer(200, { at });
  }
  answer(404, { error: "not found" });
});
await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", resolve));
const controlUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;

process.stdout.write(`${JSON.stringify({ kubeconfigPath: kube.kubeconfigPath, controlUrl })}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  control.close();
  void kube.close().finally(() => process.exit(0));
});

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readBody } from "../../sandbox/peers/read-body.ts";

/**
 * Prometheus's instant-query API (`POST /api/v1/query`) answering at once that every canary is healthy: the
 * bot's real PrometheusSource (HTTP, parsing, the verdict) runs on every reading, without a Prometheus server
 * scraping thousands of workloads on the same two cores. For the linkerd2 preset's queries: one counter series
 * per version growing at 100 requests a second, all successful for a stable and 99.99% for a canary
 * (`deployment="...-v2"`), sampled now (`timestamp()`), p99 12 ms.
 *
 * A query of parts joined with `or`, each `label_replace(<part>, "<label>", "<value>", "", "")` (how the bot
 * asks a whole reading at once), is answered as Prometheus answers it: each part's series carrying its label.
 */
export async function startInstantPrometheus(): Promise<{ url: string; queries: () => number; close(): Promise<void> }> {
  let queries = 0;
  const server: Server = createServer((req, res) => {
    void readBody(req).then((raw) => {
      const query = new URLSearchParams(raw).get("query") ?? new URL(req.url ?? "/", "http://x").searchParams.get("query") ?? "";
      queries++;
      const now = Date.now() / 1000;
      const parts = [...query.matchAll(/label_replace\(([\s\S]*?)\s*,\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*,\s*"([^"]*)"\s*,\s*""\s*,\s*""\s*\)(?:\s+or\s+|\s*$)/g)];
      const series = parts.length
        ? parts.map((m) => ({ metric: { [m[2]!]: m[3]! }, value: [now, String(valueOf(m[1]!, now))] }))
        : [{ metric: {}, value: [now, String(valueOf(query, now))] }];
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "success", data: { resultType: "vector", result: series } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    queries: () => queries,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** One linkerd2 query's value at `now` (s). */
function valueOf(query: string, now: number): number {
  const requests = Math.floor(now * 100);
  if (query.includes("histogram_quantile")) return 12;
  if (query.trimStart().startsWith("timestamp(")) return now;
  if (query.includes('classification!="failure"') && /deployment="[^"]*-v2"/.test(query)) return requests - Math.floor(requests / 10_000);
  return requests;
}

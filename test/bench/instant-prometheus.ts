import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readBody } from "../../sandbox/peers/read-body.ts";

/**
 * Prometheus's instant-query API (`POST /api/v1/query`) answering at once that every canary is healthy: the
 * bot's real PrometheusSource (HTTP, parsing, the verdict) runs on every reading, without a Prometheus server
 * scraping thousands of workloads on the same two cores. For the linkerd2 preset's queries: one counter series
 * per version growing at 100 requests a second, all successful for a stable and 99.99% for a canary
 * (`deployment="...-v2"`), sampled now (`timestamp()`), p99 12 ms.
 */
export async function startInstantPrometheus(): Promise<{ url: string; queries: () => number; close(): Promise<void> }> {
  let queries = 0;
  const server: Server = createServer((req, res) => {
    void readBody(req).then((raw) => {
      const query = new URLSearchParams(raw).get("query") ?? new URL(req.url ?? "/", "http://x").searchParams.get("query") ?? "";
      queries++;
      const now = Date.now() / 1000;
      const requests = Math.floor(now * 100);
      const value = query.includes("histogram_quantile")
        ? 12
        : query.startsWith("timestamp(")
          ? now
          : query.includes('classification!="failure"') && /deployment="[^"]*-v2"/.test(query)
            ? requests - Math.floor(requests / 10_000)
            : requests;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "success", data: { resultType: "vector", result: [{ metric: {}, value: [Date.now() / 1000, String(value)] }] } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    queries: () => queries,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A Linkerd 1 admin port as the bot reads it: `GET /admin/metrics.json`, a flat JSON object whose
 * keys keep the '/' of router, service and client names (PROTOCOLS.md §3). Counters are whatever
 * the test sets, cumulative like linkerd's; a few unrelated keys of the real shape ride along.
 */

export type ClientCounters = { success: number; failures?: number };

export type Linkerd1Admin = {
  url: string;
  /** Set a client's cumulative counters: rt/<router>/client/<id>/{requests,success,failures}. */
  setClient(router: string, clientId: string, counters: ClientCounters): void;
  /** Set (or with undefined, delete) any raw key. */
  set(key: string, value: number | undefined): void;
  /** Answer metrics.json with this HTTP status and a plain-text body instead (undefined: normal). */
  failWith(status: number | undefined): void;
  /** How many times metrics.json was fetched. */
  readonly hits: number;
  stop(): Promise<void>;
};

export async function startLinkerd1Admin(): Promise<Linkerd1Admin> {
  const metrics = new Map<string, number>([
    ["jvm/uptime", 12345],
    ["jvm/thread/count", 42],
    ["rt/http/server/0.0.0.0/4140/requests", 0],
    ["rt/http/service/svc/world/requests", 0],
    ["rt/http/client/$/inet/127.1/9990/requests", 3],
    ["rt/http/client/$/inet/127.1/9990/success", 3],
  ]);
  let failStatus: number | undefined;
  let hits = 0;

  const server = createServer((req, res) => {
    const path = req.url?.split("?")[0];
    if (req.method === "GET" && path === "/admin/metrics.json") {
      hits++;
      if (failStatus !== undefined) {
        res.writeHead(failStatus, { "content-type": "text/plain" }).end("admin unavailable");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(Object.fromEntries(metrics)));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    setClient(router, clientId, c) {
      const base = `rt/${router}/client/${clientId}`;
      const failures = c.failures ?? 0;
      metrics.set(`${base}/requests`, c.success + failures);
      metrics.set(`${base}/success`, c.success);
      // Like finagle, the failures counter exists only once something failed; its per-exception
      // children sit under it and must not be mistaken for the total.
      if (failures > 0) {
        metrics.set(`${base}/failures`, failures);
        metrics.set(`${base}/failures/com.twitter.finagle.ChannelClosedException`, failures);
      } else {
        metrics.delete(`${base}/failures`);
        metrics.delete(`${base}/failures/com.twitter.finagle.ChannelClosedException`);
      }
      metrics.set(`${base}/request_latency_ms.p99`, 12);
      metrics.set(`${base}/service/svc/world/success`, c.success * 10); // per-service stats: not ours
    },
    set(key, value) {
      if (value === undefined) metrics.delete(key);
      else metrics.set(key, value);
    },
    failWith(status) {
      failStatus = status;
    },
    get hits() {
      return hits;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

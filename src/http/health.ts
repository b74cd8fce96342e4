import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Liveness and readiness on their own small port (HEALTH_PORT), the same whatever carries Slack's requests
 * (HTTP or, later, Socket Mode): `/healthz` answers while the process serves; `/readyz` runs every
 * readiness check and answers 503 naming the first that fails; `/metrics` is the Prometheus exposition.
 */

/** A named readiness check: true when the dependency answers. */
export type ReadinessCheck = { name: string; ready: () => Promise<boolean> };

export type HealthServer = { port: number; url: string; stop(): Promise<void> };

export async function startHealthServer(opts: {
  port: number;
  host?: string;
  checks: ReadinessCheck[];
  /** Prometheus exposition for GET /metrics (404 without). */
  metrics?: () => Promise<{ contentType: string; body: string }>;
}): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/metrics" && opts.metrics) {
      opts.metrics().then(
        (m) => res.writeHead(200, { "content-type": m.contentType }).end(m.body),
        () => res.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable"),
      );
      return;
    }
    if (req.method !== "GET" || (path !== "/healthz" && path !== "/readyz")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    void readiness(opts.checks).then((failed) => {
      res.writeHead(failed ? 503 : 200, { "content-type": "text/plain" }).end(failed ? `${failed} unavailable` : "ready");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "0.0.0.0", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The name of the first check that fails (a check that throws fails), or undefined when all pass. */
async function readiness(checks: ReadinessCheck[]): Promise<string | undefined> {
  for (const c of checks) {
    const ok = await c.ready().catch(() => false);
    if (!ok) return c.name;
  }
  return undefined;
}

import { createServer, type IncomingMessage, type Server } from "node:http";
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
  /** POST `/flagger/<target>/<hook>`: Flagger's webhook gates (src/app/flagger-gate.ts). */
  flagger?: (target: string, hook: string, body: string) => Promise<{ status: number; body: string }>;
}): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const hook = /^\/flagger\/([^/]{1,63})\/([^/]{1,40})$/.exec(path);
    if (opts.flagger && hook && req.method === "POST") {
      const answer = opts.flagger;
      void readBody(req, WEBHOOK_BODY_MAX).then(
        (body) =>
          body === undefined
            ? res.writeHead(413, { "content-type": "text/plain" }).end("body too large")
            : answer(hook[1]!, hook[2]!, body).then(
                (a) => res.writeHead(a.status, { "content-type": "text/plain" }).end(a.body),
                // 503: Flagger retries it (when the hook has `retries`) and otherwise keeps the gate closed.
                () => res.writeHead(503, { "content-type": "text/plain" }).end("the bot could not answer now"),
              ),
        () => res.destroy(),
      );
      return;
    }
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

/** Flagger's payload is a few hundred bytes; anything far larger is not Flagger. */
const WEBHOOK_BODY_MAX = 64 * 1024;

/** The request body as text, or undefined past `max` bytes (the rest is not read). */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        resolve(undefined);
        req.pause();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/**
 * The name of the first check (in their order) that fails (a check that throws fails), or undefined when all
 * pass. Asked all at once: with a Kubernetes API check per cluster, one after the other would add up.
 */
async function readiness(checks: ReadinessCheck[]): Promise<string | undefined> {
  const answers = checks.map((c) => c.ready().catch(() => false));
  // In order, so the answer names the first failing check as before, but without waiting for slower checks
  // after it (a Redis that is down is said at once, not after a Kubernetes API's deadline).
  for (const [i, answer] of answers.entries()) if (!(await answer)) return checks[i]!.name;
  return undefined;
}

import type { Redis } from "ioredis";
import type { ExtraRoute } from "../slack/receiver.ts";

/** Liveness answers while the process serves; readiness also needs Redis, without which nothing is safe. */
export function healthRoutes(redis: Redis): ExtraRoute[] {
  return [
    (req, res) => {
      if (req.method !== "GET" || req.url !== "/healthz") return false;
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return true;
    },
    async (req, res) => {
      if (req.method !== "GET" || req.url !== "/readyz") return false;
      const ok = await redis
        .ping()
        .then((p) => p === "PONG")
        .catch(() => false);
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ready" : "redis unavailable");
      return true;
    },
  ];
}

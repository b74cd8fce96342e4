import type { Logger } from "pino";
import type { RedisClient } from "./redis-connection.ts";

/**
 * One account of Redis reachability for all of a process's connections: a single line naming the URL when
 * it is lost (or never found), a single line when it is back, and nothing in between, however many
 * connections retry how often. ioredis otherwise reports every failed attempt of every connection.
 */
export class RedisWatch {
  private down = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  /** Report this connection's failures and recoveries through the shared account. */
  watch<C extends RedisClient>(c: C): C {
    c.on("error", (err: Error) => this.failed(err));
    c.on("ready", () => this.recovered());
    return c;
  }

  failed(err: Error): void {
    if (this.down) return;
    this.down = true;
    this.log.error(
      { redis: redactUrl(this.url), err: err.message },
      `cannot reach Redis at ${redactUrl(this.url)}; retrying with backoff (not ready until it answers)`,
    );
  }

  recovered(): void {
    if (!this.down) return;
    this.down = false;
    this.log.info({ redis: redactUrl(this.url) }, `Redis at ${redactUrl(this.url)} is reachable again`);
  }
}

/** The URL without its password, fit for a log line. */
export function redactUrl(url: string): string {
  // The cluster form (several hosts) is no WHATWG URL: mask what lies between "user:" and "@".
  if (/^rediss?\+cluster:\/\//.test(url)) return url.replace(/^([a-z+]+:\/\/[^:@/]*:)[^@]*@/, "$1***@");
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString().replace(/\/$/, "");
  } catch {
    return "(unparseable Redis URL)";
  }
}

/** Exponential backoff between reconnection attempts, 100 ms doubling up to 5 s. */
export function redisBackoff(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 6), 5_000);
}

/** An error that says Redis cannot be reached (as opposed to a command that failed). */
export function isConnectionError(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return (
    (code !== undefined && ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "EAI_AGAIN"].includes(code)) ||
    /Connection is closed|connect ETIMEDOUT|Stream isn't writeable|None of startup nodes is available|Failed to refresh slots cache|Cluster isn't ready|CLUSTERDOWN/.test(
      err.message,
    )
  );
}

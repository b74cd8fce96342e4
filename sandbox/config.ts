import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { z } from "zod";
import { err, ok, type Result } from "../src/engine/result.ts";
import type { TimingSettings } from "./seed.ts";

/**
 * The sandbox's few settings, read from an environment map the entry point passes in. Short windows and
 * refreshes so a broken canary is caught within seconds on the page.
 */

const SandboxEnvSchema = z.object({
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL")
    .default("redis://127.0.0.1:6379"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Bind address of the page (loopback by default: the page drives a bot with no authentication). */
  SANDBOX_HOST: z.string().min(1).default("127.0.0.1"),
  SANDBOX_TICK_MS: z.coerce.number().int().min(50).max(10_000).default(1000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("warn"),
  /** `off` skips Prometheus even when it is installed (every target then reads Linkerd 1's admin endpoint). */
  SANDBOX_PROMETHEUS: z.enum(["auto", "off"]).default("auto"),
  PROMETHEUS_BIN: z.string().optional(),
  PATH: z.string().default(""),
});

export type SandboxConfig = {
  redisUrl: string;
  port: number;
  host: string;
  tickMs: number;
  logLevel: string;
  prometheusBinary?: string;
  timing: TimingSettings;
};

/** The first executable named `name` on PATH, if any. */
export function onPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export function parseSandboxEnv(env: Record<string, string | undefined>): Result<SandboxConfig, string[]> {
  const r = SandboxEnvSchema.safeParse(env);
  if (!r.success) return err(r.error.issues.map((i) => `${i.path.join(".")} ${i.message}`));
  const e = r.data;
  const prometheusBinary = e.SANDBOX_PROMETHEUS === "off" ? undefined : (e.PROMETHEUS_BIN ?? onPath("prometheus", e.PATH));
  return ok({
    redisUrl: e.REDIS_URL,
    port: e.PORT,
    host: e.SANDBOX_HOST,
    tickMs: e.SANDBOX_TICK_MS,
    logLevel: e.LOG_LEVEL,
    ...(prometheusBinary ? { prometheusBinary } : {}),
    timing: { windowSeconds: 10, refreshSeconds: 5, autoNotice: "5s" },
  });
}

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { parseSandboxEnv } from "./config.ts";
import { redisAnswers } from "./redis-check.ts";

/**
 * `npm run sandbox` (and `npm start` without Slack credentials): the real bot against local peers, with a
 * page that looks and behaves like a Slack channel. Prints one URL; Ctrl-C stops everything and deletes
 * this run's Redis keys.
 */

export type SandboxReason = "explicit" | "no-credentials";

const FIRST_LINE: Record<SandboxReason, string> = {
  explicit: "rollout-bot sandbox: the real bot against a local Slack, Kubernetes API, namerd and simulated traffic.",
  "no-credentials":
    "rollout-bot: no SLACK_SIGNING_SECRET or SLACK_BOT_TOKEN set, so this is the sandbox (a local Slack, Kubernetes API, namerd and simulated traffic). " +
    "To run for real, set them and the other settings in docs/configuration.md.",
};

/** Where the sandbox writes its few lines (the process's stdout and stderr, or a test's buffers). */
export type SandboxOutput = { out: (line: string) => void; err: (line: string) => void };
const PROCESS_OUTPUT: SandboxOutput = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

export async function runSandbox(env: Record<string, string | undefined>, reason: SandboxReason, io: SandboxOutput = PROCESS_OUTPUT): Promise<number> {
  io.out(FIRST_LINE[reason]);
  const config = parseSandboxEnv(env);
  if (!config.ok) {
    io.err(`sandbox cannot start:\n${config.error.map((e) => `  - ${e}`).join("\n")}`);
    return 2;
  }
  const c = config.value;
  if (!(await redisAnswers(c.redisUrl))) {
    io.err(
      `sandbox cannot start: Redis does not answer at ${c.redisUrl}; start one with \`redis-server --daemonize yes\` (Debian: apt-get install redis-server), or set REDIS_URL.`,
    );
    return 3;
  }
  // The bot's modules load only now: a missing Redis is reported without waiting for them.
  const { randomSandboxPrefix, startWorld } = await import("./world.ts");
  const { startSandboxServer } = await import("./server.ts");
  const log = pino({ level: c.logLevel });
  const world = await startWorld({
    redisUrl: c.redisUrl,
    keyPrefix: randomSandboxPrefix(),
    ...(c.prometheusBinary ? { prometheusBinary: c.prometheusBinary } : {}),
    tickMs: c.tickMs,
    historyLength: Math.ceil(60_000 / c.tickMs),
    timing: c.timing,
    log,
  });
  const server = await startSandboxServer(world, { port: c.port, host: c.host });
  io.out(`Open ${server.url}`);
  const shutdown = async () => {
    await server.close();
    await world.close();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown());
  process.once("SIGTERM", () => void shutdown());
  return 0;
}

// Run when executed directly (`node --import tsx sandbox/main.ts`, `npm run sandbox`), not when imported by src/main.ts.
const entry = process.argv[1];
if (entry && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  runSandbox(process.env, "explicit").then(
    (code) => {
      if (code !== 0) process.exit(code);
    },
    (err: unknown) => {
      process.stderr.write(`sandbox failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

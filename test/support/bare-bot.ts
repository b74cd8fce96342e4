import { Writable } from "node:stream";
import { pino } from "pino";
import { startBot, type Bot } from "../../src/bot.ts";
import { EnvSchema } from "../../src/config.ts";
import { RouterRegistry } from "../../src/routers/registry.ts";

export type LogLine = { level: number; msg: string; component?: string };

/**
 * A bot with no targets and no Slack behind it, started against `redisUrl` (one that does not answer, in the
 * start-up tests), with every log line it writes collected: what an operator sees when Redis is unreachable.
 */
export async function startBareBot(redisUrl: string): Promise<{ bot: Bot; lines: LogLine[] }> {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  const env = EnvSchema.parse({
    SLACK_SIGNING_SECRET: "s",
    SLACK_BOT_TOKEN: "xoxb-x",
    SLACK_API_URL: "http://127.0.0.1:9/api/",
    REDIS_URL: redisUrl,
    PORT: "0",
    HEALTH_PORT: "0",
  });
  const bot = await startBot({
    env,
    targets: { adhoc: false, targets: new Map() },
    routers: new RouterRegistry(),
    // No targets: nothing for preflight to read.
    preflight: { start: async () => [], canary: async () => [] },
    log: pino({ level: "info" }, sink),
  });
  return { bot, lines };
}

import { LogLevel, type Logger as BoltLogger } from "@slack/bolt";
import type { Logger } from "pino";

/** Bolt logs through pino, so secrets redaction and levels are configured in one place. */
export function boltLogger(log: Logger): BoltLogger {
  let level = LogLevel.INFO;
  const fmt = (msg: unknown[]) => msg.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ");
  return {
    debug: (...m: unknown[]) => log.debug(fmt(m)),
    info: (...m: unknown[]) => log.info(fmt(m)),
    warn: (...m: unknown[]) => log.warn(fmt(m)),
    error: (...m: unknown[]) => log.error(fmt(m)),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

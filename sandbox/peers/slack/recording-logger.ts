import { LogLevel, type Logger } from "@slack/web-api";

/**
 * A @slack/logger Logger that keeps lines instead of printing them: WebClient and Bolt log every
 * `[ERROR]` line of an invalid_blocks answer and every 429, which would bury test output, and tests
 * can assert on what the client reported.
 */
export function recordingLogger(): Logger & { lines: Array<{ level: LogLevel; text: string }> } {
  const lines: Array<{ level: LogLevel; text: string }> = [];
  let level = LogLevel.DEBUG;
  const at =
    (l: LogLevel) =>
    (...msg: unknown[]) => {
      lines.push({ level: l, text: msg.map(String).join(" ") });
    };
  return {
    lines,
    debug: at(LogLevel.DEBUG),
    info: at(LogLevel.INFO),
    warn: at(LogLevel.WARN),
    error: at(LogLevel.ERROR),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

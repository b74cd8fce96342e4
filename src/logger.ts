import { pino, type DestinationStream, type Logger } from "pino";

/** Paths that may hold secrets anywhere in a logged object; pino replaces their values. */
export const REDACT = [
  "token",
  "*.token",
  "signingSecret",
  "*.signingSecret",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "config.SLACK_BOT_TOKEN",
  "config.SLACK_SIGNING_SECRET",
  "config.SLACK_APP_TOKEN",
  "SLACK_BOT_TOKEN",
  "SLACK_SIGNING_SECRET",
  "SLACK_APP_TOKEN",
  "PROMETHEUS_BEARER_TOKEN",
  "*.PROMETHEUS_BEARER_TOKEN",
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { app: "rollout-bot" }, redact: { paths: REDACT, censor: "[redacted]" } }, destination);
}

import { App } from "@slack/bolt";
import type { Logger } from "pino";
import { boltLogger } from "./bolt-logger.ts";
import { StrictHttpReceiver } from "./receiver.ts";

/**
 * The transport seam: how Slack's requests reach the listeners. The listeners are registered on the Bolt
 * `App` and do not know which receiver delivered a request. Today that is Slack's HTTP delivery (signed
 * requests to /slack/events); a Socket Mode receiver (SLACK_APP_TOKEN) is chosen here too when it lands.
 */
export type SlackTransportOptions = {
  signingSecret: string;
  botToken: string;
  /** Slack Web API base URL (tests and the sandbox point it at the local peer). */
  apiUrl?: string;
  port: number;
  /** Deadline of one Web API call. */
  timeoutMs: number;
  log: Logger;
  now: () => number;
};

export type SlackTransport = {
  app: App;
  /** Where Slack's HTTP requests are served (the port actually bound, once started). */
  readonly port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
};

export function createSlackTransport(opts: SlackTransportOptions): SlackTransport {
  const receiver = new StrictHttpReceiver({ signingSecret: opts.signingSecret, port: opts.port, log: opts.log, now: opts.now });
  const app = new App({
    token: opts.botToken,
    receiver,
    logger: boltLogger(opts.log.child({ component: "bolt" })),
    // The Web API client's defaults are no timeout and ~10 retries over half an hour: a Slack call that never
    // answers would hold a worker slot (and that rollout's message) for minutes. Bounded here; the job's own
    // retries take over after.
    clientOptions: {
      timeout: opts.timeoutMs,
      retryConfig: { retries: 5, factor: 2, minTimeout: 1_000, maxTimeout: 30_000, randomize: true },
      ...(opts.apiUrl ? { slackApiUrl: opts.apiUrl } : {}),
    },
  });
  return {
    app,
    get port() {
      return receiver.port;
    },
    async start() {
      await app.start();
    },
    async stop() {
      await app.stop();
    },
  };
}

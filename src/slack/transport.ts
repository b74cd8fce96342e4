import { App, type AuthorizeResult } from "@slack/bolt";
import type { Logger } from "pino";
import { boltLogger } from "./bolt-logger.ts";
import type { OpsObserver } from "../http/metrics.ts";
import { StrictHttpReceiver } from "./receiver.ts";
import { SocketModeReceiver } from "./socket-receiver.ts";
import { budgetedFetch } from "./budget-fetch.ts";
import type { SlackBudget } from "./budget.ts";
import type { DeliveredRequest } from "../app/replay.ts";

/**
 * The transport seam: how Slack's requests reach the listeners. The listeners are registered on the Bolt
 * `App` and do not know which receiver delivered a request. Today that is Slack's HTTP delivery (signed
 * requests to /slack/events), or Socket Mode when an app-level token (SLACK_APP_TOKEN) is configured.
 */
export type SlackTransportOptions = {
  signingSecret: string;
  botToken: string;
  /** An app-level token (xapp-...): Slack's requests then come over Socket Mode instead of HTTP. */
  appToken?: string;
  /** Slack Web API base URL (tests and the sandbox point it at the local peer). */
  apiUrl?: string;
  port: number;
  /** Deadline of one Web API call. */
  timeoutMs: number;
  log: Logger;
  now: () => number;
  /** Where ack latency and Web API calls are reported (the bot's metrics). */
  observe?: SlackObserver;
  /** The workspace's shared rate budget: every Web API call of every client Bolt builds takes its turn. */
  budget?: SlackBudget;
  /** Whether a request is taken: false for one received before (a replay), answered with nothing done. */
  admit?: (req: DeliveredRequest) => Promise<boolean>;
  /** Told when each request (HTTP or Socket Mode) arrives and when it is answered (see StrictReceiverOptions.waiting). */
  waiting?: { arrived(): void; answered(): void };
  /** Hosts a `response_url` may name, besides SLACK_API_URL's (default: hooks.slack.com). */
  responseUrlHosts?: readonly string[];
  /** Address the HTTP receiver binds (default 0.0.0.0). */
  host?: string;
};

export type SlackObserver = Pick<OpsObserver, "slackAck" | "slackCall" | "slackRateLimited" | "slackBudgetWait">;

export type SlackTransport = {
  app: App;
  mode: "http" | "socket";
  /** Whether Slack's requests can reach the listeners now (Socket Mode: the socket is connected). */
  connected(): boolean;
  /** Where Slack's HTTP requests are served (the port actually bound, once started); 0 in Socket Mode. */
  readonly port: number;
  start(): Promise<void>;
  /** Take no new requests and wait for those in hand (see StrictHttpReceiver.drain). */
  drain(): Promise<void>;
  stop(): Promise<void>;
};

export function createSlackTransport(opts: SlackTransportOptions): SlackTransport {
  const onAck = opts.observe ? { onAck: opts.observe.slackAck } : {};
  const admit = opts.admit ? { admit: opts.admit } : {};
  // Socket Mode when an app-level token is configured (no public URL needed); else Slack's HTTP delivery.
  const receiver = opts.appToken
    ? new SocketModeReceiver({
        appToken: opts.appToken,
        log: opts.log,
        ...(opts.apiUrl ? { apiUrl: opts.apiUrl } : {}),
        ...onAck,
        ...admit,
        ...(opts.waiting ? { waiting: opts.waiting } : {}),
      })
    : new StrictHttpReceiver({
        signingSecret: opts.signingSecret,
        port: opts.port,
        ...(opts.host ? { host: opts.host } : {}),
        log: opts.log,
        now: opts.now,
        ...onAck,
        ...admit,
        ...(opts.waiting ? { waiting: opts.waiting } : {}),
        responseUrlAllowed: responseUrlCheck(opts.responseUrlHosts ?? ["hooks.slack.com"], opts.apiUrl),
      });
  // Who the bot is, asked of Slack once (auth.test) when the first request needs it. Not Bolt's `token`
  // option: Bolt then calls auth.test at construction and leaves its rejection unhandled, so a revoked token
  // would crash the process instead of making it unready (src/http/readiness.ts).
  let who: Promise<AuthorizeResult> | undefined;
  const authorize = () =>
    (who ??= app.client.auth
      .test()
      .then((r) => ({
        botToken: opts.botToken,
        ...(r.bot_id ? { botId: r.bot_id } : {}),
        ...(r.user_id ? { botUserId: r.user_id } : {}),
        ...(r.team_id ? { teamId: r.team_id } : {}),
      }))
      .catch((e: unknown) => {
        who = undefined;
        throw e;
      }));
  const app: App = new App({
    authorize,
    receiver,
    logger: boltLogger(opts.log.child({ component: "bolt" })),
    // The Web API client's defaults are no timeout and ~10 retries over half an hour: a Slack call that never
    // answers would hold a worker slot (and that rollout's message) for minutes. Bounded here; the job's own
    // retries take over after.
    clientOptions: {
      timeout: opts.timeoutMs,
      headers: { Authorization: `Bearer ${opts.botToken}` },
      retryConfig: { retries: 5, factor: 2, minTimeout: 1_000, maxTimeout: 30_000, randomize: true },
      ...(opts.apiUrl ? { slackApiUrl: opts.apiUrl } : {}),
      // Bolt hands these options to every client it builds (the listeners' too): one door for every call.
      ...(opts.budget
        ? {
            fetch: budgetedFetch(opts.budget, {
              timeoutMs: opts.timeoutMs,
              ...(opts.observe ? { onWait: (method: string, ms: number) => opts.observe!.slackBudgetWait(method, ms / 1000) } : {}),
            }),
          }
        : {}),
    },
  });
  // app.client (the worker's and the user groups' calls) is built without a token: it sends it as a header.
  (app.client as unknown as { token: string }).token = opts.botToken;
  if (opts.observe) {
    const observe = opts.observe;
    observeWebApi(app.client, observe);
    // Listeners get another client: Bolt builds one per token and team for them (views.open, chat.postEphemeral,
    // say), whichever receiver delivered the request. It is the `client` every middleware sees, so the first
    // request instruments it before any listener can call it.
    app.use(async ({ client, next }) => {
      observeWebApi(client, observe);
      await next();
    });
    // Socket Mode's own calls (apps.connections.open on every connect and reconnect) use the app token.
    if (receiver instanceof SocketModeReceiver) observeWebApi(receiver.webClient, observe);
  }
  return {
    app,
    mode: opts.appToken ? "socket" : "http",
    connected: () => (receiver instanceof SocketModeReceiver ? receiver.connected : true),
    get port() {
      return receiver instanceof StrictHttpReceiver ? receiver.port : 0;
    },
    async start() {
      await app.start();
    },
    async drain() {
      await receiver.drain();
    },
    async stop() {
      await app.stop();
    },
  };
}

/**
 * A response_url is posted to with whatever the listener answers: only Slack's own hosts over HTTPS, or the
 * origin of the Web API the bot was pointed at (a local Slack: it is trusted with the bot token already).
 */
export function responseUrlCheck(hosts: readonly string[], apiUrl: string | undefined): (url: string) => boolean {
  const trusted = new Set(hosts.map((h) => h.toLowerCase()));
  let apiOrigin: string | undefined;
  try {
    apiOrigin = apiUrl ? new URL(apiUrl).origin : undefined;
  } catch {
    apiOrigin = undefined;
  }
  return (url) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return false;
    }
    if (u.username || u.password) return false;
    if (apiOrigin !== undefined && u.origin === apiOrigin) return true;
    return u.protocol === "https:" && u.port === "" && trusted.has(u.hostname.toLowerCase());
  };
}

/** Clients already counting, so a client reached again (each request hands listeners the same one) counts once. */
const observed = new WeakSet<object>();

/**
 * Count every Web API call by method and whether it got an HTTP answer, and every 429 Slack answers (the
 * client retries those itself, so only this event shows them). The named methods (`client.chat.update`)
 * are bound to `apiCall` when the client is built, so the hook is the one request function they all reach.
 */
function observeWebApi(client: App["client"], observe: Pick<OpsObserver, "slackCall" | "slackRateLimited">): void {
  if (observed.has(client)) return;
  observed.add(client);
  const c = client as unknown as { makeRequest: (url: string, ...rest: unknown[]) => Promise<unknown> };
  const makeRequest = c.makeRequest.bind(client);
  c.makeRequest = async (url, ...rest) => {
    try {
      const res = await makeRequest(url, ...rest);
      observe.slackCall(methodOf(url), "ok");
      return res;
    } catch (e) {
      observe.slackCall(methodOf(url), "error");
      throw e;
    }
  };
  // WebClientEvent.RATE_LIMITED (the enum lives in @slack/web-api, which only Bolt depends on directly).
  const emitter = client as unknown as { on(event: string, fn: (retrySec: number, info: { url?: string }) => void): unknown };
  emitter.on("rate_limited", (_retrySec, info) => {
    observe.slackRateLimited(methodOf(info?.url));
  });
}

/** `https://slack.com/api/chat.update` -> `chat.update`. */
function methodOf(url: string | undefined): string {
  return url?.split("/").filter(Boolean).pop() ?? "unknown";
}

import { SocketModeClient } from "@slack/socket-mode";
import type { WebClient } from "@slack/web-api";
import type { App, Receiver, ReceiverEvent } from "@slack/bolt";
import type { Logger } from "pino";
import { boltLogger } from "./bolt-logger.ts";
import type { DeliveredRequest } from "../app/replay.ts";
import { describeRequest, requestIds } from "./receiver.ts";

/**
 * Bolt receiver for Socket Mode (SLACK_APP_TOKEN): the bot opens a WebSocket to Slack
 * (`apps.connections.open` with the app-level token), so no public URL is needed. Requests arrive as
 * envelopes and are acknowledged on the socket with whatever the listener passes to ack(). The client
 * reconnects by itself, with a fresh URL, when Slack sends `disconnect` (refresh_requested, link_disabled)
 * or the socket drops. Bolt's own SocketModeReceiver cannot be pointed at another Web API URL (the local
 * Slack peer), hence this one, on the same library.
 */
export type SocketReceiverOptions = {
  appToken: string;
  apiUrl?: string;
  log: Logger;
  onAck?: (kind: "command" | "interactive" | "event", seconds: number) => void;
  /** Whether an envelope is taken (false: received before; acknowledged with nothing done). */
  admit?: (req: DeliveredRequest) => Promise<boolean>;
  /** Told when an envelope arrives and, once, when it is acknowledged or dropped (see StrictReceiverOptions.waiting). */
  waiting?: { arrived(): void; answered(): void };
};

type Envelope = {
  envelope_id?: string;
  ack: (response?: Record<string, unknown>) => Promise<void>;
  body: Record<string, unknown>;
  retry_num?: number;
  retry_reason?: string;
};

const KIND = {
  slash_commands: "command",
  interactive: "interactive",
  events_api: "event",
} as const;

export class SocketModeReceiver implements Receiver {
  readonly client: SocketModeClient;
  private app?: App;
  private readonly inFlight = new Set<Promise<void>>();
  private accepting = true;
  /** Whether a socket is open and Slack has said hello (readiness). */
  connected = false;

  constructor(private readonly opts: SocketReceiverOptions) {
    this.client = new SocketModeClient({
      appToken: opts.appToken,
      logger: boltLogger(opts.log.child({ component: "socket-mode" })),
      clientOptions: opts.apiUrl ? { slackApiUrl: opts.apiUrl } : {},
    });
    for (const type of Object.keys(KIND) as (keyof typeof KIND)[]) {
      this.client.on(type, (e: Envelope) => {
        const waiting = opts.waiting;
        let answered = () => {};
        if (waiting) {
          waiting.arrived();
          let open = true;
          answered = () => {
            if (open) waiting.answered();
            open = false;
          };
        }
        const ack = e.ack;
        const work = this.handle(KIND[type], { ...e, ack: (response) => ack(response).finally(answered) });
        this.inFlight.add(work);
        void work.finally(() => {
          this.inFlight.delete(work);
          answered();
        });
      });
    }
    this.client.on("connected", () => {
      this.connected = true;
      opts.log.info("Socket Mode connected");
    });
    this.client.on("reconnecting", () => {
      this.connected = false;
      opts.log.info("Socket Mode reconnecting");
    });
    this.client.on("disconnected", () => (this.connected = false));
  }

  /**
   * The Web API client the socket client opens connections with (apps.connections.open, app token), to count
   * its calls like every other. The library keeps it in a private field; test/integration/operations.test.ts
   * fails if that changes.
   */
  get webClient(): WebClient {
    return (this.client as unknown as { webClient: WebClient }).webClient;
  }

  init(app: App): void {
    this.app = app;
  }

  /**
   * Connect in the background: the process starts (health port open, not ready) while Slack cannot be
   * reached, and the client keeps trying. A token Slack refuses is logged; readiness stays 503.
   */
  async start(): Promise<void> {
    void this.client.start().catch((err: unknown) => this.opts.log.error({ err }, "Socket Mode could not connect to Slack"));
  }

  /** Take no new envelopes (close the socket: Slack sends them to another connection) and finish those in hand. */
  async drain(): Promise<void> {
    this.accepting = false;
    await this.client.disconnect().catch(() => undefined);
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  async stop(): Promise<void> {
    this.accepting = false;
    await this.client.disconnect().catch(() => undefined);
  }

  private async handle(kind: "command" | "interactive" | "event", e: Envelope): Promise<void> {
    if (!this.accepting || !this.app) return; // unacknowledged: Slack retries it elsewhere
    const arrived = performance.now();
    if (this.opts.admit) {
      // Slack redelivers an envelope it got no ack for; the same request may also come again in another one.
      const ids = [...(e.envelope_id ? [`envelope:${e.envelope_id}`] : []), ...requestIds(e.body, { trigger: true })];
      if (ids.length > 0 && !(await this.opts.admit({ ids, ...describeRequest(e.body, kind) }))) return void (await e.ack());
    }
    let acked = false;
    const event: ReceiverEvent = {
      body: e.body,
      ...(e.retry_num !== undefined ? { retryNum: e.retry_num } : {}),
      ...(e.retry_reason ? { retryReason: e.retry_reason } : {}),
      ack: async (response?: unknown) => {
        if (acked) return;
        acked = true;
        this.opts.onAck?.(kind, (performance.now() - arrived) / 1000);
        await e.ack(typeof response === "object" && response !== null ? (response as Record<string, unknown>) : undefined);
      },
    };
    try {
      await this.app.processEvent(event);
    } catch (err) {
      this.opts.log.error({ err }, "listener failed");
    }
    if (!acked) await event.ack(); // nothing matched: Slack still wants an answer
  }
}

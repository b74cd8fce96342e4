import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { App, Receiver, ReceiverEvent } from "@slack/bolt";
import type { Logger } from "pino";
import { z } from "zod";
import { verifySlackSignature } from "./verify.ts";

/**
 * Bolt receiver for Slack's HTTP delivery: verifies every request (both clock directions), parses slash
 * commands, interactions and Events API JSON, and answers with whatever the listener passes to ack().
 * It serves only /slack/events: health and readiness have their own server (src/http/health.ts).
 */

export type StrictReceiverOptions = {
  signingSecret: string;
  port: number;
  host?: string;
  path?: string;
  log: Logger;
  now?: () => number;
  /** Told how long each request took to be acknowledged (for the metrics), by kind. */
  onAck?: (kind: "command" | "interactive" | "event", seconds: number) => void;
};

const MAX_BODY = 1024 * 1024;

export class StrictHttpReceiver implements Receiver {
  private app?: App;
  private server?: Server;
  /** Requests being handled, listener work after the ack included: a drain waits for them. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly opts: StrictReceiverOptions) {}

  init(app: App): void {
    this.app = app;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? this.opts.port;
  }

  async start(): Promise<Server> {
    const server = createServer((req, res) => {
      const work = this.handle(req, res).catch((err) => {
        this.opts.log.error({ err }, "request handling failed");
        respond(res, 500, "internal error");
      });
      this.inFlight.add(work);
      void work.finally(() => this.inFlight.delete(work));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port, this.opts.host ?? "0.0.0.0", () => resolve());
    });
    return server;
  }

  /**
   * Take no new requests (the port closes; idle keep-alive connections are closed) and wait for those being
   * handled, their listeners' work after the ack included. `stop()` then closes whatever is left.
   */
  async drain(): Promise<void> {
    const server = this.server;
    if (server) {
      server.close();
      server.closeIdleConnections();
    }
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrived = performance.now();
    const path = (req.url ?? "/").split("?")[0];
    if (path !== (this.opts.path ?? "/slack/events")) return respond(res, 404, "not found");
    if (req.method !== "POST") return respond(res, 405, "method not allowed");

    const raw = await readBody(req);
    if (raw === undefined) return respond(res, 413, "body too large");
    const verdict = verifySlackSignature({
      signingSecret: this.opts.signingSecret,
      timestamp: header(req, "x-slack-request-timestamp"),
      signature: header(req, "x-slack-signature"),
      rawBody: raw,
      nowMs: (this.opts.now ?? Date.now)(),
    });
    if (!verdict.ok) {
      this.opts.log.warn({ reason: verdict.reason }, "rejected an unsigned or badly signed request");
      return respond(res, 401, "invalid signature");
    }

    const parsed = parseBody(header(req, "content-type") ?? "", raw);
    if (!parsed) return respond(res, 400, "unparseable body");
    const { body, form } = parsed;
    if (body.ssl_check) return respond(res, 200, "");
    if (body.type === "url_verification" && typeof body.challenge === "string") {
      return respondJson(res, { challenge: body.challenge });
    }
    if (!handled(body, form)) {
      this.opts.log.warn(
        { type: typeof body.type === "string" ? body.type.slice(0, 40) : typeof body.type },
        "ignored a signed request this app does not handle",
      );
      return respond(res, 400, "unrecognised request");
    }

    let acked = false;
    const kind = form === "plain" ? "command" : form === "payload" ? "interactive" : "event";
    const event: ReceiverEvent = {
      body,
      retryNum: numberHeader(req, "x-slack-retry-num"),
      retryReason: header(req, "x-slack-retry-reason"),
      ack: async (response?: unknown) => {
        if (acked) return;
        acked = true;
        this.opts.onAck?.(kind, (performance.now() - arrived) / 1000);
        if (response === undefined || response === "") respond(res, 200, "");
        else if (typeof response === "string") respond(res, 200, response);
        else respondJson(res, response);
      },
    };
    if (!this.app) throw new Error("receiver started before Bolt called init()");
    try {
      await this.app.processEvent(event);
    } catch (err) {
      this.opts.log.error({ err }, "listener failed");
      if (!acked) return respond(res, 500, "");
    }
    if (!acked) respond(res, 200, ""); // nothing matched: Slack still wants an answer
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function numberHeader(req: IncomingMessage, name: string): number | undefined {
  const v = header(req, name);
  return v === undefined || !/^\d+$/.test(v) ? undefined : Number(v);
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

type Body = Record<string, any>;

/**
 * What may be handed to Bolt: each kind of request this app receives, only the way Slack sends it: a slash
 * command as a plain form; interactions as a form with a `payload` (block_actions, view_submission,
 * view_closed, block_suggestion, shortcut); Events API callbacks as JSON. Each with the fields Bolt and our listeners
 * read: Bolt trusts the shape of a signed body (a `block_actions` without `user`, a `view_submission`
 * without `view` or an Events API body whose `event` is not an object make it throw before any listener
 * acks: a 500). And Bolt routes by which keys are present (`event`, then `command`, then `name`, then
 * `actions`), not by `type`: a click carrying `event` would crash it, one carrying `command` would run as a
 * slash command. Anything else is answered 400 here.
 */
const SlashCommand = z.looseObject({ command: z.string(), user_id: z.string(), channel_id: z.string() });
const User = z.looseObject({ id: z.string() });
const Team = z.looseObject({ id: z.string() }).nullable().optional();
const BlockActions = z.looseObject({
  type: z.literal("block_actions"),
  user: User,
  team: Team,
  channel: z.looseObject({ id: z.string() }).optional(),
  actions: z.array(z.looseObject({ type: z.string(), action_id: z.string() })).min(1),
  response_url: z.string().optional(),
});
const View = z.looseObject({ id: z.string(), callback_id: z.string(), state: z.looseObject({ values: z.record(z.string(), z.unknown()) }).optional() });
const ViewSubmission = z.looseObject({ type: z.enum(["view_submission", "view_closed"]), user: User, team: Team, view: View });
const BlockSuggestion = z.looseObject({
  type: z.literal("block_suggestion"),
  user: User,
  team: Team,
  action_id: z.string(),
  block_id: z.string(),
  value: z.string(),
});
/** A global shortcut: who, which shortcut, and the trigger to open a modal with (no channel). */
const Shortcut = z.looseObject({ type: z.literal("shortcut"), user: User, team: Team, callback_id: z.string(), trigger_id: z.string() });
const Interaction = z.union([BlockActions, ViewSubmission, BlockSuggestion, Shortcut]);
const EventCallback = z.looseObject({
  type: z.literal("event_callback"),
  team_id: z.string(),
  api_app_id: z.string(),
  event: z.looseObject({ type: z.string() }),
});

function handled(body: Body, form: "plain" | "payload" | "json"): boolean {
  if (form === "json") return EventCallback.safeParse(body).success;
  if (body.event !== undefined) return false;
  if (form === "plain") return SlashCommand.safeParse(body).success;
  return body.command === undefined && body.name === undefined && Interaction.safeParse(body).success;
}

/** The body, and how it came: a plain form (slash commands), a form's `payload` JSON (interactions), or JSON. */
function parseBody(contentType: string, raw: string): { body: Body; form: "plain" | "payload" | "json" } | undefined {
  try {
    if (contentType.startsWith("application/json")) return asBody(JSON.parse(raw), "json");
    if (contentType.startsWith("application/x-www-form-urlencoded")) {
      const form = Object.fromEntries(new URLSearchParams(raw));
      return typeof form.payload === "string" ? asBody(JSON.parse(form.payload), "payload") : { body: form, form: "plain" };
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function asBody(value: unknown, form: "payload" | "json"): { body: Body; form: "payload" | "json" } | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? { body: value as Body, form } : undefined;
}

function respond(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(text);
}

function respondJson(res: ServerResponse, value: unknown): void {
  if (res.headersSent) return;
  res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(value));
}

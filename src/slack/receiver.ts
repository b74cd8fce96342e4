import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { App, Receiver, ReceiverEvent } from "@slack/bolt";
import type { Logger } from "pino";
import { z } from "zod";
import type { DeliveredRequest } from "../app/replay.ts";
import { checkSignatureHeaders, verifySlackSignature } from "./verify.ts";

/**
 * Bolt receiver for Slack's HTTP delivery: verifies every request (both clock directions), parses slash
 * commands, interactions and Events API JSON, and answers with whatever the listener passes to ack().
 * It serves only /slack/events: health and readiness have their own server (src/http/health.ts).
 *
 * Before authentication a request costs little: its headers are checked (signature form, timestamp within
 * five minutes) before its body is read; a body must say its length, at most `MAX_BODY`, and all bodies
 * being read at once share `MAX_BODIES_IN_FLIGHT` bytes (more waits for nothing: 503); a request has
 * 10 s in all and 5 s for its headers. After authentication, a request already received is answered 200 with
 * nothing done (`admit`), and a `response_url` must point at Slack (`responseUrlAllowed`).
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
  /**
   * Told when a request arrives and, once, when its answer is sent or its connection closes: while requests
   * wait, the worker takes fewer jobs (src/queue/requests-first.ts), so acks do not queue behind them.
   */
  waiting?: { arrived(): void; answered(): void };
  /** Whether a signed request is taken (false: received before, a replay; answered 200, nothing done). */
  admit?: (req: DeliveredRequest) => Promise<boolean>;
  /** Whether a `response_url` a signed request carries may be posted to (Slack's hosts). */
  responseUrlAllowed?: (url: string) => boolean;
  /** Limits, for tests; the defaults below otherwise. */
  limits?: Partial<ReceiverLimits>;
};

export type ReceiverLimits = {
  /** Largest body taken (Slack's payloads are far smaller). */
  maxBody: number;
  /** Bytes of bodies being read at once, over every connection, before any is authenticated. */
  maxBodiesInFlight: number;
  /** A request's whole time to arrive (Node's default is 300 s). */
  requestTimeoutMs: number;
  /** Time for its headers. */
  headersTimeoutMs: number;
};

export const RECEIVER_LIMITS: ReceiverLimits = {
  maxBody: 512 * 1024,
  maxBodiesInFlight: 4 * 1024 * 1024,
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 5_000,
};

export class StrictHttpReceiver implements Receiver {
  private app?: App;
  private server?: Server;
  /** Requests being handled, listener work after the ack included: a drain waits for them. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly limits: ReceiverLimits;
  /** Bytes of bodies reserved by requests being read now (before their signature is checked). */
  private bodyBytes = 0;

  constructor(private readonly opts: StrictReceiverOptions) {
    this.limits = { ...RECEIVER_LIMITS, ...opts.limits };
  }

  /** Bytes of bodies being read now (the cap's account; tests read it). */
  get bodyBytesInFlight(): number {
    return this.bodyBytes;
  }

  init(app: App): void {
    this.app = app;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? this.opts.port;
  }

  async start(): Promise<Server> {
    // Node checks request deadlines every `connectionsCheckingInterval` (30 s by default): once a second here.
    const server = createServer(
      { requestTimeout: this.limits.requestTimeoutMs, headersTimeout: this.limits.headersTimeoutMs, connectionsCheckingInterval: 1_000 },
      (req, res) => {
        const waiting = this.opts.waiting;
        if (waiting) {
          waiting.arrived();
          let open = true;
          const answered = () => {
            if (open) waiting.answered();
            open = false;
          };
          res.once("finish", answered);
          res.once("close", answered);
        }
        const work = this.handle(req, res).catch((err) => {
          this.opts.log.error({ err }, "request handling failed");
          respond(res, 500, "internal error");
        });
        this.inFlight.add(work);
        void work.finally(() => this.inFlight.delete(work));
      },
    );
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

    // Headers first: a request that cannot be Slack's is refused before a byte of its body is read.
    const nowMs = (this.opts.now ?? Date.now)();
    const timestamp = header(req, "x-slack-request-timestamp");
    const signature = header(req, "x-slack-signature");
    const early = checkSignatureHeaders({ timestamp, signature, nowMs });
    if (!early.ok) {
      this.opts.log.warn({ reason: early.reason }, "rejected an unsigned or badly signed request");
      return refuse(res, 401, "invalid signature");
    }
    const length = numberHeader(req, "content-length");
    if (length === undefined) return refuse(res, 411, "content-length required");
    if (length > this.limits.maxBody) return refuse(res, 413, "body too large");
    if (this.bodyBytes + length > this.limits.maxBodiesInFlight) {
      this.opts.log.warn({ bodyBytesInFlight: this.bodyBytes }, "refused a request: too many bodies being read at once");
      return refuse(res, 503, "busy", { "retry-after": "1" });
    }
    this.bodyBytes += length;
    let raw: string | undefined;
    try {
      raw = await readBody(req, length);
    } finally {
      this.bodyBytes -= length;
    }
    if (raw === undefined) return refuse(res, 400, "body does not match its content-length");
    const verdict = verifySlackSignature({ signingSecret: this.opts.signingSecret, timestamp, signature, rawBody: raw, nowMs });
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

    const foreign = responseUrls(body).find((u) => !(this.opts.responseUrlAllowed?.(u) ?? true));
    if (foreign !== undefined) {
      this.opts.log.warn({ host: hostOf(foreign) }, "refused a signed request whose response_url is not Slack's");
      return respond(res, 400, "response_url is not Slack's");
    }
    if (this.opts.admit) {
      const ids = [`signature:${createHash("sha256").update(signature!).digest("hex")}`, ...requestIds(body, { trigger: false })];
      if (!(await this.opts.admit({ ids, ...described(body, form) }))) return respond(res, 200, "");
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

/** Exactly `length` bytes of body, or undefined when the client sends more or ends early. */
async function readBody(req: IncomingMessage, length: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > length) return undefined;
    chunks.push(chunk as Buffer);
  }
  return size === length ? Buffer.concat(chunks).toString("utf8") : undefined;
}

export type Body = Record<string, any>;

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

/**
 * Answer without reading the body, and close the connection: reading on would cost what the refusal saves,
 * and a half-read request leaves nothing to keep alive.
 */
function refuse(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (!res.headersSent) {
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8", connection: "close", ...headers });
    // Node discards what is left of the body and, with `connection: close`, closes the socket once answered.
    res.end(text);
  }
}

/** Every response_url a payload carries: commands and clicks have one, a view submission a list. */
function responseUrls(body: Body): string[] {
  // An empty one is none (Bolt then gives the listener no `respond`); one that is not a string fails the shape check.
  const out: string[] = [];
  if (typeof body.response_url === "string" && body.response_url !== "") out.push(body.response_url);
  if (Array.isArray(body.response_urls))
    for (const r of body.response_urls as unknown[]) {
      const u = (r as { response_url?: unknown } | null)?.response_url;
      if (typeof u === "string" && u !== "") out.push(u);
    }
  return out;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host.slice(0, 100);
  } catch {
    return "(not a URL)";
  }
}

/**
 * What identifies one request besides how it came (its signature over HTTP, its envelope over Socket Mode):
 * an Events API event's id (Slack retries an event with a fresh signature) and, where no signature covers
 * the body (Socket Mode), the trigger of a command or interaction.
 */
export function requestIds(body: Body, opts: { trigger: boolean }): string[] {
  const ids: string[] = [];
  if (opts.trigger && typeof body.trigger_id === "string" && body.trigger_id) ids.push(`trigger:${body.trigger_id}`);
  if (typeof body.event_id === "string" && body.event_id) ids.push(`event:${body.event_id}`);
  return ids;
}

/** Who, where and what, for the audit entry of a replay. */
function described(body: Body, form: "plain" | "payload" | "json"): Omit<DeliveredRequest, "ids"> {
  return describeRequest(body, form === "plain" ? "command" : form === "payload" ? "interactive" : "event");
}

/** Shared with Socket Mode, whose envelopes carry the same payloads. */
export function describeRequest(body: Body, kind: "command" | "interactive" | "event"): Omit<DeliveredRequest, "ids"> {
  const str = (v: unknown) => (typeof v === "string" && v ? v.slice(0, 60) : undefined);
  const actor = str(body.user_id) ?? str(body.user?.id) ?? str(body.event?.user);
  const channel = str(body.channel_id) ?? str(body.channel?.id) ?? str(body.event?.channel);
  const detail =
    kind === "command"
      ? `${String(body.command ?? "")} ${String(body.text ?? "")}`
      : kind === "interactive"
        ? `${String(body.type ?? "")} ${String(body.actions?.[0]?.action_id ?? body.view?.callback_id ?? body.callback_id ?? "")}`
        : `event_callback ${String(body.event?.type ?? "")}`;
  const via = kind === "command" ? "command" : kind === "event" ? "event" : body.type === "block_actions" ? "button" : "modal";
  return { via, ...(actor ? { actor } : {}), ...(channel ? { channel } : {}), detail: detail.trim().slice(0, 300) };
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

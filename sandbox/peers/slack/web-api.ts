import { SocketModeServer } from "./socket-mode.ts";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { BLOCK_KIT_LIMITS, formatViolation, messageChars, validateBlocks } from "./block-kit-limits.ts";
import {
  Workspace,
  type Block,
  type EphemeralMessage,
  type MessageContent,
  type SlackChannel,
  type SlackUser,
  type SlackUsergroup,
  type StoredMessage,
} from "./workspace.ts";
import { readBody } from "../read-body.ts";
import { SurfaceError, Surfaces } from "./surfaces.ts";
import { TierLimits, type TierOptions } from "./rate-tiers.ts";

/**
 * A local Slack: the Web API methods the bot uses, response_url endpoints, and an inspectable store.
 * Point @slack/web-api at it with `slackApiUrl: `${peer.url}/api/``.
 *
 * Behaviour kept from real Slack because the bot depends on it:
 * - Errors are HTTP 200 `{ok:false,error}`; only rate limits use a status (429 + Retry-After).
 * - Form bodies carry blocks/attachments as JSON strings (that is how @slack/web-api sends every call).
 * - Slack fills in block_id/action_id the app left out, so a click carries ids the bot never chose.
 * Deliberate strictness (real Slack is laxer or undocumented here):
 * - unknown channels -> channel_not_found; a thread_ts that is not a message -> thread_not_found;
 * - a whole message over ~12k characters is refused (see BLOCK_KIT_LIMITS.messageChars).
 */

export interface ApiCall {
  method: string;
  /** Parsed arguments (blocks/attachments decoded from JSON), without the token. */
  args: Record<string, unknown>;
  at: number;
  /** HTTP status we answered (200, or 429 when rate limited). */
  status: number;
  ok: boolean;
  error?: string;
  /** delayNext held this call back this long before handling it (`at` is when it was handled). */
  delayedMs?: number;
  /** The client had closed the connection before the late answer (it timed out); the call still took effect. */
  clientGone?: boolean;
  /** The Retry-After (seconds) a 429 carried. */
  retryAfterSeconds?: number;
}

export interface ResponseUrlContext {
  channelId?: string;
  userId?: string;
  /** The message the interaction came from: replace_original / delete_original act on it. */
  messageTs?: string;
  /** That message was ephemeral (only `userId` saw it). */
  ephemeral?: boolean;
}

export type ResponseEffect = "ephemeral" | "in_channel" | "replaced" | "deleted" | "rejected";

export interface ResponseUrlPost {
  id: string;
  /** Posted to the response_url, or the slash command's own answer shown as one (see commandAnswered). */
  via: "response_url" | "ack";
  at: number;
  status: number;
  /** Error code when rejected (used_url, expired_url, invalid_blocks, ...). */
  error?: string;
  effect: ResponseEffect;
  /** The JSON the bot posted, as received. */
  body: unknown;
  response_type: "ephemeral" | "in_channel";
  replace_original: boolean;
  delete_original: boolean;
  text?: string;
  blocks?: Block[];
  thread_ts?: string;
  /** ts of the message created or changed. */
  ts?: string;
}

export interface RenderedButton {
  action_id: string;
  block_id: string;
  value?: string;
  text: string;
  style?: string;
  url?: string;
  confirm?: Record<string, unknown>;
}

export type ButtonMatcher = string | RegExp | ((b: RenderedButton) => boolean);

export interface SlackPeerOptions {
  botToken: string;
  /** An app-level token (xapp-...): enables Socket Mode (`apps.connections.open`, `peer.socket`). */
  appToken?: string;
  port?: number;
  teamId?: string;
  teamDomain?: string;
  teamName?: string;
  botUserId?: string;
  botUserName?: string;
  botId?: string;
  appId?: string;
  channels?: Array<{ id: string; name?: string; is_private?: boolean; botIsMember?: boolean }>;
  users?: Array<Partial<SlackUser> & { id: string }>;
  usergroups?: Array<{ id: string; handle: string; name?: string; users: string[] }>;
}

/** Real Slack allows five posts per response_url (in 30 minutes). */
export const RESPONSE_URL_MAX_POSTS = 5;

class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(code);
  }
}

type Args = Record<string, unknown>;
type Result = Record<string, unknown>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

/** Form fields arrive as strings ("true"/"1"); JSON bodies as booleans. */
function bool(v: unknown): boolean {
  return v === true || v === "true" || v === "1" || v === 1;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
  res.end(JSON.stringify(body));
}

/** Decode a field that Slack takes as "a JSON-based array ... presented as a URL-encoded string". */
function jsonArrayField(v: unknown, formatError: string): unknown[] | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  let parsed = v;
  if (typeof v === "string") {
    try {
      parsed = JSON.parse(v);
    } catch {
      throw new ApiError(formatError);
    }
  }
  if (!Array.isArray(parsed)) throw new ApiError(formatError);
  return parsed;
}

/** Parse and check message content the way chat.postMessage/update/postEphemeral and response_url do. */
function parseContent(args: Args): { text?: string; blocks?: Block[]; attachments?: unknown[] } {
  const text = str(args.text);
  const blocks = jsonArrayField(args.blocks, "invalid_blocks_format") as Block[] | undefined;
  const attachments = jsonArrayField(args.attachments, "invalid_attachments");
  if (blocks !== undefined) {
    const violations = validateBlocks(blocks);
    if (violations.length) {
      throw new ApiError("invalid_blocks", { response_metadata: { messages: violations.map(formatViolation) } });
    }
  }
  if ((text?.length ?? 0) > BLOCK_KIT_LIMITS.messageText) throw new ApiError("msg_too_long");
  if (messageChars(text, blocks) + messageChars(undefined, attachments) > BLOCK_KIT_LIMITS.messageChars) {
    throw new ApiError(blocks?.length ? "msg_blocks_too_long" : "msg_too_long");
  }
  return {
    ...(text !== undefined ? { text } : {}),
    ...(blocks !== undefined ? { blocks } : {}),
    ...(attachments !== undefined ? { attachments } : {}),
  };
}

function requireContent(c: { text?: string; blocks?: Block[]; attachments?: unknown[] }): MessageContent {
  if (!c.text && !c.blocks?.length && !c.attachments?.length) throw new ApiError("no_text");
  return { text: c.text ?? "", ...(c.blocks ? { blocks: c.blocks } : {}), ...(c.attachments ? { attachments: c.attachments } : {}) };
}

/** What showing a response_url post came to: 200, or the error Slack answers with. */
type Shown = { status: number; error?: string; extra?: Result };

interface ResponseUrlState {
  id: string;
  ctx: ResponseUrlContext;
  posts: ResponseUrlPost[];
  expired: boolean;
}

export class SlackPeer {
  readonly botToken: string;
  readonly teamId: string;
  readonly teamDomain: string;
  readonly teamName: string;
  readonly botUserId: string;
  readonly botUserName: string;
  readonly botId: string;
  readonly appId: string;
  /** Every Web API call, in arrival order (including rate-limited and failed ones). */
  readonly calls: ApiCall[] = [];
  private readonly ws: Workspace;
  private readonly rateLimits = new Map<string, { retryAfterSeconds: number; remaining: number }>();
  /** Slack's tiers, enforced only when asked (enforceTiers): most tests are about something else. */
  private tiers: { limits: TierLimits; opts: TierOptions } | undefined;
  private readonly failures = new Map<string, { error: string; remaining: number }>();
  private readonly delays = new Map<string, { delayMs: number; remaining: number }>();
  private readonly delayed = new WeakMap<ServerResponse, number>();
  private readonly responseUrls = new Map<string, ResponseUrlState>();
  private responseCounter = 0;
  private server: Server | undefined;
  private baseUrl = "";
  private readonly appToken: string | undefined;
  /** Socket Mode's side, when the peer was given an app-level token. */
  socket: SocketModeServer | undefined;
  /** Modals, Home tabs and file uploads (views.*, files.*). */
  readonly surfaces: Surfaces;

  constructor(opts: SlackPeerOptions) {
    this.botToken = opts.botToken;
    this.appToken = opts.appToken;
    this.teamId = opts.teamId ?? "T0LOCAL01";
    this.teamDomain = opts.teamDomain ?? "rollout-local";
    this.teamName = opts.teamName ?? "Rollout Local";
    this.botUserId = opts.botUserId ?? "U0BOT0001";
    this.botUserName = opts.botUserName ?? "rollout-bot";
    this.botId = opts.botId ?? "B0BOT0001";
    this.appId = opts.appId ?? "A0APP0001";
    this.ws = new Workspace(this.teamId);
    this.surfaces = new Surfaces({ teamId: this.teamId, appId: this.appId, botId: this.botId });
    this.ws.addUser({ id: this.botUserId, name: this.botUserName, real_name: "Rollout Bot", is_bot: true });
    for (const c of opts.channels ?? []) this.ws.addChannel(c);
    for (const u of opts.users ?? []) this.ws.addUser(u);
    for (const g of opts.usergroups ?? []) this.setUsergroup(g);
  }

  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  get url(): string {
    return this.baseUrl;
  }

  /** What to give WebClient / Bolt as `slackApiUrl`. */
  get apiUrl(): string {
    return `${this.baseUrl}/api/`;
  }

  async listen(port = 0): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, { ok: false, error: "internal_error", detail: String(err) });
        else res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (this.appToken) {
      // A slash command's ack payload is its answer, shown whoever delivered the envelope (see commandAnswered).
      this.socket = await SocketModeServer.start(this.appId, (type, payload, ack) => {
        if (type === "slash_commands" && isRecord(payload) && typeof payload.response_url === "string") {
          this.commandAnswered(payload.response_url, { payload: ack.payload });
        }
      });
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await this.socket?.close();
    // Clients (undici) keep connections alive; without this close() waits for them to idle out.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Forget messages, ephemerals, views, calls, response URLs, pending rate limits and failures. */
  reset(): void {
    this.ws.clearMessages();
    this.calls.length = 0;
    this.rateLimits.clear();
    if (this.tiers) this.tiers = { limits: new TierLimits(this.tiers.opts), opts: this.tiers.opts };
    this.failures.clear();
    this.delays.clear();
    this.responseUrls.clear();
    this.surfaces.clear();
  }

  /** Run `listener` after every change to messages, ephemerals or views; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    const off = [this.ws.onChange(listener), this.surfaces.onChange(listener)];
    return () => off.forEach((o) => o());
  }

  /** Every user of the workspace (the bot included). */
  users(): SlackUser[] {
    return structuredClone([...this.ws.users.values()]);
  }

  // ---- seeding -------------------------------------------------------------------------------

  addChannel(c: { id: string; name?: string; is_private?: boolean; botIsMember?: boolean; members?: string[] }): SlackChannel {
    return structuredClone(this.ws.addChannel(c));
  }

  /** `userId` joins the channel (conversations.members lists them from now on). */
  join(channelId: string, userId: string): void {
    this.ws.join(channelId, userId);
  }

  addUser(u: Partial<SlackUser> & { id: string }): SlackUser {
    return structuredClone(this.ws.addUser(u));
  }

  /** Make sure a channel exists (someone just typed in it, so Slack knows it). */
  ensureChannel(id: string): SlackChannel {
    return structuredClone(this.ws.resolveChannel(id) ?? this.ws.addChannel({ id }));
  }

  ensureUser(id: string): SlackUser {
    return structuredClone(this.ws.users.get(id) ?? this.ws.addUser({ id }));
  }

  channel(idOrName: string): SlackChannel | undefined {
    const c = this.ws.resolveChannel(idOrName);
    return c && structuredClone(c);
  }

  user(id: string): SlackUser | undefined {
    const u = this.ws.users.get(id);
    return u && structuredClone(u);
  }

  setUsergroup(g: { id: string; handle: string; name?: string; users: string[] }): void {
    this.ws.usergroups.set(g.id, { id: g.id, handle: g.handle, name: g.name ?? g.handle, users: [...g.users] });
  }

  // ---- fault injection -----------------------------------------------------------------------

  /** The next `times` calls of `method` answer 429 with `Retry-After` and leave the store untouched. */
  rateLimit(method: string, opts: { retryAfterSeconds: number; times: number }): void {
    this.rateLimits.set(method, { retryAfterSeconds: opts.retryAfterSeconds, remaining: opts.times });
  }

  /**
   * From now on answer as real Slack does over its rate limits: 429 + Retry-After for a method over its
   * tier (per workspace), or chat.postMessage over one per second in a channel (see rate-tiers.ts).
   */
  enforceTiers(opts: TierOptions = {}): void {
    this.tiers = { limits: new TierLimits(opts), opts };
  }

  /** The 429 answers so far (injected by rateLimit or from the tiers), in arrival order. */
  rateLimited(): ApiCall[] {
    return this.calls.filter((c) => c.status === 429);
  }

  /** The next `times` calls of `method` answer HTTP 200 `{ok:false,error}` and change nothing. */
  failNext(method: string, error: string, times = 1): void {
    this.failures.set(method, { error, remaining: times });
  }

  /**
   * The next `times` calls of `method` are held `delayMs` before being handled (a slow or hung Slack, e.g.
   * longer than the client's timeout). They are handled after the wait even when the client has given up
   * meanwhile, so a late chat.postMessage still posts; the call's record says so (`delayedMs`, `clientGone`).
   * Rate limits and failures set for the method apply after the wait.
   */
  delayNext(method: string, opts: { delayMs: number; times?: number }): void {
    this.delays.set(method, { delayMs: opts.delayMs, remaining: opts.times ?? 1 });
  }

  // ---- response_url --------------------------------------------------------------------------

  /** A fresh response_url (`${url}/response/<id>`), bound to where the interaction happened. */
  newResponseUrl(ctx: ResponseUrlContext = {}): string {
    const id = `${++this.responseCounter}-${randomBytes(6).toString("hex")}`;
    this.responseUrls.set(id, { id, ctx: { ...ctx }, posts: [], expired: false });
    return `${this.baseUrl}/response/${id}`;
  }

  /** Simulate the 30-minute expiry: later posts answer 404 `expired_url`. */
  expireResponseUrl(idOrUrl: string): void {
    const st = this.responseUrls.get(this.responseId(idOrUrl));
    if (st) st.expired = true;
  }

  /**
   * Every post to that response_url (accepted and rejected), oldest first, with the slash command's own
   * answer when it carried a message (`via: "ack"`, see commandAnswered).
   */
  responses(idOrUrl: string): ResponseUrlPost[] {
    return structuredClone(this.responseUrls.get(this.responseId(idOrUrl))?.posts ?? []);
  }

  private responseId(idOrUrl: string): string {
    const m = /\/response\/([^/?#]+)/.exec(idOrUrl);
    return m?.[1] ?? idOrUrl;
  }

  // ---- inspection ----------------------------------------------------------------------------

  /** Calls of one method, oldest first. */
  callsOf(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /**
   * What the channel shows: top-level messages (and broadcast replies), oldest first, deleted ones
   * left out. `{ includeReplies: true }` adds thread replies in ts order.
   */
  messages(channel: string, opts: { includeReplies?: boolean } = {}): StoredMessage[] {
    const id = this.ws.resolveChannel(channel)?.id ?? channel;
    return structuredClone(
      this.ws.allMessages(id).filter((m) => !m.deleted && (opts.includeReplies || !m.thread_ts || m.thread_ts === m.ts || m.reply_broadcast)),
    );
  }

  message(channel: string, ts: string): StoredMessage | undefined {
    const id = this.ws.resolveChannel(channel)?.id ?? channel;
    const m = this.ws.findMessage(id, ts);
    return m && structuredClone(m);
  }

  /** Replies in the thread under `ts` (the parent itself not included), oldest first. */
  thread(channel: string, ts: string): StoredMessage[] {
    const id = this.ws.resolveChannel(channel)?.id ?? channel;
    return structuredClone(this.ws.allMessages(id).filter((m) => !m.deleted && m.thread_ts === ts && m.ts !== ts));
  }

  /** Ephemeral messages shown to `userId` (chat.postEphemeral and response_url), oldest first. */
  ephemeralsFor(userId: string): EphemeralMessage[] {
    return structuredClone(this.ws.allEphemerals().filter((e) => e.user === userId && !e.deleted));
  }

  ephemeral(channel: string, ts: string): EphemeralMessage | undefined {
    const e = this.ws.findEphemeral(channel, ts);
    return e && structuredClone(e);
  }

  /** Buttons as rendered in a message (or ephemeral message), in display order. */
  buttons(channel: string, ts: string): RenderedButton[] {
    const id = this.ws.resolveChannel(channel)?.id ?? channel;
    const msg = this.ws.findMessage(id, ts) ?? this.ws.findEphemeral(id, ts);
    if (!msg) throw new Error(`no message ${ts} in ${channel}`);
    const out: RenderedButton[] = [];
    const take = (el: unknown, blockId: string) => {
      if (!isRecord(el) || el.type !== "button") return;
      const text = isRecord(el.text) ? (str(el.text.text) ?? "") : "";
      out.push({
        action_id: String(el.action_id),
        block_id: blockId,
        text,
        ...(el.value !== undefined ? { value: String(el.value) } : {}),
        ...(el.style !== undefined ? { style: String(el.style) } : {}),
        ...(el.url !== undefined ? { url: String(el.url) } : {}),
        ...(isRecord(el.confirm) ? { confirm: structuredClone(el.confirm) } : {}),
      });
    };
    for (const b of msg.blocks ?? []) {
      const blockId = String(b.block_id);
      if (b.type === "actions" && Array.isArray(b.elements)) b.elements.forEach((e) => take(e, blockId));
      if (b.type === "section") take(b.accessory, blockId);
    }
    return out;
  }

  /**
   * The one button a user would click: matched by exact text or action_id (string), text (RegExp),
   * or a predicate. Throws, listing what is there, when none or several match.
   */
  findButton(channel: string, ts: string, matcher: ButtonMatcher): RenderedButton {
    const all = this.buttons(channel, ts);
    const hits = all.filter((b) =>
      typeof matcher === "string" ? b.text === matcher || b.action_id === matcher : matcher instanceof RegExp ? matcher.test(b.text) : matcher(b),
    );
    const only = hits[0];
    if (hits.length !== 1 || !only) {
      const listing = all.map((b) => `"${b.text}" (${b.action_id})`).join(", ") || "none";
      throw new Error(`${hits.length} buttons match ${String(matcher)} in ${channel}/${ts}; buttons: ${listing}`);
    }
    return only;
  }

  /** The message as Slack puts it in an interaction payload's `message` field. */
  renderMessage(m: StoredMessage): Record<string, unknown> {
    const out: Record<string, unknown> = {
      type: "message",
      user: m.user,
      ts: m.ts,
      text: m.text,
      team: m.team,
    };
    if (m.bot_id) {
      out.bot_id = m.bot_id;
      out.app_id = m.app_id;
      out.bot_profile = { id: m.bot_id, app_id: m.app_id, name: this.botUserName, deleted: false, team_id: this.teamId };
    }
    if (m.blocks) out.blocks = structuredClone(m.blocks);
    if (m.attachments) out.attachments = structuredClone(m.attachments);
    if (m.thread_ts) out.thread_ts = m.thread_ts;
    if (m.reply_count) out.reply_count = m.reply_count;
    if (m.edited) out.edited = { ...m.edited };
    if (m.metadata !== undefined) out.metadata = structuredClone(m.metadata);
    return out;
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.baseUrl);
    const api = /^\/api\/([A-Za-z0-9_.]+)$/.exec(url.pathname);
    if (api?.[1]) return this.handleApi(api[1], url, req, res);
    const upload = /^\/upload\/([A-Z0-9]+)$/.exec(url.pathname);
    if (upload?.[1] && req.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const out = this.surfaces.receive(upload[1], Buffer.concat(chunks), String(req.headers["content-type"] ?? ""));
      res.writeHead(out.status, { "content-type": "text/plain" });
      return void res.end(out.text);
    }
    const resp = /^\/response\/([^/]+)$/.exec(url.pathname);
    if (resp?.[1] && req.method === "POST") return this.handleResponseUrl(resp[1], req, res);
    send(res, 404, { ok: false, error: "not_found" });
  }

  private async handleApi(method: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    const args: Args = Object.fromEntries(url.searchParams);
    if (contentType === "application/json" && raw) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        return this.answer(res, method, args, { ok: false, error: "invalid_json" });
      }
      if (!isRecord(parsed)) return this.answer(res, method, args, { ok: false, error: "invalid_json" });
      Object.assign(args, parsed);
    } else if (raw) {
      // Slack reads form encoding for anything not JSON; multipart (file uploads) is not needed here.
      if (contentType.startsWith("multipart/")) return this.answer(res, method, args, { ok: false, error: "invalid_form_data" });
      Object.assign(args, Object.fromEntries(new URLSearchParams(raw)));
    }

    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1]?.trim();
    const token = bearer ?? str(args.token);
    delete args.token;
    for (const k of ["blocks", "attachments", "metadata"]) {
      // Record decoded JSON so tests can assert on structure; invalid JSON is reported by the method.
      const v = args[k];
      if (typeof v === "string") {
        try {
          args[k] = JSON.parse(v);
        } catch {
          /* left as the string; the method answers invalid_blocks_format / invalid_attachments */
        }
      }
    }
    if (!token) return this.answer(res, method, args, { ok: false, error: "not_authed" });
    // Socket Mode's one method takes the app-level token, and only that one.
    if (method === "apps.connections.open") {
      if (!this.socket || token !== this.appToken)
        return this.answer(res, method, args, { ok: false, error: token.startsWith("xapp-") ? "invalid_auth" : "not_allowed_token_type" });
      return this.answer(res, method, args, { ok: true, url: this.socket.newUrl() });
    }
    if (token !== this.botToken) return this.answer(res, method, args, { ok: false, error: "invalid_auth" });

    const delay = this.delays.get(method);
    if (delay && delay.remaining > 0) {
      delay.remaining -= 1;
      this.delayed.set(res, delay.delayMs);
      await new Promise((r) => setTimeout(r, delay.delayMs));
      await new Promise((r) => setImmediate(r)); // let a client that gave up be seen to have closed
    }
    const overTier = this.tiers?.limits.admit(method, method === "chat.postMessage" ? this.channelIdOf(args) : undefined, Date.now());
    if (overTier) {
      return this.answer(res, method, args, { ok: false, error: "ratelimited" }, 429, { "retry-after": String(overTier) });
    }
    const limit = this.rateLimits.get(method);
    if (limit && limit.remaining > 0) {
      limit.remaining -= 1;
      return this.answer(res, method, args, { ok: false, error: "ratelimited" }, 429, {
        "retry-after": String(limit.retryAfterSeconds),
      });
    }
    const failure = this.failures.get(method);
    if (failure && failure.remaining > 0) {
      failure.remaining -= 1;
      return this.answer(res, method, args, { ok: false, error: failure.error });
    }

    const impl = this.methods[method];
    if (!impl) return this.answer(res, method, args, { ok: false, error: "unknown_method", req_method: method });
    try {
      return this.answer(res, method, args, { ok: true, ...impl(args) });
    } catch (err) {
      if (err instanceof ApiError || err instanceof SurfaceError) return this.answer(res, method, args, { ok: false, error: err.code, ...err.extra });
      throw err;
    }
  }

  private answer(res: ServerResponse, method: string, args: Args, body: Result, status = 200, headers: Record<string, string> = {}): void {
    const ok = body.ok === true;
    const delayedMs = this.delayed.get(res);
    const late = delayedMs === undefined ? {} : { delayedMs, ...(res.destroyed ? { clientGone: true } : {}) };
    const retryAfter = headers["retry-after"] === undefined ? {} : { retryAfterSeconds: Number(headers["retry-after"]) };
    this.calls.push({ method, args, at: Date.now(), status, ok, ...(ok ? {} : { error: String(body.error) }), ...late, ...retryAfter });
    send(res, status, body, headers);
  }

  private channelIdOf(args: Args): string | undefined {
    const ref = str(args.channel);
    return ref ? (this.ws.resolveChannel(ref)?.id ?? ref) : undefined;
  }

  private channelFor(args: Args, key = "channel"): SlackChannel {
    const ref = str(args[key]);
    const ch = ref ? this.ws.resolveChannel(ref) : undefined;
    if (!ch) throw new ApiError("channel_not_found");
    return ch;
  }

  /** A channel the bot may read: a private one it is not in does not exist, to it, as in Slack. */
  private visibleChannel(args: Args): SlackChannel {
    const ch = this.channelFor(args);
    if (ch.is_private && !ch.is_im && !ch.botIsMember) throw new ApiError("channel_not_found");
    return ch;
  }

  private readonly methods: Record<string, (args: Args) => Result> = {
    "api.test": (args) => ({ args }),

    "views.open": (args) => this.surfaces.open(args),
    "views.update": (args) => this.surfaces.update(args),
    "views.publish": (args) => this.surfaces.publish(args, (id) => this.ws.users.has(id)),
    "files.getUploadURLExternal": (args) => this.surfaces.getUploadUrl(args, this.baseUrl),
    "files.completeUploadExternal": (args) => this.surfaces.complete(args, (id) => this.ws.resolveChannel(id) !== undefined),

    "auth.test": () => ({
      url: `https://${this.teamDomain}.slack.com/`,
      team: this.teamName,
      user: this.botUserName,
      team_id: this.teamId,
      user_id: this.botUserId,
      bot_id: this.botId,
      is_enterprise_install: false,
    }),

    "chat.postMessage": (args) => {
      const ch = this.channelFor(args);
      if (!ch.botIsMember) throw new ApiError("not_in_channel");
      const content = requireContent(parseContent(args));
      let threadTs = str(args.thread_ts);
      if (threadTs) {
        const parent = this.ws.findMessage(ch.id, threadTs);
        if (!parent) throw new ApiError("thread_not_found");
        // Replying to a reply lands in the parent's thread, as in Slack.
        threadTs = parent.thread_ts ?? parent.ts;
      }
      const msg = this.ws.post(ch.id, content, {
        user: this.botUserId,
        bot_id: this.botId,
        app_id: this.appId,
        via: "chat.postMessage",
        ...(threadTs ? { thread_ts: threadTs } : {}),
        ...(threadTs && bool(args.reply_broadcast) ? { reply_broadcast: true } : {}),
        ...(args.metadata !== undefined ? { metadata: args.metadata } : {}),
      });
      return { channel: ch.id, ts: msg.ts, message: this.renderMessage(msg) };
    },

    "chat.update": (args) => {
      const ch = this.channelFor(args);
      const ts = str(args.ts);
      const msg = ts ? this.ws.findMessage(ch.id, ts) : undefined;
      if (!msg) throw new ApiError("message_not_found");
      if (msg.user !== this.botUserId) throw new ApiError("cant_update_message");
      const change = parseContent(args);
      // Slack keeps blocks/attachments the update leaves out ("include an empty array to remove").
      const next: MessageContent = {
        text: change.text ?? msg.text,
        ...((change.blocks ?? msg.blocks) ? { blocks: change.blocks ?? msg.blocks } : {}),
        ...((change.attachments ?? msg.attachments) ? { attachments: change.attachments ?? msg.attachments } : {}),
      };
      requireContent(next);
      this.ws.replace(msg, next, this.botUserId);
      return { channel: ch.id, ts: msg.ts, text: msg.text, message: this.renderMessage(msg) };
    },

    "chat.delete": (args) => {
      const ch = this.channelFor(args);
      const ts = str(args.ts);
      const msg = ts ? this.ws.findMessage(ch.id, ts) : undefined;
      if (!msg) throw new ApiError("message_not_found");
      if (msg.user !== this.botUserId) throw new ApiError("cant_delete_message");
      this.ws.remove(msg);
      return { channel: ch.id, ts: msg.ts };
    },

    "chat.postEphemeral": (args) => {
      const ch = this.channelFor(args);
      // As chat.postMessage: the bot can only show ephemerals where it is a member.
      if (!ch.botIsMember) throw new ApiError("not_in_channel");
      const user = str(args.user);
      if (!user || !this.ws.users.has(user)) throw new ApiError("user_not_in_channel");
      const content = requireContent(parseContent(args));
      const threadTs = str(args.thread_ts);
      const e = this.ws.postEphemeral({
        channel: ch.id,
        user,
        ...content,
        via: "chat.postEphemeral",
        ...(threadTs ? { thread_ts: threadTs } : {}),
      });
      return { message_ts: e.ts };
    },

    "chat.getPermalink": (args) => {
      const ch = this.channelFor(args);
      const ts = str(args.message_ts);
      const msg = ts ? this.ws.findMessage(ch.id, ts) : undefined;
      if (!msg) throw new ApiError("message_not_found");
      const reply = msg.thread_ts && msg.thread_ts !== msg.ts ? `?thread_ts=${msg.thread_ts}&cid=${ch.id}` : "";
      return {
        channel: ch.id,
        permalink: `${this.baseUrl}/archives/${ch.id}/p${msg.ts.replace(".", "")}${reply}`,
      };
    },

    "users.info": (args) => {
      const u = this.ws.users.get(str(args.user) ?? "");
      if (!u) throw new ApiError("user_not_found");
      return {
        user: {
          id: u.id,
          team_id: u.team_id,
          name: u.name,
          real_name: u.real_name,
          deleted: u.deleted,
          is_admin: u.is_admin,
          is_owner: u.is_owner,
          is_bot: u.is_bot,
          tz: u.tz,
          profile: {
            real_name: u.real_name,
            display_name: u.display_name,
            ...(u.email ? { email: u.email } : {}),
          },
        },
      };
    },

    "usergroups.list": (args) => ({
      usergroups: [...this.ws.usergroups.values()].map((g: SlackUsergroup) => ({
        id: g.id,
        team_id: this.teamId,
        handle: g.handle,
        name: g.name,
        user_count: g.users.length,
        ...(bool(args.include_users) ? { users: [...g.users] } : {}),
      })),
    }),

    "usergroups.users.list": (args) => {
      const g = this.ws.usergroups.get(str(args.usergroup) ?? "");
      if (!g) throw new ApiError("no_such_subteam");
      return { users: [...g.users] };
    },

    "conversations.members": (args) => {
      const ch = this.visibleChannel(args);
      // Slack pages with an opaque cursor ("" when there is no more); limit 1..1000, default 100.
      const limit = Math.min(1000, Math.max(1, Number(str(args.limit) ?? 100) || 100));
      const cursor = str(args.cursor);
      const start = cursor
        ? Number(
            Buffer.from(cursor, "base64")
              .toString("utf8")
              .replace(/^user:/, ""),
          )
        : 0;
      if (!Number.isInteger(start) || start < 0) throw new ApiError("invalid_cursor");
      const page = ch.members.slice(start, start + limit);
      const next = start + limit < ch.members.length ? Buffer.from(`user:${start + limit}`).toString("base64") : "";
      return { members: page, response_metadata: { next_cursor: next } };
    },

    "conversations.info": (args) => {
      const ch = this.visibleChannel(args);
      return {
        channel: {
          id: ch.id,
          name: ch.name,
          is_channel: !ch.is_im && !ch.is_private,
          is_group: false,
          is_im: ch.is_im,
          is_private: ch.is_private,
          is_member: ch.botIsMember,
          is_archived: false,
          ...(ch.user ? { user: ch.user } : {}),
        },
      };
    },

    "conversations.replies": (args) => {
      const ch = this.channelFor(args);
      const ts = str(args.ts);
      const parent = ts ? this.ws.findMessage(ch.id, ts) : undefined;
      if (!parent) throw new ApiError("thread_not_found");
      const root = parent.thread_ts ?? parent.ts;
      const msgs = this.ws.allMessages(ch.id).filter((m) => !m.deleted && (m.ts === root || m.thread_ts === root));
      return { messages: msgs.map((m) => this.renderMessage(m)), has_more: false };
    },
  };

  private async handleResponseUrl(id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const st = this.responseUrls.get(id);
    // Unknown, expired and used-up URLs answer 404, as hooks.slack.com does; bodies name the reason.
    if (!st) return send(res, 404, { ok: false, error: "no_service" });
    const answer = (out: Shown) => send(res, out.status, out.error ? { ok: false, error: out.error, ...out.extra } : { ok: true });
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return answer(this.rejectPost(st, "response_url", 400, "invalid_payload", raw));
    }
    if (st.expired) return answer(this.rejectPost(st, "response_url", 404, "expired_url", body));
    if (st.posts.filter((p) => p.via === "response_url" && p.effect !== "rejected").length >= RESPONSE_URL_MAX_POSTS) {
      return answer(this.rejectPost(st, "response_url", 404, "used_url", body));
    }
    answer(this.show(st, body, "response_url"));
  }

  /**
   * What Slack does with a slash command's own answer (its HTTP 200, or its Socket Mode ack's `payload`),
   * Slack's "immediate response": an empty answer is a plain ack and shows nothing; a JSON message (over HTTP
   * only with `content-type: application/json`; an ack payload is JSON) is shown as a post to the command's
   * response_url would be, ephemeral unless `in_channel`, without using one of that URL's five posts; any
   * other text is shown as the message's text, JSON-looking or not. A JSON object with nothing to show (just
   * `response_type`) is a plain ack too. Each shown (or refused) answer is in `responses(url)` with `via: "ack"`.
   */
  commandAnswered(idOrUrl: string, answer: { status: number; contentType: string; text: string } | { payload: unknown }): void {
    const st = this.responseUrls.get(this.responseId(idOrUrl));
    if (!st) return;
    let body: unknown;
    if ("payload" in answer) body = answer.payload;
    else if (answer.status !== 200 || answer.text === "") return;
    else if (!answer.contentType.toLowerCase().startsWith("application/json")) body = { text: answer.text };
    else
      try {
        body = JSON.parse(answer.text);
      } catch {
        return void this.rejectPost(st, "ack", 400, "invalid_payload", answer.text);
      }
    if (body === undefined) return;
    if (isRecord(body) && !body.delete_original && body.text === undefined && body.blocks === undefined && body.attachments === undefined) return;
    this.show(st, body, "ack");
  }

  private rejectPost(st: ResponseUrlState, via: ResponseUrlPost["via"], status: number, error: string, body: unknown, extra: Result = {}): Shown {
    st.posts.push({
      id: st.id,
      via,
      at: Date.now(),
      status,
      error,
      effect: "rejected",
      body,
      response_type: "ephemeral",
      replace_original: false,
      delete_original: false,
    });
    return { status, error, extra };
  }

  /** Show a message posted to a response_url, or answering its slash command, where the interaction happened. */
  private show(st: ResponseUrlState, body: unknown, via: ResponseUrlPost["via"]): Shown {
    const { id, ctx } = st;
    if (!isRecord(body)) return this.rejectPost(st, via, 400, "invalid_payload", body);
    const responseType = body.response_type === "in_channel" ? "in_channel" : "ephemeral";
    const replaceOriginal = bool(body.replace_original);
    const deleteOriginal = bool(body.delete_original);
    const threadTs = str(body.thread_ts);
    let content: MessageContent | undefined;
    if (!deleteOriginal) {
      try {
        content = requireContent(parseContent(body));
      } catch (err) {
        if (err instanceof ApiError) return this.rejectPost(st, via, 400, err.code, body, err.extra);
        throw err;
      }
    }
    const base = {
      id,
      via,
      at: Date.now(),
      status: 200,
      body,
      response_type: responseType,
      replace_original: replaceOriginal,
      delete_original: deleteOriginal,
      ...(content ? { text: content.text } : {}),
      ...(content?.blocks ? { blocks: content.blocks } : {}),
      ...(threadTs ? { thread_ts: threadTs } : {}),
    } as const;
    const channel = ctx.channelId ?? "";
    const original =
      ctx.messageTs === undefined ? undefined : ctx.ephemeral ? this.ws.findEphemeral(channel, ctx.messageTs) : this.ws.findMessage(channel, ctx.messageTs);

    let post: ResponseUrlPost;
    if ((deleteOriginal || replaceOriginal) && original) {
      if (deleteOriginal) this.ws.remove(original);
      else if (content) this.ws.replace(original, content, this.botUserId);
      post = { ...base, effect: deleteOriginal ? "deleted" : "replaced", ts: original.ts };
    } else if (deleteOriginal) {
      return this.rejectPost(st, via, 404, "message_not_found", body);
    } else if (responseType === "in_channel" && content) {
      const msg = this.ws.post(channel, content, {
        user: this.botUserId,
        bot_id: this.botId,
        app_id: this.appId,
        via,
        ...(threadTs ? { thread_ts: threadTs } : {}),
      });
      post = { ...base, effect: "in_channel", ts: msg.ts };
    } else {
      // Default for slash commands and for interactions without replace_original: a new ephemeral
      // message to the person who acted. (replace_original with no original falls back to this.)
      const e = this.ws.postEphemeral({
        channel,
        user: ctx.userId ?? "",
        ...(content ?? { text: "" }),
        via,
        responseUrlId: id,
        ...(threadTs ? { thread_ts: threadTs } : {}),
      });
      post = { ...base, effect: "ephemeral", ts: e.ts };
    }
    st.posts.push(post);
    return { status: 200 };
  }
}

/** Start a local Slack on 127.0.0.1 (port 0 = any free port). Call `close()` when done. */
export async function startSlackPeer(opts: SlackPeerOptions): Promise<SlackPeer> {
  const peer = new SlackPeer(opts);
  await peer.listen(opts.port ?? 0);
  return peer;
}

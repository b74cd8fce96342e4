import { randomBytes } from "node:crypto";
import { formatViolation, validateBlocks, VIEW_MAX_BLOCKS } from "./block-kit-limits.ts";
import type { Block } from "./workspace.ts";

/**
 * Views (modals and the App Home tab) and file uploads, as Slack keeps them: what web-api.ts's
 * `views.*` and `files.*` methods read and write. No HTTP here.
 *
 * Kept from real Slack because the bot depends on it:
 * - a trigger_id works once, for 3 seconds (`expired_trigger_id` / `invalid_trigger_id`);
 * - modal titles and submit/close labels are plain_text of at most 24 characters, up to 100 blocks;
 * - `views.update` with a stale `hash` answers `hash_conflict`;
 * - what a person entered in a modal's input stays across `views.update` while the block keeps its block_id and
 *   action_id (the new view's initial value is then not shown), and is dropped with the block otherwise;
 * - an upload is two steps: bytes POSTed to the URL from `files.getUploadURLExternal`, then
 *   `files.completeUploadExternal` shares it (unknown or never-uploaded ids answer `file_not_found`).
 */

export class SurfaceError extends Error {
  constructor(
    readonly code: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(code);
  }
}

export type StoredView = {
  id: string;
  team_id: string;
  type: "modal" | "home";
  /** Who sees it (the opener of a modal, the owner of a Home tab). */
  user: string;
  title?: Record<string, unknown>;
  submit?: Record<string, unknown>;
  close?: Record<string, unknown>;
  blocks: Block[];
  callback_id: string;
  private_metadata: string;
  external_id?: string;
  hash: string;
  app_id: string;
  bot_id: string;
  /** What the person entered in its inputs, as Slack's client keeps it: block_id -> action_id -> element state. */
  entered: Record<string, Record<string, unknown>>;
  /** Earlier versions of this view, oldest first. */
  history: Array<Omit<StoredView, "history">>;
};

export type Upload = { id: string; filename: string; length: number; bytes?: Buffer; title?: string; alt_text?: string };
export type FileShare = { file: Upload; channel: string; thread_ts?: string; initial_comment?: string; at: number };

const TRIGGER_TTL_MS = 3_000;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function plainText(v: unknown, max: number, field: string): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  if (!isRecord(v) || v.type !== "plain_text" || typeof v.text !== "string" || !v.text || v.text.length > max) {
    throw new SurfaceError("invalid_arguments", { response_metadata: { messages: [`[ERROR] ${field} must be plain_text of 1..${max} characters`] } });
  }
  return v;
}

export class Surfaces {
  private readonly triggers = new Map<string, { at: number; user: string }>();
  readonly views = new Map<string, StoredView>();
  private readonly uploads = new Map<string, Upload>();
  readonly shares: FileShare[] = [];
  private counter = 0;
  /** Modals the person closed, or the bot's answer to their submission closed. */
  private readonly closed = new Set<string>();
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly ids: { teamId: string; appId: string; botId: string },
    private readonly now: () => number = Date.now,
  ) {}

  /** A trigger_id Slack would put in an interaction (valid once, for 3 seconds). */
  issueTrigger(user: string): string {
    const id = `${this.now()}${Math.floor(Math.random() * 1000)}.${Math.floor(Math.random() * 1e11)}.${randomBytes(16).toString("hex")}`;
    this.triggers.set(id, { at: this.now(), user });
    return id;
  }

  /** The user whose interaction carried the trigger; it cannot be used again. */
  private useTrigger(id: unknown): string {
    if (typeof id !== "string" || !id) throw new SurfaceError("invalid_arguments");
    const t = this.triggers.get(id);
    if (t === undefined) throw new SurfaceError("invalid_trigger_id");
    this.triggers.delete(id);
    if (this.now() - t.at > TRIGGER_TTL_MS) throw new SurfaceError("expired_trigger_id");
    return t.user;
  }

  private parseView(raw: unknown, type: "modal" | "home"): Omit<StoredView, "id" | "user" | "hash" | "history" | "entered" | "team_id" | "app_id" | "bot_id"> {
    let v = raw;
    if (typeof raw === "string") {
      try {
        v = JSON.parse(raw);
      } catch {
        throw new SurfaceError("invalid_arguments");
      }
    }
    if (!isRecord(v) || v.type !== type)
      throw new SurfaceError("invalid_arguments", { response_metadata: { messages: [`[ERROR] view.type must be ${type}`] } });
    const blocks = v.blocks;
    if (!Array.isArray(blocks) || blocks.length > 100)
      throw new SurfaceError("invalid_arguments", { response_metadata: { messages: ["[ERROR] view.blocks must be an array of at most 100 blocks"] } });
    const violations = validateBlocks(blocks as Block[], { maxBlocks: VIEW_MAX_BLOCKS });
    if (violations.length) throw new SurfaceError("invalid_arguments", { response_metadata: { messages: violations.map(formatViolation) } });
    if (typeof v.private_metadata === "string" && v.private_metadata.length > 3000) throw new SurfaceError("invalid_arguments");
    const title = type === "modal" ? plainText(v.title, 24, "title") : undefined;
    if (type === "modal" && !title) throw new SurfaceError("invalid_arguments", { response_metadata: { messages: ["[ERROR] a modal needs a title"] } });
    const hasInput = (blocks as Block[]).some((b) => b.type === "input");
    const submit = plainText(v.submit, 24, "submit");
    if (type === "modal" && hasInput && !submit)
      throw new SurfaceError("invalid_arguments", { response_metadata: { messages: ["[ERROR] a modal with input blocks needs submit"] } });
    return {
      type,
      ...(title ? { title } : {}),
      ...(submit ? { submit } : {}),
      ...(plainText(v.close, 24, "close") ? { close: v.close as Record<string, unknown> } : {}),
      blocks: blocks as Block[],
      callback_id: typeof v.callback_id === "string" ? v.callback_id : "",
      private_metadata: typeof v.private_metadata === "string" ? v.private_metadata : "",
      ...(typeof v.external_id === "string" ? { external_id: v.external_id } : {}),
    };
  }

  private store(user: string, parsed: ReturnType<Surfaces["parseView"]>, previous?: StoredView): StoredView {
    const { history: _h, ...prev } = previous ?? ({ history: [] } as unknown as StoredView);
    const view: StoredView = {
      ...parsed,
      id: previous?.id ?? `V${(++this.counter).toString().padStart(8, "0")}`,
      team_id: this.ids.teamId,
      user,
      hash: `${Math.floor(this.now() / 1000)}.${randomBytes(4).toString("hex")}`,
      app_id: this.ids.appId,
      bot_id: this.ids.botId,
      entered: previous ? keptInput(previous.entered, parsed.blocks) : {},
      history: previous ? [...previous.history, prev as Omit<StoredView, "history">] : [],
    };
    this.views.set(view.id, view);
    this.changed();
    return view;
  }

  /** Run `listener` after every view stored, closed or cleared; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /** The modal a person sees now: the last one opened for them, unless it was closed. */
  modalOf(user: string): StoredView | undefined {
    const last = [...this.views.values()].filter((v) => v.type === "modal" && v.user === user).at(-1);
    return last && !this.closed.has(last.id) ? last : undefined;
  }

  /** The person closes a modal (Cancel, Escape). */
  close(viewId: string): void {
    this.closed.add(viewId);
    this.changed();
  }

  /**
   * Apply the bot's answer to a view_submission as Slack does: no body or `clear` closes the modal, `update`
   * replaces it, `errors` keeps it open and returns the messages by block_id (shown under their blocks).
   */
  answer(viewId: string, body: unknown): { closed: boolean; errors?: Record<string, string> } {
    const view = this.views.get(viewId);
    if (!view) throw new Error(`no view ${viewId}`);
    const a = isRecord(body) ? body : {};
    if (a.response_action === "errors" && isRecord(a.errors)) return { closed: false, errors: a.errors as Record<string, string> };
    if (a.response_action === "update") {
      this.store(view.user, this.parseView(a.view, "modal"), view);
      return { closed: false };
    }
    this.close(viewId);
    return { closed: true };
  }

  /** Forget every view (a sandbox reset): a new bot publishes its own. */
  clear(): void {
    this.views.clear();
    this.closed.clear();
    this.triggers.clear();
    this.changed();
  }

  /** What the API returns (and what a payload's `view` carries): the view, its state what was entered (and `values`). */
  render(v: StoredView, values: Record<string, unknown> = {}): Record<string, unknown> {
    const { history: _h, user: _u, entered, ...out } = v;
    return { ...structuredClone(out), state: { values: structuredClone({ ...entered, ...values }) }, root_view_id: v.id, previous_view_id: null };
  }

  /** The person enters `values` (block_id -> action_id -> element state) in the view's inputs. */
  enter(viewId: string, values: Record<string, Record<string, unknown>>): void {
    const view = this.views.get(viewId);
    if (!view) throw new Error(`no view ${viewId}`);
    for (const [blockId, byAction] of Object.entries(values)) {
      const block = view.blocks.find((b) => b.block_id === blockId && b.type === "input");
      const actionId = (block?.element as { action_id?: string } | undefined)?.action_id;
      if (!block || Object.keys(byAction).some((a) => a !== actionId)) throw new Error(`view ${viewId} has no input ${blockId} with those action ids`);
      view.entered[blockId] = structuredClone(byAction);
    }
  }

  open(args: Record<string, unknown>): Record<string, unknown> {
    const user = this.useTrigger(args.trigger_id);
    const view = this.store(user, this.parseView(args.view, "modal"));
    return { view: this.render(view) };
  }

  update(args: Record<string, unknown>): Record<string, unknown> {
    const byId = typeof args.view_id === "string" ? this.views.get(args.view_id) : undefined;
    const byExternal = typeof args.external_id === "string" ? [...this.views.values()].find((v) => v.external_id === args.external_id) : undefined;
    const current = byId ?? byExternal;
    if (!current) throw new SurfaceError("not_found");
    if (typeof args.hash === "string" && args.hash !== current.hash) throw new SurfaceError("hash_conflict");
    const view = this.store(current.user, this.parseView(args.view, current.type), current);
    return { view: this.render(view) };
  }

  publish(args: Record<string, unknown>, userExists: (id: string) => boolean): Record<string, unknown> {
    const user = typeof args.user_id === "string" ? args.user_id : "";
    if (!userExists(user)) throw new SurfaceError("user_not_found");
    const current = this.homeOf(user);
    if (current && typeof args.hash === "string" && args.hash !== current.hash) throw new SurfaceError("hash_conflict");
    const view = this.store(user, this.parseView(args.view, "home"), current);
    return { view: this.render(view) };
  }

  homeOf(user: string): StoredView | undefined {
    return [...this.views.values()].find((v) => v.type === "home" && v.user === user);
  }

  getUploadUrl(args: Record<string, unknown>, baseUrl: string): Record<string, unknown> {
    const filename = typeof args.filename === "string" ? args.filename : "";
    const length = Number(args.length);
    if (!filename || !Number.isInteger(length) || length <= 0) throw new SurfaceError("invalid_arguments");
    const id = `F${(++this.counter).toString().padStart(10, "0")}`;
    this.uploads.set(id, { id, filename, length, ...(typeof args.alt_text === "string" ? { alt_text: args.alt_text } : {}) });
    return { upload_url: `${baseUrl}/upload/${id}`, file_id: id };
  }

  /** The bytes of an upload, as POSTed to its upload_url (raw, or the `file` part of a multipart form). */
  receive(id: string, body: Buffer, contentType: string): { status: number; text: string } {
    const u = this.uploads.get(id);
    if (!u) return { status: 404, text: "not found" };
    const bytes = contentType.startsWith("multipart/form-data") ? multipartFile(body, contentType) : body;
    if (!bytes) return { status: 400, text: "no file part" };
    if (bytes.length !== u.length) return { status: 400, text: `expected ${u.length} bytes, got ${bytes.length}` };
    u.bytes = bytes;
    return { status: 200, text: `OK - ${bytes.length}` };
  }

  complete(args: Record<string, unknown>, channelExists: (id: string) => boolean): Record<string, unknown> {
    let files = args.files;
    if (typeof files === "string") {
      try {
        files = JSON.parse(files);
      } catch {
        throw new SurfaceError("invalid_arguments");
      }
    }
    if (!Array.isArray(files) || !files.length) throw new SurfaceError("invalid_arguments");
    const channel = typeof args.channel_id === "string" ? args.channel_id : undefined;
    if (channel && !channelExists(channel)) throw new SurfaceError("channel_not_found");
    const threadTs = typeof args.thread_ts === "string" ? args.thread_ts : undefined;
    const done: Upload[] = [];
    for (const f of files) {
      const u = isRecord(f) && typeof f.id === "string" ? this.uploads.get(f.id) : undefined;
      if (!u?.bytes) throw new SurfaceError("file_not_found");
      if (isRecord(f) && typeof f.title === "string") u.title = f.title;
      done.push(u);
    }
    for (const u of done) {
      if (channel) {
        this.shares.push({
          file: u,
          channel,
          ...(threadTs ? { thread_ts: threadTs } : {}),
          ...(typeof args.initial_comment === "string" ? { initial_comment: args.initial_comment } : {}),
          at: this.now(),
        });
      }
    }
    return { files: done.map((u) => ({ id: u.id, name: u.filename, title: u.title ?? u.filename, size: u.length })) };
  }
}

/** What Slack keeps across views.update: entries whose input block is still there with the same action_id. */
function keptInput(entered: StoredView["entered"], blocks: Block[]): StoredView["entered"] {
  const kept: StoredView["entered"] = {};
  for (const [blockId, byAction] of Object.entries(entered)) {
    const block = blocks.find((b) => b.block_id === blockId && b.type === "input");
    const actionId = (block?.element as { action_id?: string } | undefined)?.action_id;
    if (actionId !== undefined && Object.keys(byAction).every((a) => a === actionId)) kept[blockId] = byAction;
  }
  return kept;
}

/** The `file` part of a multipart/form-data body (what curl -F file=@x sends), or undefined. */
function multipartFile(body: Buffer, contentType: string): Buffer | undefined {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) return undefined;
  const sep = Buffer.from(`--${boundary}`);
  let at = body.indexOf(sep);
  while (at !== -1) {
    const next = body.indexOf(sep, at + sep.length);
    if (next === -1) break;
    const part = body.subarray(at + sep.length + 2, next - 2);
    const headEnd = part.indexOf("\r\n\r\n");
    if (headEnd !== -1 && /name="file"/.test(part.subarray(0, headEnd).toString("utf8"))) return part.subarray(headEnd + 4);
    at = next;
  }
  return undefined;
}

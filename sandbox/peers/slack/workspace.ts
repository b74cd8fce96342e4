import { randomBytes } from "node:crypto";

/**
 * The state of the local Slack workspace: channels, users, user groups, messages (with threads and
 * edit history) and ephemeral messages. No HTTP here; web-api.ts maps Slack methods onto it.
 */

export type Block = Record<string, unknown>;

export interface SlackChannel {
  id: string;
  name: string;
  is_private: boolean;
  is_im: boolean;
  /** For a DM channel: the other party. */
  user?: string;
  /** chat.postMessage into a channel the bot is not in answers `not_in_channel`, as Slack does. */
  botIsMember: boolean;
  /** The people in the channel (conversations.members); someone who types or clicks in it is in it. */
  members: string[];
}

export interface SlackUser {
  id: string;
  team_id: string;
  name: string;
  real_name: string;
  display_name: string;
  email?: string;
  tz: string;
  is_admin: boolean;
  is_owner: boolean;
  is_bot: boolean;
  deleted: boolean;
}

export interface SlackUsergroup {
  id: string;
  handle: string;
  name: string;
  users: string[];
}

export interface MessageContent {
  text: string;
  blocks?: Block[];
  attachments?: unknown[];
}

export interface MessageVersion extends MessageContent {
  /** When this version was replaced (ms since epoch). */
  replacedAt: number;
}

/** "ack": a slash command's own answer (Slack's immediate response), shown as a response_url post is. */
export type MessageOrigin = "chat.postMessage" | "response_url" | "ack" | "seed";

export interface StoredMessage extends MessageContent {
  channel: string;
  ts: string;
  /** Set on thread replies (the parent's ts), and on parents once they have replies (their own ts). */
  thread_ts?: string;
  user: string;
  bot_id?: string;
  app_id?: string;
  team: string;
  metadata?: unknown;
  reply_broadcast?: boolean;
  reply_count?: number;
  edited?: { user: string; ts: string };
  /** Earlier versions, oldest first; chat.update / replace_original push the version they replace. */
  history: MessageVersion[];
  deleted: boolean;
  via: MessageOrigin;
  /** ms since epoch */
  at: number;
}

export type EphemeralOrigin = "chat.postEphemeral" | "response_url" | "ack";

export interface EphemeralMessage extends MessageContent {
  channel: string;
  /** The only person who sees it. */
  user: string;
  ts: string;
  thread_ts?: string;
  via: EphemeralOrigin;
  responseUrlId?: string;
  history: MessageVersion[];
  deleted: boolean;
  at: number;
}

/** Message timestamps: unique and strictly increasing, shaped like Slack's "1700000000.000100". */
export class TsClock {
  private lastMicros = 0;
  next(): string {
    let micros = Date.now() * 1000;
    if (micros <= this.lastMicros) micros = this.lastMicros + 1;
    this.lastMicros = micros;
    const seconds = Math.floor(micros / 1_000_000);
    const fraction = micros % 1_000_000;
    return `${seconds}.${String(fraction).padStart(6, "0")}`;
  }
}

/** Slack fills in a random block_id / action_id when the app leaves them out; so do we. */
function randomId(): string {
  return randomBytes(6).toString("base64url").slice(0, 5);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function withGeneratedIds(blocks: Block[]): Block[] {
  const fill = (el: unknown) => {
    if (isRecord(el) && el.type !== "image" && el.action_id === undefined) el.action_id = randomId();
  };
  const copy = structuredClone(blocks);
  for (const b of copy) {
    if (b.block_id === undefined) b.block_id = randomId();
    if (b.type === "actions" && Array.isArray(b.elements)) b.elements.forEach(fill);
    if (b.type === "section" && b.accessory !== undefined) fill(b.accessory);
    if (b.type === "input") fill(b.element);
  }
  return copy;
}

export class Workspace {
  readonly channels = new Map<string, SlackChannel>();
  readonly users = new Map<string, SlackUser>();
  readonly usergroups = new Map<string, SlackUsergroup>();
  private readonly timeline = new Map<string, StoredMessage[]>();
  private ephemerals: EphemeralMessage[] = [];
  readonly clock = new TsClock();
  /** Called after every change to messages or ephemerals (the sandbox page re-renders on it). */
  private readonly listeners = new Set<() => void>();

  constructor(readonly teamId: string) {}

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /** Forget messages and ephemerals; keep channels, users and groups. */
  clearMessages(): void {
    this.timeline.clear();
    this.ephemerals = [];
    this.changed();
  }

  addChannel(c: { id: string; name?: string; is_private?: boolean; botIsMember?: boolean; members?: string[] }): SlackChannel {
    const ch: SlackChannel = {
      id: c.id,
      name: c.name ?? c.id.toLowerCase(),
      is_private: c.is_private ?? false,
      is_im: false,
      botIsMember: c.botIsMember ?? true,
      members: [...(c.members ?? [])],
    };
    this.channels.set(ch.id, ch);
    return ch;
  }

  /** `userId` is in the channel from now on (they joined, or typed or clicked in it). */
  join(channelId: string, userId: string): void {
    const ch = this.channels.get(channelId);
    if (ch && !ch.members.includes(userId)) ch.members.push(userId);
  }

  addUser(u: Partial<SlackUser> & { id: string }): SlackUser {
    const name = u.name ?? u.id.toLowerCase();
    const user: SlackUser = {
      team_id: this.teamId,
      name,
      real_name: u.real_name ?? name,
      display_name: u.display_name ?? name,
      tz: "Europe/Berlin",
      is_admin: false,
      is_owner: false,
      is_bot: false,
      deleted: false,
      ...u,
    };
    this.users.set(user.id, user);
    return user;
  }

  /**
   * Resolve what a caller passes as `channel`: an id, a name (with or without '#'), or a user id
   * (Slack then posts into the DM with that user; we create the DM channel on first use).
   */
  resolveChannel(ref: string): SlackChannel | undefined {
    const byId = this.channels.get(ref);
    if (byId) return byId;
    const name = ref.startsWith("#") ? ref.slice(1) : ref;
    for (const c of this.channels.values()) if (!c.is_im && c.name === name) return c;
    if (this.users.has(ref)) {
      const dm: SlackChannel = { id: `D${ref.slice(1)}`, name: ref, is_private: true, is_im: true, user: ref, botIsMember: true, members: [ref] };
      this.channels.set(dm.id, dm);
      return dm;
    }
    return undefined;
  }

  private list(channel: string): StoredMessage[] {
    let l = this.timeline.get(channel);
    if (!l) this.timeline.set(channel, (l = []));
    return l;
  }

  allMessages(channel: string): StoredMessage[] {
    return this.timeline.get(channel) ?? [];
  }

  findMessage(channel: string, ts: string): StoredMessage | undefined {
    return this.allMessages(channel).find((m) => m.ts === ts && !m.deleted);
  }

  post(
    channel: string,
    content: MessageContent,
    meta: Pick<StoredMessage, "user" | "via"> & Partial<Pick<StoredMessage, "bot_id" | "app_id" | "thread_ts" | "reply_broadcast" | "metadata">>,
  ): StoredMessage {
    const msg: StoredMessage = {
      channel,
      ts: this.clock.next(),
      team: this.teamId,
      ...content,
      ...(content.blocks ? { blocks: withGeneratedIds(content.blocks) } : {}),
      ...meta,
      history: [],
      deleted: false,
      at: Date.now(),
    };
    for (const k of ["thread_ts", "reply_broadcast", "metadata", "bot_id", "app_id", "attachments"] as const) {
      if (msg[k] === undefined) delete msg[k];
    }
    this.list(channel).push(msg);
    if (msg.thread_ts) {
      const parent = this.findMessage(channel, msg.thread_ts);
      if (parent) {
        parent.thread_ts = parent.ts;
        parent.reply_count = (parent.reply_count ?? 0) + 1;
      }
    }
    this.changed();
    return msg;
  }

  /** Replace content, keeping the old version in `history` (what chat.update does). */
  replace(msg: StoredMessage | EphemeralMessage, content: MessageContent, editor: string): void {
    msg.history.push({ text: msg.text, blocks: msg.blocks, attachments: msg.attachments, replacedAt: Date.now() });
    msg.text = content.text;
    if (content.blocks !== undefined) msg.blocks = withGeneratedIds(content.blocks);
    else delete msg.blocks;
    if (content.attachments !== undefined) msg.attachments = content.attachments;
    else delete msg.attachments;
    if ("team" in msg) msg.edited = { user: editor, ts: this.clock.next() };
    this.changed();
  }

  remove(msg: StoredMessage | EphemeralMessage): void {
    msg.deleted = true;
    if ("team" in msg && msg.thread_ts && msg.thread_ts !== msg.ts) {
      const parent = this.findMessage(msg.channel, msg.thread_ts);
      if (parent?.reply_count) parent.reply_count -= 1;
    }
    this.changed();
  }

  postEphemeral(e: Omit<EphemeralMessage, "ts" | "history" | "deleted" | "at">): EphemeralMessage {
    const msg: EphemeralMessage = {
      ...e,
      ...(e.blocks ? { blocks: withGeneratedIds(e.blocks) } : {}),
      ts: this.clock.next(),
      history: [],
      deleted: false,
      at: Date.now(),
    };
    for (const k of ["thread_ts", "responseUrlId", "attachments", "blocks"] as const) {
      if (msg[k] === undefined) delete msg[k];
    }
    this.ephemerals.push(msg);
    this.changed();
    return msg;
  }

  allEphemerals(): EphemeralMessage[] {
    return this.ephemerals;
  }

  findEphemeral(channel: string, ts: string): EphemeralMessage | undefined {
    return this.ephemerals.find((e) => e.channel === channel && e.ts === ts && !e.deleted);
  }
}

import type { RedisClient } from "./redis-connection.ts";
import { parseRolloutId } from "../engine/rollout.ts";
import type { Keys } from "./keys.ts";
import { hsetFollowingRecord } from "./retention.ts";

/**
 * Where a rollout's Slack message lives and what was last sent there. Kept beside the record, not in it,
 * so Slack bookkeeping never bumps the record's version (and never races a person's click).
 */
export type SlackMeta = {
  /** ts of the parent message in the rollout's channel. */
  ts?: string;
  /** Highest event seq posted to the thread. */
  postedSeq: number;
  /** Hash of the last rendering sent, to skip chat.update when nothing visible changed. */
  renderedHash?: string;
  /** The rejection reply went to the starter already. */
  rejectionSent?: boolean;
  /** Hash of the last rendering sent without its success-rate reading: a change here is a change of state. */
  stateHash?: string;
  /** When the message was last posted or updated (ms), for the per-message update budget. */
  updatedAt?: number;
  /**
   * A refresh found no room in the workspace's Slack budget and is due to try again then (ms): until a
   * little after that, newer readings wait for that one try instead of asking again (the newest wins).
   */
  deferredAt?: number;
  /** The message's permalink (it never changes), so the Home board asks Slack for it once. */
  permalink?: string;
};

type Field = "ts" | "postedSeq" | "renderedHash" | "rejectionSent" | "stateHash" | "updatedAt" | "deferredAt" | "permalink";

export class SlackMetaStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  private key(id: string): string {
    const p = parseRolloutId(id);
    if (!p) throw new Error(`not a rollout id: ${id}`);
    return this.keys.slack(p.target, p.seq);
  }

  async get(id: string): Promise<SlackMeta> {
    const h = await this.redis.hgetall(this.key(id));
    return {
      ...(h.ts ? { ts: h.ts } : {}),
      postedSeq: Number(h.postedSeq ?? 0),
      ...(h.renderedHash ? { renderedHash: h.renderedHash } : {}),
      ...(h.rejectionSent ? { rejectionSent: true } : {}),
      ...(h.stateHash ? { stateHash: h.stateHash } : {}),
      ...(h.updatedAt ? { updatedAt: Number(h.updatedAt) } : {}),
      ...(h.deferredAt && h.deferredAt !== "0" ? { deferredAt: Number(h.deferredAt) } : {}),
      ...(h.permalink ? { permalink: h.permalink } : {}),
    };
  }

  async set(id: string, fields: Partial<Record<Field, string | number>>): Promise<void> {
    const p = parseRolloutId(id);
    if (!p) throw new Error(`not a rollout id: ${id}`);
    const defined = Object.fromEntries(Object.entries(fields).filter((e): e is [string, string | number] => e[1] !== undefined));
    await hsetFollowingRecord(this.redis, this.key(id), this.keys.record(p.target, p.seq), defined);
  }
}

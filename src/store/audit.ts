import { targetKey } from "../engine/target.ts";
import type { RedisClient } from "./redis-connection.ts";
import { z } from "zod";
import { eventsAfter, parseRolloutId, type Actor, type Rollout, type RolloutEvent } from "../engine/rollout.ts";
import type { Keys } from "./keys.ts";
import { followRecordExpiry } from "./retention.ts";

/**
 * The audit trail: every command, click and automatic decision, done or refused, as Redis streams: one
 * per rollout (`keys.audit(target, seq)`, its timeline) and one global (`keys.globalAudit()`). Entries are
 * only ever appended; the streams are capped (approximately) so a busy bot cannot grow Redis forever; a
 * rollout's stream expires with its record, the global one is trimmed to the retention (RolloutStore.trim).
 */

export type AuditOutcome = "done" | "refused" | "error";
/**
 * command: a /rollout command; button: a click; modal: a form; auto: the bot deciding by itself; worker: what
 * the mesh was verified to hold; event: an Events API callback (a replayed one is audited); webhook: a call
 * from Flagger to its gates.
 */
export const AUDIT_VIA = ["command", "button", "modal", "auto", "worker", "event", "webhook"] as const;
export type AuditVia = (typeof AUDIT_VIA)[number];

export const AuditEntrySchema = z.object({
  at: z.coerce.number(),
  /** `U0123` for a person, `bot:<why>` for the bot. */
  actor: z.string(),
  action: z.string(),
  via: z.enum(AUDIT_VIA),
  outcome: z.enum(["done", "refused", "error"]),
  rolloutId: z.string().optional(),
  target: z.string().optional(),
  channel: z.string().optional(),
  /** Canary percent before and after (what the record held / what was asked or verified). */
  before: z.coerce.number().optional(),
  after: z.coerce.number().optional(),
  /** Why it was refused or failed, or a note (e.g. a lookup outage that did not block an abort). */
  reason: z.string().optional(),
  /** The command as typed, or what the mesh read back. */
  detail: z.string().optional(),
});

export type AuditEntry = z.infer<typeof AuditEntrySchema>;
export type StoredAuditEntry = AuditEntry & { streamId: string };

const PER_ROLLOUT_MAX = 5_000;
const GLOBAL_MAX = 100_000;
const FIELD_MAX = 1_000;

export function actorName(a: Actor): string {
  return a.kind === "user" ? a.id : `bot:${a.why}`;
}

export class AuditLog {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** Told of every entry appended (the transitions metric counts them by action and outcome). */
    private readonly onAppend?: (entry: AuditEntry) => void,
  ) {}

  async append(entry: AuditEntry): Promise<void> {
    const fields: string[] = [];
    for (const [k, v] of Object.entries(entry)) {
      if (v === undefined || v === null) continue;
      const s = String(v);
      fields.push(k, s.length > FIELD_MAX ? `${s.slice(0, FIELD_MAX - 1)}…` : s);
    }
    const id = entry.rolloutId ? parseRolloutId(entry.rolloutId) : undefined;
    // Two keys in different hash slots: two writes, never one MULTI (Redis Cluster).
    await Promise.all([
      id
        ? this.redis
            .xadd(this.keys.audit(id.target, id.seq), "MAXLEN", "~", PER_ROLLOUT_MAX, "*", ...fields)
            .then(() => followRecordExpiry(this.redis, this.keys.audit(id.target, id.seq), this.keys.record(id.target, id.seq)))
        : undefined,
      this.redis.xadd(this.keys.globalAudit(), "MAXLEN", "~", GLOBAL_MAX, "*", ...fields),
    ]);
    this.onAppend?.(entry);
  }

  /** The rollout's timeline, oldest first: its last `limit` entries, and how many there are in all. */
  async timeline(rolloutId: string, limit: number): Promise<{ entries: StoredAuditEntry[]; total: number }> {
    const id = parseRolloutId(rolloutId);
    if (!id) return { entries: [], total: 0 };
    const key = this.keys.audit(id.target, id.seq);
    const [raw, total] = await Promise.all([this.redis.xrevrange(key, "+", "-", "COUNT", limit), this.redis.xlen(key)]);
    return { entries: parseEntries(raw).reverse(), total };
  }

  /** The newest `limit` entries of the global stream, newest first. */
  async recent(limit: number): Promise<StoredAuditEntry[]> {
    return parseEntries(await this.redis.xrevrange(this.keys.globalAudit(), "+", "-", "COUNT", limit));
  }

  /**
   * What the worker did between two readings of a record (before and after one reconcile): every event it
   * added, as audit entries with the verified weights. Events people caused are audited where they decided.
   */
  async workerOutcome(before: Rollout, after: Rollout): Promise<void> {
    if (after.version === before.version) return;
    const since = before.events.at(-1)?.seq ?? 0;
    for (const e of eventsAfter(after, since).filter(isWorkerEvent)) {
      await this.append({
        at: e.at,
        // The worker verified it; a hold it decided by itself says why (drift, ...).
        actor: e.kind === "held" ? actorName(e.actor) : "bot:worker",
        action: e.kind,
        via: e.kind === "held" ? "auto" : "worker",
        outcome: e.kind === "warning" ? "error" : e.kind === "rejected" ? "refused" : "done",
        rolloutId: after.id,
        target: targetKey(after.target),
        channel: after.channel,
        ...(e.from !== undefined ? { before: e.from } : {}),
        ...(e.to !== undefined ? { after: e.to } : {}),
        ...(e.kind === "warning" || e.kind === "rejected" || e.kind === "held" ? (e.text ? { reason: e.text } : {}) : e.text ? { detail: e.text } : {}),
      });
    }
  }
}

const WORKER_EVENTS: ReadonlySet<RolloutEvent["kind"]> = new Set(["started", "applied", "completed", "aborted", "rejected", "warning", "gitops"]);

function isWorkerEvent(e: RolloutEvent): boolean {
  return WORKER_EVENTS.has(e.kind) || (e.kind === "held" && e.actor.kind === "bot");
}

function parseEntries(raw: [string, string[]][]): StoredAuditEntry[] {
  const out: StoredAuditEntry[] = [];
  for (const [streamId, flat] of raw) {
    const obj: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) obj[flat[i]!] = flat[i + 1]!;
    const parsed = AuditEntrySchema.safeParse(obj);
    if (parsed.success) out.push({ ...parsed.data, streamId });
  }
  return out;
}

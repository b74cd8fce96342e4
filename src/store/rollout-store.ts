import { err, ok, type Result } from "../engine/result.ts";
import { isTerminal, parseRolloutId, rolloutId, type Refusal, type Rollout, type TransitionResult } from "../engine/rollout.ts";
import { RolloutSchema } from "../engine/record-schema.ts";
import { StoreError } from "./errors.ts";
import { Keys } from "./keys.ts";
import { withLock } from "./lock.ts";
import { claimsOf, ObjectClaims } from "./object-claims.ts";
import { redisAnswers, type RedisClient } from "./redis-connection.ts";
import { RedisScript } from "./script.ts";

/**
 * Rollout records in Redis. A record is a hash {v: version, doc: JSON}; every change is a compare-and-set
 * on `v` in Lua, so two workers or fifty clicks can never both move the same version forward.
 * The target's `active` key points at its one running rollout; it is released when the rollout ends.
 */

// KEYS: active, record, seq. ARGV: id, doc. Claims the target and writes version 1, or returns the holder's id.
// The target's sequence lives as long as a rollout of it runs (it expires with the last one's retention).
const CREATE = new RedisScript(`
local holder = redis.call('GET', KEYS[1])
if holder then return holder end
redis.call('PERSIST', KEYS[3])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'v', '1', 'doc', ARGV[2])
return false`);

// KEYS: record, active, then the rollout's other keys and the target's sequence. ARGV: expected v, new v, doc,
// id, release (1 = rollout ended: free the target and let its keys expire), retention in seconds.
const CAS = new RedisScript(`
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'doc', ARGV[3])
if ARGV[5] == '1' then
  if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
  for i = 1, #KEYS do
    if i ~= 2 then redis.call('EXPIRE', KEYS[i], ARGV[6]) end
  end
end
return 1`);

/** 90 days: how long an ended rollout's keys are kept by default (ROLLOUT_RETENTION_DAYS). */
export const DEFAULT_RETENTION_SECONDS = 90 * 86_400;

/** Created, or the target is busy with the rollout `activeId`. */
export type CreateResult = Result<Rollout, { activeId: string }>;
/** `changed`: false when the change function returned the record as it was (nothing written). */
export type UpdateResult = Result<{ rollout: Rollout; changed: boolean }, Refusal>;
/** A change function: a new record, the same record (nothing to do), or a refusal to show a person. */
export type Change = (r: Rollout) => TransitionResult | Rollout;

export class RolloutStore {
  readonly keys: Keys;

  /**
   * Recomputes derived fields (the stage's timers) on every write, so no caller can forget to; the store
   * does not know what they mean.
   */
  private readonly normalize: (r: Rollout) => Rollout;

  /** How long an ended rollout's keys are kept. */
  readonly retentionSeconds: number;
  private readonly now: () => number;
  /** Claims on a target's objects per cluster, so a wave and the same target declared in one of its clusters exclude each other. */
  readonly claims: ObjectClaims;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    opts: { normalize?: (r: Rollout) => Rollout; retentionSeconds?: number; now?: () => number } = {},
  ) {
    this.keys = new Keys(prefix, redis.isCluster);
    this.normalize = opts.normalize ?? ((r) => r);
    this.retentionSeconds = Math.max(1, Math.round(opts.retentionSeconds ?? DEFAULT_RETENTION_SECONDS));
    this.now = opts.now ?? Date.now;
    this.claims = new ObjectClaims(redis, this.keys, (id) => this.get(id));
  }

  /**
   * Every key of one rollout (its record first) and its target's sequence, which expire together once it
   * ends. All in the target's hash slot, so one script may touch them on a Redis Cluster.
   */
  private rolloutKeys(target: string, seq: number): string[] {
    const k = this.keys;
    return [k.record(target, seq), k.active(target), k.slack(target, seq), k.audit(target, seq), k.readings(target, seq), k.seq(target)];
  }

  async nextId(target: string): Promise<string> {
    return rolloutId(target, await this.redis.incr(this.keys.seq(target)));
  }

  async create(r: Rollout): Promise<CreateResult> {
    const { target, seq } = this.split(r.id);
    // The objects first (another target may drive them: a wave's `shop` and `shop@prod-eu`), then the target.
    const objects = claimsOf(r);
    const claimed = await this.claims.claim(objects.name, objects.clusters, r.id);
    if (claimed.holder) return err({ activeId: claimed.holder });
    // Index first: an index entry without a record is skipped on read; a record missing from the index
    // would be invisible to resync. Two writes, not one MULTI: the two indexes are in different hash slots
    // (CROSSSLOT on a Redis Cluster), and both are done before the record exists either way.
    await Promise.all([this.redis.zadd(this.keys.index(), r.createdAt, r.id), this.redis.zadd(this.keys.activeIndex(), r.createdAt, r.id)]);
    const stored = { ...r, version: 1 };
    const holder = (await CREATE.run(
      this.redis,
      [this.keys.active(target), this.keys.record(target, seq), this.keys.seq(target)],
      [r.id, JSON.stringify(stored)],
    )) as string | null;
    if (holder) {
      await Promise.all([this.redis.zrem(this.keys.index(), r.id), this.redis.zrem(this.keys.activeIndex(), r.id)]);
      await this.claims.release(objects.name, objects.clusters, r.id);
      return err({ activeId: holder });
    }
    await this.claims.keep(objects.name, objects.clusters, r.id);
    return ok(stored);
  }

  /**
   * At start-up, a running rollout recorded before object claims existed gets its claims (`ObjectClaims.ensure`):
   * those nobody holds are taken, those another running rollout holds are named and left to it. A rollout that
   * ended meanwhile lets go of what was just taken (its end released nothing of it).
   */
  async reclaim(r: Rollout): Promise<{ taken: string[]; others: { cluster: string; holder: string }[] }> {
    const objects = claimsOf(r);
    const res = await this.claims.ensure(objects.name, objects.clusters, r.id);
    if (res.taken.length) {
      const now = await this.get(r.id);
      if (!now || isTerminal(now)) await this.claims.release(objects.name, res.taken, r.id);
    }
    return res;
  }

  async get(id: string): Promise<Rollout | undefined> {
    const parsed = parseRolloutId(id);
    if (!parsed) return undefined;
    const [v, doc] = await this.redis.hmget(this.keys.record(parsed.target, parsed.seq), "v", "doc");
    if (!v || !doc) return undefined;
    // Parsed with the record's schema: a record this code cannot read is an error here, not a crash later.
    const record = RolloutSchema.safeParse(JSON.parse(doc));
    if (!record.success)
      throw new StoreError(
        `rollout ${id}: the stored record is not readable: ${record.error.issues[0]?.path.join(".")}: ${record.error.issues[0]?.message}`,
        false,
      );
    return { ...(record.data as unknown as Rollout), version: Number(v) };
  }

  async activeFor(target: string): Promise<Rollout | undefined> {
    const id = await this.redis.get(this.keys.active(target));
    return id ? this.get(id) : undefined;
  }

  /**
   * Apply `change` with compare-and-set, re-reading and re-deciding on a lost race: the loser of a race
   * sees the winner's record and usually gets a refusal ("already advanced by ..."). `from`: the record as
   * the caller has just read it, tried first instead of reading it again (the compare-and-set refuses it if
   * it has moved on since, and the next try reads it).
   */
  async update(id: string, change: Change, opts: { from?: Rollout } = {}): Promise<UpdateResult> {
    const { target, seq } = this.split(id);
    let known = opts.from?.id === id ? opts.from : undefined;
    for (let attempt = 0; attempt < 100; attempt++) {
      const current = known ?? (await this.get(id));
      known = undefined;
      if (!current) return err({ code: "no-rollout", id });
      const result = change(current);
      if ("ok" in result && result.ok === false) return result;
      const changed = "ok" in result ? result.value : result;
      if (changed === current) return ok({ rollout: current, changed: false });
      const next = this.normalize(changed);
      const stored = { ...next, version: current.version + 1 };
      const release = isTerminal(stored) ? "1" : "0";
      const keys = this.rolloutKeys(target, seq);
      const won = await CAS.run(this.redis, keys, [
        String(current.version),
        String(stored.version),
        JSON.stringify(stored),
        id,
        release,
        String(this.retentionSeconds),
      ]);
      if (won === 1) {
        if (release === "1") {
          const objects = claimsOf(stored);
          await this.claims.release(objects.name, objects.clusters, id);
          await this.redis.zrem(this.keys.activeIndex(), id);
          await this.trim().catch(() => undefined); // best effort: the next ending trims again
        }
        return ok({ rollout: stored, changed: true });
      }
    }
    // Lost 100 races in a row: the record is busy, not broken.
    throw new StoreError(`rollout ${id}: could not update after 100 compare-and-set attempts`, true);
  }

  /**
   * Run `fn` holding the rollout's lease for one kind of work (`mesh` writes and checks, `slack` sync), so two
   * workers never interleave them; throws LockBusy when it cannot be had in time (the job is retried).
   */
  async withLease<T>(id: string, what: "mesh" | "slack", fn: () => Promise<T>, opts: { ttlMs?: number; waitMs?: number } = {}): Promise<T> {
    const { target, seq } = this.split(id);
    return withLock(this.redis, this.keys.lock(target, seq, what), fn, opts);
  }

  /**
   * Drop from the index the rollouts created before the retention whose records have expired (a rollout that
   * ran longer than that keeps its entry until its record goes), and the global audit stream's entries older
   * than the retention. Run whenever a rollout ends.
   */
  async trim(): Promise<number> {
    const cutoff = this.now() - this.retentionSeconds * 1000;
    const old = await this.redis.zrangebyscore(this.keys.index(), "-inf", cutoff, "LIMIT", 0, 500);
    const gone: string[] = [];
    for (const id of old) {
      const p = parseRolloutId(id);
      if (!p || (await this.redis.exists(this.keys.record(p.target, p.seq))) === 0) gone.push(id);
    }
    if (gone.length) await this.redis.zrem(this.keys.index(), ...gone);
    await this.redis.xtrim(this.keys.globalAudit(), "MINID", `${Math.max(0, Math.floor(cutoff))}-0`);
    return gone.length;
  }

  /** Whether Redis answers and takes writes (readiness). */
  async ping(): Promise<boolean> {
    return redisAnswers(this.redis);
  }

  /** The newest rollout of a target, running or ended, looking back over its last `within` numbers. */
  async latestOf(target: string, within = 20): Promise<Rollout | undefined> {
    const seq = Number(await this.redis.get(this.keys.seq(target))) || 0;
    for (let s = seq; s > 0 && s > seq - within; s--) {
      const r = await this.get(rolloutId(target, s));
      if (r) return r;
    }
    return undefined;
  }

  /** A target's rollouts, newest first, read down its sequence (records that expired are skipped). */
  async ofTarget(target: string, limit: number): Promise<Rollout[]> {
    const seq = Number(await this.redis.get(this.keys.seq(target))) || 0;
    const out: Rollout[] = [];
    for (let s = seq; s > 0 && out.length < limit && s > seq - limit * 5; s -= 10) {
      const ids = Array.from({ length: Math.min(10, s) }, (_, i) => rolloutId(target, s - i));
      for (const r of await Promise.all(ids.map((id) => this.get(id)))) if (r && out.length < limit) out.push(r);
    }
    return out;
  }

  /** Newest first. */
  async recent(limit: number): Promise<Rollout[]> {
    const ids = await this.redis.zrevrange(this.keys.index(), 0, Math.max(0, limit - 1));
    return this.getMany(ids);
  }

  /** Rollouts that have not ended, newest first. */
  async active(): Promise<Rollout[]> {
    const ids = await this.redis.zrevrange(this.keys.activeIndex(), 0, -1);
    // The index is updated after the record, so a just-ended rollout may still be listed: filter.
    return (await this.getMany(ids)).filter((r) => !isTerminal(r));
  }

  private async getMany(ids: string[]): Promise<Rollout[]> {
    const out: Rollout[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      const batch = await Promise.all(ids.slice(i, i + 100).map((id) => this.get(id)));
      for (const r of batch) if (r) out.push(r);
    }
    return out;
  }

  private split(id: string): { target: string; seq: number } {
    const parsed = parseRolloutId(id);
    if (!parsed) throw new Error(`not a rollout id: ${id}`);
    return parsed;
  }
}

import { isTerminal, type Rollout } from "../engine/rollout.ts";
import type { Keys } from "./keys.ts";
import type { RedisClient } from "./redis-connection.ts";
import { RedisScript } from "./script.ts";

/**
 * Claims on a target's objects in a cluster, beside the per-target `active` key: a wave of `shop` and a
 * declared `shop@prod-eu` are two targets (two `active` keys) driving the same TrafficSplit in prod-eu. Every
 * rollout in a declared cluster claims `(name, cluster)` for each cluster it may write to, all of them in one
 * script, so of two starts at once exactly one gets them. The keys share the hash tag `{<name>}`: one slot
 * for every cluster of one name, so the script stays valid on a Redis Cluster.
 */

// KEYS: the claims. ARGV: id, ms. Takes every claim for `ms` (the record is written next, then they are made
// to last), or none and returns the first other holder and its key's index.
const CLAIM = new RedisScript(`
for i = 1, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder and holder ~= ARGV[1] then return {holder, i} end
end
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2]) end
return false`);

// KEYS: the claims. ARGV: id. The record is written: the claims last until the rollout ends.
const KEEP = new RedisScript(`
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('PERSIST', KEYS[i]) end
end
return 1`);

/** How long a claim lasts before its record is written: a process dying in between blocks nobody for long. */
const PENDING_MS = 30_000;

// KEYS: the claims. ARGV: id. Drops those still held by `id` (a later holder's stay).
const RELEASE = new RedisScript(`
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1`);

// KEYS: the claims. ARGV: id. A running rollout recorded before claims existed: takes each claim nobody holds
// (for good: its record is written), keeps its own, and names the other holders ({holder, index} pairs) without
// touching their claims. Returns {taken indexes, others}.
const ENSURE = new RedisScript(`
local taken, others = {}, {}
for i = 1, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if not holder then
    redis.call('SET', KEYS[i], ARGV[1])
    taken[#taken + 1] = i
  elseif holder == ARGV[1] then
    redis.call('PERSIST', KEYS[i])
  else
    others[#others + 1] = holder
    others[#others + 1] = i
  end
end
return {taken, others}`);

/** What a rollout claims: its target's name in each declared cluster it may write to (none in the bot's own). */
export function claimsOf(r: Pick<Rollout, "target" | "wave">): { name: string; clusters: string[] } {
  const clusters = r.wave ? r.wave.rows.map((row) => row.cluster) : r.target.cluster !== undefined ? [r.target.cluster] : [];
  return { name: r.target.name, clusters };
}

export class ObjectClaims {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** The holder's record, to tell a running holder from one whose end was never released (a crash). */
    private readonly read: (id: string) => Promise<Rollout | undefined>,
  ) {}

  private claimKeys(name: string, clusters: readonly string[]): string[] {
    return clusters.map((c) => this.keys.objects(name, c));
  }

  /** The running rollout holding any of these claims (a fast check before a start; the claim decides). */
  async holder(name: string, clusters: readonly string[]): Promise<Rollout | undefined> {
    for (const key of this.claimKeys(name, clusters)) {
      const id = await this.redis.get(key);
      const r = id ? await this.read(id) : undefined;
      if (r && !isTerminal(r)) return r;
    }
    return undefined;
  }

  /**
   * Take every claim for `id`, or none: the running rollout in the way. The claims are taken before the record
   * is written, for a short while only; `keep` makes them last once it is. A claim whose holder has ended, or
   * whose record is gone though the claim was kept (its end never released it: the process died in between),
   * is taken over; one whose record is still being written is not.
   */
  async claim(name: string, clusters: readonly string[], id: string): Promise<{ holder?: string }> {
    const keys = this.claimKeys(name, clusters);
    if (!keys.length) return {};
    for (let attempt = 0; attempt < 5; attempt++) {
      const found = (await CLAIM.run(this.redis, keys, [id, PENDING_MS])) as [string, number] | null;
      if (!found) return {};
      const [holder, index] = found;
      const held = await this.read(holder);
      if (held ? !isTerminal(held) : (await this.redis.pttl(keys[index - 1]!)) !== -1) return { holder };
      await this.release(name, clusters, holder);
    }
    // Stale holders kept reappearing: something keeps claiming; say busy rather than loop.
    return { holder: (await this.redis.get(keys[0]!)) ?? "another rollout" };
  }

  /**
   * A running rollout without its claims (recorded before claims existed) gets them, all in one script: each
   * claim nobody holds is taken for good, its own kept; a claim another running rollout holds is left to it
   * and named in `others` (both rollouts then drive the same objects: a person must end one). A holder that
   * has ended without releasing it is let go first, as in `claim`.
   */
  async ensure(name: string, clusters: readonly string[], id: string): Promise<{ taken: string[]; others: { cluster: string; holder: string }[] }> {
    const keys = this.claimKeys(name, clusters);
    const taken: string[] = [];
    if (!keys.length) return { taken, others: [] };
    for (let attempt = 0; ; attempt++) {
      const [got, held] = (await ENSURE.run(this.redis, keys, [id])) as [number[], (string | number)[]];
      taken.push(...got.map((i) => clusters[i - 1]!));
      const others: { cluster: string; holder: string; index: number }[] = [];
      for (let i = 0; i < held.length; i += 2)
        others.push({ holder: String(held[i]), index: Number(held[i + 1]), cluster: clusters[Number(held[i + 1]) - 1]! });
      let stale = false;
      for (const o of others) {
        const r = await this.read(o.holder);
        if (r ? isTerminal(r) : (await this.redis.pttl(keys[o.index - 1]!)) === -1) {
          await this.release(name, [o.cluster], o.holder);
          stale = true;
        }
      }
      if (!stale || attempt >= 4) return { taken, others: others.map(({ cluster, holder }) => ({ cluster, holder })) };
    }
  }

  /** The record is written: the claims last until the rollout ends (`release`). */
  async keep(name: string, clusters: readonly string[], id: string): Promise<void> {
    const keys = this.claimKeys(name, clusters);
    if (keys.length) await KEEP.run(this.redis, keys, [id]);
  }

  async release(name: string, clusters: readonly string[], id: string): Promise<void> {
    const keys = this.claimKeys(name, clusters);
    if (keys.length) await RELEASE.run(this.redis, keys, [id]);
  }
}

/**
 * Redis key layout. Every key of one target shares the hash tag `{<target>}` so the multi-key Lua scripts
 * stay valid on Redis Cluster; the global keys (index, active, audit, home) are each only ever touched
 * alone, never in one MULTI or script with another key.
 */
export class Keys {
  constructor(
    readonly prefix: string,
    /** On a Redis Cluster: only the BullMQ prefix differs (see bullPrefix). */
    readonly cluster = false,
  ) {}
  seq(target: string) {
    return `${this.prefix}:{${target}}:seq`;
  }
  active(target: string) {
    return `${this.prefix}:{${target}}:active`;
  }
  /**
   * The claim on `name`'s objects in a declared cluster (src/store/object-claims.ts): tagged by the bare name,
   * so a wave's claims in all its clusters share one slot.
   */
  objects(name: string, cluster: string) {
    return `${this.prefix}:{${name}}:objects:${cluster}`;
  }
  record(target: string, seq: number) {
    return `${this.prefix}:{${target}}:r:${seq}`;
  }
  slack(target: string, seq: number) {
    return `${this.prefix}:{${target}}:slack:${seq}`;
  }
  lock(target: string, seq: number, what: string) {
    return `${this.prefix}:{${target}}:lock:${seq}:${what}`;
  }
  audit(target: string, seq: number) {
    return `${this.prefix}:{${target}}:audit:${seq}`;
  }
  /** Sorted set of rollout ids by creation time: the index behind list, history and resync. */
  index() {
    return `${this.prefix}:index`;
  }
  /** Sorted set of rollouts that have not ended (by creation time): what list and resync read. */
  activeIndex() {
    return `${this.prefix}:active`;
  }
  globalAudit() {
    return `${this.prefix}:audit`;
  }
  /**
   * One key per Slack rate bucket (src/slack/budget.ts), hash-tagged by the bucket: its line (`<key>:line`)
   * shares its slot, so one script may touch a bucket and its line together.
   */
  slackBudget(bucket: string) {
    return `${this.prefix}:slack-budget:{${bucket}}`;
  }
  /**
   * One request already received (src/store/seen-requests.ts): `id` is a digest of what identifies it. Each
   * key stands alone (SET NX), so its own hash tag spreads the seen-set over a cluster's slots.
   */
  seen(id: string) {
    return `${this.prefix}:seen:{${id}}`;
  }
  /** A rollout's success-rate readings (src/store/readings.ts). */
  readings(target: string, seq: number) {
    return `${this.prefix}:{${target}}:readings:${seq}`;
  }
  /**
   * BullMQ's scripts touch several keys of a queue at once, so on a cluster they all need one hash tag:
   * `{<prefix>:bull}`. One Redis keeps `<prefix>:bull`, so an upgraded deployment finds its queued jobs.
   */
  bullPrefix() {
    return this.cluster ? `{${this.prefix}:bull}` : `${this.prefix}:bull`;
  }
}

/**
 * Redis key layout. Every key of one target shares the hash tag `{<target>}` so the multi-key Lua scripts
 * stay valid on Redis Cluster; the global index is a key of its own and is only ever touched alone.
 */
export class Keys {
  constructor(readonly prefix: string) {}
  seq(target: string) {
    return `${this.prefix}:{${target}}:seq`;
  }
  active(target: string) {
    return `${this.prefix}:{${target}}:active`;
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
  bullPrefix() {
    return `${this.prefix}:bull`;
  }
}

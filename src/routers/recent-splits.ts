/**
 * What the last list of a namespace's TrafficSplits said about an apex service having no split, reused for
 * a moment. A start asks four times in a row (validate, the GitOps owners' check, the initial observe, the
 * first apply), each a list of the whole namespace when no split exists yet; now the first list answers the
 * other three. Only the answer "no split for this apex, and none in the way under its name" is reused: the
 * apply that follows creates the split by server-side apply, where a split someone made meanwhile is theirs
 * (its fields another manager's: a conflict, never overwritten), as it was between a list and the write before.
 * A split the bot writes in this process is no longer "none" for its apex or its name, at once; a split made
 * by anyone else is seen by the next list, within `ttlMs`.
 */
type Listed = { at: number; services: Set<string>; names: Set<string>; touched: Set<string> };

export class RecentSplitLists {
  private readonly lists = new Map<string, Listed>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A list of `namespace` just answered: the services its splits split and the splits' names. */
  listed(namespace: string, splits: { service: unknown; name: unknown }[]): void {
    if (this.ttlMs <= 0) return;
    const at = this.now();
    // Bounded by the namespaces listed within ttlMs: older ones go whenever another is listed.
    for (const [ns, l] of this.lists) if (at - l.at >= this.ttlMs) this.lists.delete(ns);
    this.lists.set(namespace, {
      at,
      services: new Set(splits.map((s) => String(s.service))),
      names: new Set(splits.map((s) => String(s.name))),
      touched: new Set(),
    });
  }

  /** True when a list within ttlMs found no split for `apex` and none named like it, and the bot wrote neither since. */
  noSplitFor(namespace: string, apex: string): boolean {
    const l = this.lists.get(namespace);
    if (!l || this.now() - l.at >= this.ttlMs) return false;
    return !l.services.has(apex) && !l.names.has(apex) && !l.touched.has(apex);
  }

  /** The bot is writing the split `name` that splits `apex`: neither may be answered "none" from the last list any more. */
  writing(namespace: string, name: string, apex: string): void {
    const l = this.lists.get(namespace);
    l?.touched.add(name);
    l?.touched.add(apex);
  }
}

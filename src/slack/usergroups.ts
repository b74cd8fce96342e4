import type { WebClient } from "@slack/web-api";
import type { Logger } from "pino";
import { z } from "zod";

/**
 * Who is in a Slack user group, for policies that name `@handles`. Handles are mapped to group IDs with
 * `usergroups.list` and members read with `usergroups.users.list`; both answers are cached for `ttlMs`,
 * so a membership change is seen at most one TTL later.
 *
 * When Slack does not answer (an error, or nothing within `timeoutMs`) once the TTL has run out, the last
 * answer is used only while it is less than two TTLs old (one TTL of grace, so a blip does not refuse
 * everyone). Past that the membership is "unknown" and the policy decides: stopping (abort, hold) goes
 * through, anything else is refused with a word about the outage. So a person removed from a group loses
 * every non-stopping right at most two TTLs later, however long Slack stays unreachable; with a TTL of 0
 * nothing is ever reused.
 */

export type MembershipAnswer = boolean | "unknown";

export interface GroupMembership {
  /** For each handle (without `@`): is `userId` a member? */
  membership(userId: string, handles: readonly string[]): Promise<Map<string, MembershipAnswer>>;
}

const ListResponse = z.object({ usergroups: z.array(z.object({ id: z.string(), handle: z.string() })) });
const UsersResponse = z.object({ users: z.array(z.string()) });

type Cached<T> = { at: number; value: T };

/** How many TTLs old a cached answer may be when Slack cannot be asked: the TTL itself plus one of grace. */
export const STALE_LIMIT_TTLS = 2;

export type UsergroupResolverOptions = {
  client: Pick<WebClient, "usergroups">;
  ttlMs: number;
  now?: () => number;
  log?: Logger;
  /** Give up waiting for one Slack call after this long (the client's own retries could take minutes). */
  timeoutMs?: number;
};

export class UsergroupResolver implements GroupMembership {
  private handles: Cached<Map<string, string>> | undefined;
  private readonly members = new Map<string, Cached<ReadonlySet<string>>>();
  /** Slack calls under way, one per key, including ones every waiter has given up on (see `ask`). */
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly now: () => number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: UsergroupResolverOptions) {
    this.now = opts.now ?? Date.now;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
  }

  async membership(userId: string, handles: readonly string[]): Promise<Map<string, MembershipAnswer>> {
    const out = new Map<string, MembershipAnswer>();
    if (!handles.length) return out;
    const ids = await this.groupIds();
    await Promise.all(
      handles.map(async (raw) => {
        const handle = raw.toLowerCase();
        if (!ids) return out.set(handle, "unknown");
        const id = ids.get(handle);
        if (!id) {
          this.opts.log?.warn({ handle }, "policy names a user group that does not exist in Slack");
          return out.set(handle, false);
        }
        const users = await this.users(id);
        out.set(handle, users ? users.has(userId) : "unknown");
      }),
    );
    return out;
  }

  /** Forget every cached answer (tests, or a manual refresh). */
  clear(): void {
    this.handles = undefined;
    this.members.clear();
  }

  private fresh(c: Cached<unknown> | undefined): boolean {
    return c !== undefined && this.now() - c.at < this.opts.ttlMs;
  }

  /** The cached answer when Slack could not give a new one: only while it is younger than the stale limit. */
  private stale<T>(key: string, c: Cached<T> | undefined): T | undefined {
    if (!c) return undefined;
    const ageMs = this.now() - c.at;
    if (ageMs < STALE_LIMIT_TTLS * this.opts.ttlMs) {
      this.opts.log?.warn({ key, ageMs }, "Slack user-group lookup failed: using the last answer");
      return c.value;
    }
    this.opts.log?.warn({ key, ageMs }, "Slack user-group lookup failed and the last answer is too old to use: membership unknown");
    return undefined;
  }

  private async groupIds(): Promise<Map<string, string> | undefined> {
    if (this.fresh(this.handles)) return this.handles!.value;
    const fetched = await this.ask(
      "list",
      async () => ListResponse.parse(await this.opts.client.usergroups.list({})),
      (res) => {
        const value = new Map(res.usergroups.map((g) => [g.handle.toLowerCase(), g.id]));
        this.handles = { at: this.now(), value };
        return value;
      },
    );
    return fetched ?? this.stale("list", this.handles);
  }

  private async users(id: string): Promise<ReadonlySet<string> | undefined> {
    const cached = this.members.get(id);
    if (this.fresh(cached)) return cached!.value;
    const fetched = await this.ask(
      `users:${id}`,
      async () => UsersResponse.parse(await this.opts.client.usergroups.users.list({ usergroup: id })),
      (res) => {
        const value = new Set(res.users) as ReadonlySet<string>;
        this.members.set(id, { at: this.now(), value });
        return value;
      },
    );
    return fetched ?? this.stale(`users:${id}`, this.members.get(id));
  }

  /**
   * One Slack call per key at a time; `store` caches its answer whenever it arrives, also after every
   * waiter gave up, and a later lookup waits for the same call instead of starting another. Answers
   * undefined when the call failed or did not answer within `timeoutMs`.
   */
  private async ask<R, T>(key: string, call: () => Promise<R>, store: (res: R) => T): Promise<T | undefined> {
    let p = this.inflight.get(key) as Promise<T | undefined> | undefined;
    if (!p) {
      p = call()
        .then(store)
        .catch((err: unknown) => {
          this.opts.log?.warn({ err, key }, "Slack user-group lookup failed");
          return undefined;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.timeoutMs);
    });
    try {
      const v = await Promise.race([p, timeout]);
      if (v !== "timeout") return v;
      this.opts.log?.warn({ key, timeoutMs: this.timeoutMs }, "Slack user-group lookup timed out");
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}

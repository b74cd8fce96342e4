import type { WebClient } from "@slack/web-api";
import type { Logger } from "pino";
import { z } from "zod";

/**
 * Who is in a Slack user group, for policies that name `@handles`. Handles are mapped to group IDs with
 * `usergroups.list` and members read with `usergroups.users.list`; both answers are cached for `ttlMs`,
 * so a membership change is seen at most one TTL later. When Slack does not answer (in time), a stale
 * answer is used if there is one; otherwise the membership is "unknown" and the policy decides (stopping
 * goes through, anything else is refused with a word about the outage).
 */

export type MembershipAnswer = boolean | "unknown";

export interface GroupMembership {
  /** For each handle (without `@`): is `userId` a member? */
  membership(userId: string, handles: readonly string[]): Promise<Map<string, MembershipAnswer>>;
}

const ListResponse = z.object({ usergroups: z.array(z.object({ id: z.string(), handle: z.string() })) });
const UsersResponse = z.object({ users: z.array(z.string()) });

type Cached<T> = { at: number; value: T };

export type UsergroupResolverOptions = {
  client: Pick<WebClient, "usergroups">;
  ttlMs: number;
  now?: () => number;
  log?: Logger;
  /** Give up on one Slack call after this long (the client's own retries could take minutes). */
  timeoutMs?: number;
};

export class UsergroupResolver implements GroupMembership {
  private handles: Cached<Map<string, string>> | undefined;
  private readonly members = new Map<string, Cached<ReadonlySet<string>>>();
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

  private async groupIds(): Promise<Map<string, string> | undefined> {
    if (this.fresh(this.handles)) return this.handles!.value;
    const fetched = await this.once("list", async () => {
      const res = ListResponse.parse(await this.opts.client.usergroups.list({}));
      return new Map(res.usergroups.map((g) => [g.handle.toLowerCase(), g.id]));
    });
    if (fetched) {
      this.handles = { at: this.now(), value: fetched };
      return fetched;
    }
    return this.handles?.value;
  }

  private async users(id: string): Promise<ReadonlySet<string> | undefined> {
    const cached = this.members.get(id);
    if (this.fresh(cached)) return cached!.value;
    const fetched = await this.once(`users:${id}`, async () => {
      const res = UsersResponse.parse(await this.opts.client.usergroups.users.list({ usergroup: id }));
      return new Set(res.users) as ReadonlySet<string>;
    });
    if (fetched) {
      this.members.set(id, { at: this.now(), value: fetched });
      return fetched;
    }
    return cached?.value;
  }

  /** One Slack call per key at a time; undefined when it failed or took too long. */
  private async once<T>(key: string, call: () => Promise<T>): Promise<T | undefined> {
    let p = this.inflight.get(key) as Promise<T | undefined> | undefined;
    if (!p) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), this.timeoutMs);
      });
      p = Promise.race([call(), timeout])
        .then((v) => {
          if (v === undefined) this.opts.log?.warn({ key }, "Slack user-group lookup timed out");
          return v;
        })
        .catch((err: unknown) => {
          this.opts.log?.warn({ err, key }, "Slack user-group lookup failed");
          return undefined;
        })
        .finally(() => {
          clearTimeout(timer);
          this.inflight.delete(key);
        });
      this.inflight.set(key, p);
    }
    return p;
  }
}

import type { WebClient } from "@slack/web-api";
import { err, ok, type Result } from "../engine/result.ts";
import { onPaidTurn } from "./budget-fetch.ts";
import { onJobTurn } from "./budget-line.ts";
import type { SlackBudget } from "./budget.ts";
import { SlackCallError, transientStatus } from "./errors.ts";

type UpdateArgs = { channel: string; ts: string; text: string; blocks: unknown[] };

/** The Slack Web API calls the bot makes to show a rollout (the Slack sync job is the caller). */
export interface SlackPoster {
  postMessage(args: { channel: string; text: string; blocks?: unknown[]; thread_ts?: string; reply_broadcast?: boolean }): Promise<{ ts: string }>;
  update(args: UpdateArgs): Promise<void>;
  /**
   * chat.update for a message whose reading alone changed: made only when the shared budget has room above
   * what it keeps for changes of state; otherwise nothing is sent and the answer says so.
   */
  refresh(args: UpdateArgs): Promise<Result<void, "no-room">>;
  /** When a refresh that found no room should try again (spread: one deferred refresh per budget interval). */
  refreshRetryAt(now: number): Promise<number>;
  /** A message only `user` sees, in `channel` (chat.postEphemeral). */
  postEphemeral(args: { channel: string; user: string; text: string }): Promise<void>;
  /** Reply to a slash command through its response_url (ephemeral unless said otherwise). */
  respond(responseUrl: string, message: { text: string; response_type?: "ephemeral" | "in_channel" }): Promise<void>;
}

/**
 * The Web API calls the Slack sync job makes, over Bolt's client (whose fetch takes every call's turn from
 * the shared budget, src/slack/budget-fetch.ts, and which retries 429s after Retry-After).
 */
export function webApiPoster(
  client: WebClient,
  opts: { budget?: SlackBudget; onDeferred?: () => void; onPutBack?: (bucket: string) => void; fetchImpl?: typeof fetch } = {},
): SlackPoster {
  const fetchImpl = opts.fetchImpl ?? fetch;
  const update = async (args: UpdateArgs) => {
    await client.chat.update({ ...args, blocks: args.blocks as never });
  };
  const onTurn = <T>(method: string, channel: string | undefined, call: () => Promise<T>): Promise<T> =>
    onJobTurn(opts.budget, { method, channel, onPutBack: opts.onPutBack }, call);
  return {
    async postMessage(args) {
      const res = await onTurn("chat.postMessage", args.channel, () =>
        client.chat.postMessage({ ...args, blocks: args.blocks as never, unfurl_links: false } as never),
      );
      if (!res.ts) throw new SlackCallError("chat.postMessage returned no ts", true);
      return { ts: res.ts };
    },
    update: (args) => onTurn("chat.update", undefined, () => update(args)),
    async refresh(args) {
      if (!opts.budget) return ok(await update(args));
      if ((await opts.budget.take("chat.update", undefined, "refresh")) > 0) {
        opts.onDeferred?.();
        return err("no-room");
      }
      return ok(await onPaidTurn(() => update(args)));
    },
    async refreshRetryAt(now) {
      return opts.budget ? opts.budget.refreshSlot("chat.update", undefined, now) : now;
    },
    async postEphemeral(args) {
      await onTurn("chat.postEphemeral", undefined, () => client.chat.postEphemeral(args));
    },
    async respond(responseUrl, message) {
      const res = await fetchImpl(responseUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ response_type: "ephemeral", ...message }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new SlackCallError(`response_url answered ${res.status}`, transientStatus(res.status));
    },
  };
}

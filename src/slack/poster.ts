import type { WebClient } from "@slack/web-api";
import { SlackCallError, transientStatus } from "./errors.ts";

/** The Slack Web API calls the bot makes to show a rollout (the Slack sync job is the caller). */
export interface SlackPoster {
  postMessage(args: { channel: string; text: string; blocks?: unknown[]; thread_ts?: string; reply_broadcast?: boolean }): Promise<{ ts: string }>;
  update(args: { channel: string; ts: string; text: string; blocks: unknown[] }): Promise<void>;
  /** A message only `user` sees, in `channel` (chat.postEphemeral). */
  postEphemeral(args: { channel: string; user: string; text: string }): Promise<void>;
  /** Reply to a slash command through its response_url (ephemeral unless said otherwise). */
  respond(responseUrl: string, message: { text: string; response_type?: "ephemeral" | "in_channel" }): Promise<void>;
}

/** The Web API calls the Slack sync job makes, over Bolt's client (which retries 429s after Retry-After). */
export function webApiPoster(client: WebClient, fetchImpl: typeof fetch = fetch): SlackPoster {
  return {
    async postMessage(args) {
      const res = await client.chat.postMessage({ ...args, blocks: args.blocks as never, unfurl_links: false } as never);
      if (!res.ts) throw new SlackCallError("chat.postMessage returned no ts", true);
      return { ts: res.ts };
    },
    async postEphemeral(args) {
      await client.chat.postEphemeral(args);
    },
    async update(args) {
      await client.chat.update({ ...args, blocks: args.blocks as never });
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

import type { WebClient } from "@slack/web-api";
import { onPaidTurn } from "./budget-fetch.ts";
import { onJobTurn } from "./budget-line.ts";
import type { SlackBudget } from "./budget.ts";
import { SlackCallError, transientStatus } from "./errors.ts";

/** The Web API calls behind the App Home board and the chart: views.publish, permalinks, file uploads. */
export interface SlackSurfaces {
  publishHome(userId: string, view: Record<string, unknown>): Promise<void>;
  permalink(channel: string, ts: string): Promise<string>;
  /** Upload a file into a channel (a thread when `threadTs`): files.getUploadURLExternal, POST, completeUploadExternal. */
  uploadFile(args: { channel: string; threadTs?: string; filename: string; title: string; altText: string; bytes: Buffer; comment?: string }): Promise<string>;
}

/** Over the shared budget each call takes its turn first, and its job is put back in line when there is none. */
export function webApiSurfaces(
  client: WebClient,
  opts: { budget?: SlackBudget; onPutBack?: (bucket: string) => void; fetchImpl?: typeof fetch } = {},
): SlackSurfaces {
  const fetchImpl = opts.fetchImpl ?? fetch;
  const onTurn = <T>(method: string, call: () => Promise<T>): Promise<T> => onJobTurn(opts.budget, { method, onPutBack: opts.onPutBack }, call);
  return {
    async publishHome(userId, view) {
      await onTurn("views.publish", () => client.views.publish({ user_id: userId, view: view as never }));
    },
    async permalink(channel, ts) {
      // A link is a nicety: asked only while the budget has room to spare (as a refresh is), never queued
      // for, so a board of a thousand rollouts cannot fill the line with calls nobody comes back for.
      if (opts.budget && (await opts.budget.take("chat.getPermalink", undefined, "refresh")) > 0) {
        throw new SlackCallError("no room in the Slack budget for a permalink now; asked again with the next board", true);
      }
      const res = await onPaidTurn(() => client.chat.getPermalink({ channel, message_ts: ts }));
      if (!res.permalink) throw new SlackCallError("chat.getPermalink returned no permalink", true);
      return res.permalink;
    },
    async uploadFile(a) {
      const url = await onTurn("files.getUploadURLExternal", () =>
        client.files.getUploadURLExternal({ filename: a.filename, length: a.bytes.length, alt_text: a.altText }),
      );
      if (!url.upload_url || !url.file_id) throw new SlackCallError("files.getUploadURLExternal returned no upload_url", true);
      const res = await fetchImpl(url.upload_url, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: new Uint8Array(a.bytes),
        signal: AbortSignal.timeout(30_000),
      });
      if (!res.ok) throw new SlackCallError(`the upload URL answered ${res.status}`, transientStatus(res.status));
      await onTurn("files.completeUploadExternal", () =>
        client.files.completeUploadExternal({
          files: [{ id: url.file_id, title: a.title }],
          channel_id: a.channel,
          ...(a.threadTs ? { thread_ts: a.threadTs } : {}),
          ...(a.comment ? { initial_comment: a.comment } : {}),
        } as never),
      );
      return url.file_id;
    },
  };
}

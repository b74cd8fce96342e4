import type { WebClient } from "@slack/web-api";
import { SlackCallError, transientStatus } from "./errors.ts";

/** The Web API calls behind the App Home board and the chart: views.publish, permalinks, file uploads. */
export interface SlackSurfaces {
  publishHome(userId: string, view: Record<string, unknown>): Promise<void>;
  permalink(channel: string, ts: string): Promise<string>;
  /** Upload a file into a channel (a thread when `threadTs`): files.getUploadURLExternal, POST, completeUploadExternal. */
  uploadFile(args: { channel: string; threadTs?: string; filename: string; title: string; altText: string; bytes: Buffer; comment?: string }): Promise<string>;
}

export function webApiSurfaces(client: WebClient, fetchImpl: typeof fetch = fetch): SlackSurfaces {
  return {
    async publishHome(userId, view) {
      await client.views.publish({ user_id: userId, view: view as never });
    },
    async permalink(channel, ts) {
      const res = await client.chat.getPermalink({ channel, message_ts: ts });
      if (!res.permalink) throw new SlackCallError("chat.getPermalink returned no permalink", true);
      return res.permalink;
    },
    async uploadFile(a) {
      const url = await client.files.getUploadURLExternal({ filename: a.filename, length: a.bytes.length, alt_text: a.altText });
      if (!url.upload_url || !url.file_id) throw new SlackCallError("files.getUploadURLExternal returned no upload_url", true);
      const res = await fetchImpl(url.upload_url, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: new Uint8Array(a.bytes),
        signal: AbortSignal.timeout(30_000),
      });
      if (!res.ok) throw new SlackCallError(`the upload URL answered ${res.status}`, transientStatus(res.status));
      await client.files.completeUploadExternal({
        files: [{ id: url.file_id, title: a.title }],
        channel_id: a.channel,
        ...(a.threadTs ? { thread_ts: a.threadTs } : {}),
        ...(a.comment ? { initial_comment: a.comment } : {}),
      } as never);
      return url.file_id;
    },
  };
}

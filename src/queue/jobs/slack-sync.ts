import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { eventsAfter, parseRolloutId } from "../../engine/rollout.ts";
import { renderEvent } from "../../slack/views/event-text.ts";
import { renderRolloutMessage } from "../../slack/views/rollout-message.ts";
import { withLock } from "../../store/lock.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { SlackMetaStore } from "../../store/slack-meta.ts";
import type { EffectJob } from "../queues.ts";

/**
 * Make Slack show the record: post the parent message once, chat.update it when its rendering changed,
 * and post each new event in its thread, in order, once. Runs under a per-rollout lease so two syncs never
 * interleave; bookkeeping (ts, last posted event, rendering hash) is written right after each Slack call.
 */

export interface SlackPoster {
  postMessage(args: { channel: string; text: string; blocks?: unknown[]; thread_ts?: string }): Promise<{ ts: string }>;
  update(args: { channel: string; ts: string; text: string; blocks: unknown[] }): Promise<void>;
  /** Reply to a slash command through its response_url (ephemeral unless said otherwise). */
  respond(responseUrl: string, message: { text: string; response_type?: "ephemeral" | "in_channel" }): Promise<void>;
}

export type SlackSyncDeps = {
  store: RolloutStore;
  meta: SlackMetaStore;
  slack: SlackPoster;
  log: Logger;
};

export async function slackSyncJob(deps: SlackSyncDeps, job: EffectJob): Promise<void> {
  const { store, meta, slack } = deps;
  const ids = parseRolloutId(job.rolloutId);
  if (!ids) return;
  await withLock(store.redis, store.keys.lock(ids.target, ids.seq, "slack"), async () => {
    const r = await store.get(job.rolloutId);
    if (!r) return;
    const m = await meta.get(r.id);

    if (!m.ts) {
      if (r.status === "starting") return; // post once the mesh accepted it: a rejection stays private
      if (r.status === "rejected") {
        if (!m.rejectionSent && r.responseUrl) {
          await slack.respond(r.responseUrl, { text: `:no_entry: Cannot start rollout of \`${r.target.name}\`: ${r.problem}. Nothing was changed.` });
          await meta.set(r.id, { rejectionSent: 1 });
        }
        return;
      }
    }

    const rendered = renderRolloutMessage(r);
    const hash = createHash("sha1").update(JSON.stringify(rendered)).digest("hex");
    let ts = m.ts;
    if (!ts) {
      ts = (await slack.postMessage({ channel: r.channel, text: rendered.text, blocks: rendered.blocks })).ts;
      await meta.set(r.id, { ts, renderedHash: hash });
    } else if (hash !== m.renderedHash) {
      await slack.update({ channel: r.channel, ts, text: rendered.text, blocks: rendered.blocks });
      await meta.set(r.id, { renderedHash: hash });
    }
    for (const e of eventsAfter(r, m.postedSeq)) {
      await slack.postMessage({ channel: r.channel, thread_ts: ts, text: renderEvent(r, e) });
      await meta.set(r.id, { postedSeq: e.seq });
    }
  });
}

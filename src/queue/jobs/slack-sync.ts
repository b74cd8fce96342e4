import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { eventsAfter, parseRolloutId, type Rollout } from "../../engine/rollout.ts";
import type { SlackSide } from "../../app/slack-side.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { SlackMeta, SlackMetaStore } from "../../store/slack-meta.ts";
import { SlackCallError } from "../../slack/errors.ts";
import type { SlackPoster } from "../../slack/poster.ts";

export type { SlackPoster } from "../../slack/poster.ts";
import type { EffectJob, EffectQueue } from "../queues.ts";
import { isRefresh, planRender, renderIntervalMs } from "../../engine/render-budget.ts";

/**
 * Make Slack show the record: post the parent message once, chat.update it when its rendering changed,
 * and post each new event in its thread, in order, once. Runs under a per-rollout lease so two syncs never
 * interleave; bookkeeping (ts, last posted event, rendering hash) is written right after each Slack call.
 */

export type SlackSyncDeps = {
  store: RolloutStore;
  meta: SlackMetaStore;
  slack: SlackPoster;
  slackSide: Pick<SlackSide, "message" | "threadReply" | "startRejected" | "cannotPost" | "turnLater">;
  log: Logger;
  /** For updates the per-message budget holds back, and refreshes the workspace's Slack budget defers. */
  queue: Pick<EffectQueue, "slackSyncAt" | "slackRefreshAt">;
  now: () => number;
};

export async function slackSyncJob(deps: SlackSyncDeps, job: EffectJob): Promise<void> {
  const { store, meta, slack } = deps;
  const ids = parseRolloutId(job.rolloutId);
  if (!ids) return;
  await store.withLease(job.rolloutId, "slack", async () => {
    const r = await store.get(job.rolloutId);
    if (!r) return;
    const m = await meta.get(r.id);

    if (!m.ts) {
      if (r.status === "starting") return; // post once the mesh accepted it: a rejection stays private
      if (r.status === "rejected") {
        if (!m.rejectionSent) {
          await tellStarter(deps, r, () => deps.slackSide.startRejected(r));
          await meta.set(r.id, { rejectionSent: 1 });
        }
        return;
      }
    }

    // The Slack budget's put-off of the update, handed on once the thread is done (the worker puts the job back).
    let updateLater: { err: unknown } | undefined;
    const rendered = deps.slackSide.message(r);
    const hash = hashOf(rendered);
    const stateHash = stateHashOf(deps.slackSide, r);
    let ts = m.ts;
    if (!ts) {
      try {
        ts = (await slack.postMessage({ channel: r.channel, text: rendered.text, blocks: rendered.blocks })).ts;
      } catch (err) {
        // Slack will keep refusing (the bot is not in the channel, the channel is archived): say so to the
        // starter once instead of retrying; the rollout itself goes on and /rollout status shows it.
        const code = platformError(err);
        if (!code || m.rejectionSent) throw err;
        await tellStarter(deps, r, (where) => deps.slackSide.cannotPost(r, code, where));
        await meta.set(r.id, { rejectionSent: 1 });
        return;
      }
      await meta.set(r.id, { ts, renderedHash: hash, stateHash, updatedAt: deps.now() });
    } else {
      const next = { hash, stateHash, ...(r.snapshot?.askedAt !== undefined ? { askedAt: r.snapshot.askedAt } : {}) };
      const plan = planRender(next, m, deps.now(), renderIntervalMs(r));
      if (plan.kind === "now" && isRefresh(next, m)) {
        await refresh(deps, job, r, m, { ts, rendered, hash, stateHash });
      } else if (plan.kind === "now") {
        try {
          await slack.update({ channel: r.channel, ts, text: rendered.text, blocks: rendered.blocks });
          // A deferred try that found a change of state to show has shown the newest reading with it.
          await meta.set(r.id, { renderedHash: hash, stateHash, updatedAt: deps.now(), ...(job.refresh ? { deferredAt: 0 } : {}) });
        } catch (err) {
          // chat.update's budget is the workspace's tightest: the thread's events (an abort alert) do not
          // wait for it; the job is put back for the update once they are posted.
          if (!deps.slackSide.turnLater(err)) throw err;
          updateLater = { err };
        }
      } else {
        if (job.refresh && m.deferredAt !== undefined) await meta.set(r.id, { deferredAt: 0 }); // nothing left to refresh
        if (plan.kind === "later") await deps.queue.slackSyncAt(r.id, plan.at, deps.now());
      }
    }
    for (const e of eventsAfter(r, m.postedSeq)) {
      const { text, blocks, broadcast } = deps.slackSide.threadReply(r, e);
      try {
        await slack.postMessage({ channel: r.channel, thread_ts: ts, text, ...(blocks ? { blocks } : {}), ...(broadcast ? { reply_broadcast: true } : {}) });
      } catch (err) {
        // One event Slack refuses must not hold back every later one: fall back to plain text, then skip it.
        if (!platformError(err)) throw err;
        deps.log.error({ err, rolloutId: r.id, seq: e.seq }, "Slack refused a thread message");
        await slack
          .postMessage({ channel: r.channel, thread_ts: ts, text: text.slice(0, 3_000), ...(broadcast ? { reply_broadcast: true } : {}) })
          .catch((again: unknown) => {
            if (!platformError(again)) throw again;
          });
      }
      await meta.set(r.id, { postedSeq: e.seq });
    }
    if (updateLater) throw updateLater.err;
  });
}

/**
 * Tell the person who started the rollout, privately: through the command's response_url; a form has none,
 * so an ephemeral in the rollout's channel, or a direct message where Slack refuses that (the bot or the
 * person is not in the channel). Slack refusing both is logged, not retried: it would refuse again.
 */
async function tellStarter(deps: SlackSyncDeps, r: Rollout, words: (where: "channel" | "dm") => string): Promise<void> {
  if (r.responseUrl) {
    try {
      return await deps.slack.respond(r.responseUrl, { text: words("channel") });
    } catch (err) {
      // An expired or used-up response_url answers 404 again however often it is asked.
      if (!(err instanceof SlackCallError) || err.transient) throw err;
      deps.log.error({ err, rolloutId: r.id }, "Slack refused the reply to the starter's command");
      return;
    }
  }
  try {
    return await deps.slack.postEphemeral({ channel: r.channel, user: r.startedBy, text: words("channel") });
  } catch (err) {
    if (!platformError(err)) throw err;
    deps.log.info({ rolloutId: r.id, error: platformError(err) }, "Slack refused the ephemeral to the starter; sending a direct message");
  }
  try {
    await deps.slack.postMessage({ channel: r.startedBy, text: words("dm") });
  } catch (err) {
    if (!platformError(err)) throw err;
    deps.log.error({ err, rolloutId: r.id }, "Slack refused to tell the starter privately");
  }
}

/** A deferred refresh counts as pending until this long after it was due (then it is taken as lost). */
const PENDING_GRACE_MS = 60_000;

/**
 * A message whose reading alone changed: sent when the workspace's Slack budget has room above what it
 * keeps for changes of state, else deferred to a slot of the budget's calendar. One deferred try per
 * message at a time; readings that arrive meanwhile wait for it, and it shows the newest one.
 */
async function refresh(
  deps: SlackSyncDeps,
  job: EffectJob,
  r: Rollout,
  m: SlackMeta,
  msg: { ts: string; rendered: ReturnType<SlackSide["message"]>; hash: string; stateHash: string },
): Promise<void> {
  const now = deps.now();
  if (!job.refresh && m.deferredAt !== undefined && now < m.deferredAt + PENDING_GRACE_MS) return;
  const sent = await deps.slack.refresh({ channel: r.channel, ts: msg.ts, text: msg.rendered.text, blocks: msg.rendered.blocks });
  if (sent.ok) {
    await deps.meta.set(r.id, { renderedHash: msg.hash, stateHash: msg.stateHash, updatedAt: deps.now(), deferredAt: 0 });
    return;
  }
  const at = await deps.slack.refreshRetryAt(now);
  await deps.meta.set(r.id, { deferredAt: at });
  await deps.queue.slackRefreshAt(r.id, at, now);
}

/** The hash of a message's rendering without its reading: where it differs, the state changed (render-budget.ts). */
export function stateHashOf(slackSide: Pick<SlackSide, "message">, r: Rollout): string {
  return hashOf(slackSide.message({ ...r, snapshot: undefined }));
}

function hashOf(value: unknown): string {
  return createHash("sha1").update(JSON.stringify(value)).digest("hex");
}

/** Slack's own refusal (`{ok:false,error}`), as opposed to a network error or a rate limit worth retrying. */
function platformError(err: unknown): string | undefined {
  const e = err as { code?: string; data?: { error?: string } };
  return e?.code === "slack_webapi_platform_error" ? (e.data?.error ?? "error") : undefined;
}

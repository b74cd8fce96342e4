import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { isTerminal } from "../../engine/rollout.ts";
import type { Board, SlackSide } from "../../app/slack-side.ts";
import type { SlackSurfaces } from "../../slack/surfaces-api.ts";
import type { HomeViewers } from "../../store/home-viewers.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { SlackMetaStore } from "../../store/slack-meta.ts";
import type { EffectJob } from "../queues.ts";
import type { ChannelVisibility } from "../../slack/channel-visibility.ts";

/**
 * Publish App Home boards: one person's (they just opened the tab, or need an answer there), or, coalesced
 * (one job per few seconds, see EffectQueue.homeSoon), everyone's who opened it recently, skipping people
 * whose board has not changed since it was last sent.
 */
export type HomeDeps = {
  store: RolloutStore;
  meta: SlackMetaStore;
  homeViewers: HomeViewers;
  surfaces: SlackSurfaces;
  slackSide: Pick<SlackSide, "home" | "turnLater">;
  log: Logger;
  now: () => number;
  /** Each person's board shows only rollouts of channels they can see (absent: everything). */
  channels?: ChannelVisibility;
};

const ENDED_SHOWN = 10;

async function board(deps: HomeDeps): Promise<Board> {
  const [active, recent] = await Promise.all([deps.store.active(), deps.store.recent(50)]);
  const running = await Promise.all(
    active.map(async (rollout) => {
      const m = await deps.meta.get(rollout.id);
      // Asked of Slack once per message (a permalink never changes), not once per board and rollout: a
      // thousand running rollouts would otherwise spend the Slack budget on links. A missing link is not
      // worth failing the board for.
      let link = m.permalink;
      if (!link && m.ts) {
        link = await deps.surfaces.permalink(rollout.channel, m.ts).catch(() => undefined);
        if (link) await deps.meta.set(rollout.id, { permalink: link });
      }
      return { rollout, ...(link ? { link } : {}) };
    }),
  );
  const ended = recent.filter((r) => isTerminal(r) && r.status !== "rejected").slice(0, ENDED_SHOWN);
  return { running, ended };
}

/** The board as `userId` may see it: rollouts they started, and of channels they can see (public, or they are a member). */
async function visibleBoard(deps: HomeDeps, b: Board, userId: string): Promise<Board> {
  const channels = deps.channels;
  if (!channels) return b;
  const can = new Map<string, Promise<boolean>>();
  const sees = (channel: string) => {
    let p = can.get(channel);
    if (!p) can.set(channel, (p = channels.canSee(userId, channel)));
    return p;
  };
  const running = await Promise.all(b.running.map(async (x) => (x.rollout.startedBy === userId || (await sees(x.rollout.channel)) ? [x] : [])));
  const ended = await Promise.all(b.ended.map(async (r) => (r.startedBy === userId || (await sees(r.channel)) ? [r] : [])));
  return { ...b, running: running.flat(), ended: ended.flat() };
}

export async function homeJob(deps: HomeDeps, job: EffectJob): Promise<void> {
  const people = job.userId ? [job.userId] : await deps.homeViewers.recent(deps.now());
  if (!people.length) return; // nobody looks: no board to build (nor links to ask Slack for)
  const all = await board(deps);
  for (const userId of people) {
    const b = await visibleBoard(deps, all, userId);
    const view = deps.slackSide.home(b);
    const hash = createHash("sha1").update(JSON.stringify(view)).digest("hex");
    if (job.notice) {
      await deps.surfaces.publishHome(userId, deps.slackSide.home({ ...b, notice: job.notice }));
      await deps.homeViewers.sent(userId, "notice"); // the next board replaces the notice
      continue;
    }
    if (!job.userId && (await deps.homeViewers.lastSent(userId)) === hash) continue;
    try {
      await deps.surfaces.publishHome(userId, view);
      await deps.homeViewers.sent(userId, hash);
    } catch (err) {
      // Over the Slack budget: the job waits in line and carries on from this person (the others are done).
      if (deps.slackSide.turnLater(err)) throw err;
      // One person's board (a deactivated user, say) must not hold back everyone else's.
      deps.log.warn({ err, userId }, "could not publish an App Home board");
    }
  }
}

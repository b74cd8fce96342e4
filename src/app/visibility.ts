import type { Rollout } from "../engine/rollout.ts";
import type { ChannelVisibility } from "../slack/channel-visibility.ts";

export type { ChannelVisibility } from "../slack/channel-visibility.ts";

type VisibilityDeps = { channels?: ChannelVisibility | undefined };

/**
 * Reads show a person only rollouts of channels they can see (public, or they are a member), and the ones
 * they started (a direct message with the bot included). Without a visibility source wired in (unit tests,
 * tools) everything is shown.
 */
export async function visibleTo<T extends Pick<Rollout, "channel" | "startedBy">>(deps: VisibilityDeps, userId: string, rollouts: readonly T[]): Promise<T[]> {
  const channels = deps.channels;
  if (!channels) return [...rollouts];
  const seen = new Map<string, Promise<boolean>>();
  const can = (c: string) => {
    let p = seen.get(c);
    if (!p) seen.set(c, (p = channels.canSee(userId, c)));
    return p;
  };
  const answers = await Promise.all(rollouts.map((r) => (r.startedBy === userId ? Promise.resolve(true) : can(r.channel))));
  return rollouts.filter((_, i) => answers[i]);
}

/** Whether a person can see one rollout: they started it, or can see its channel. */
export async function canSeeRollout(deps: VisibilityDeps, userId: string, r: Pick<Rollout, "channel" | "startedBy">): Promise<boolean> {
  return r.startedBy === userId || canSeeChannel(deps, userId, r.channel);
}

/** Whether a person can see one channel (no visibility source: yes). */
export async function canSeeChannel(deps: VisibilityDeps, userId: string, channelId: string): Promise<boolean> {
  return deps.channels ? deps.channels.canSee(userId, channelId) : true;
}

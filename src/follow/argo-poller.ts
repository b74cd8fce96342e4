import type { Logger } from "pino";
import { followArgo, argoRolloutName, type FollowDeps } from "../app/argo-follow.ts";
import type { Target } from "../engine/target.ts";
import { everyTarget } from "./every-target.ts";
import type { SlackPoster } from "../slack/poster.ts";
import { argoRefusalText } from "../slack/views/argo-refusal.ts";

/**
 * The clock that follows every `router: argo-rollouts` target: one reading per target per its
 * `pollInterval` (see src/controllers/argo-rollouts.ts for why a periodic GET, not a watch). A target that
 * cannot be followed (no such Rollout, blue-green, unreadable) is said once in its channel, and again only
 * when the reason changes; nothing is written to the cluster for it.
 */
export type ArgoPoller = { stop(): Promise<void>; pollOnce(target: Target): Promise<void> };

export function startArgoPoller(deps: FollowDeps & { slack: Pick<SlackPoster, "postMessage"> }, targets: Target[], log: Logger): ArgoPoller {
  const said = new Map<string, string>();

  const pollOnce = async (t: Target): Promise<void> => {
    try {
      const out = await followArgo(deps, t);
      if (out.kind !== "refused") {
        said.delete(t.name);
        return;
      }
      const key = `${out.why}:${out.message ?? ""}`;
      if (said.get(t.name) === key) return;
      said.set(t.name, key);
      const { namespace, name } = argoRolloutName(t);
      log.warn({ target: t.name, why: out.why }, "cannot follow the Argo Rollout");
      await deps.slack.postMessage({ channel: t.argoRollouts!.channel, text: argoRefusalText(t.name, `${namespace}/${name}`, out) });
    } catch (err) {
      log.warn({ err, target: t.name }, "could not read the Argo Rollout; trying again next interval");
    }
  };

  const clock = everyTarget(targets, (t) => t.argoRollouts?.pollInterval ?? 5_000, pollOnce);
  return { pollOnce, stop: () => clock.stop() };
}

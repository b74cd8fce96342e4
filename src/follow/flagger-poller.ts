import type { Logger } from "pino";
import { flaggerCanaryRef, followFlagger, type FlaggerFollowDeps } from "../app/flagger-follow.ts";
import type { Target } from "../engine/target.ts";
import { everyTarget } from "./every-target.ts";
import type { SlackPoster } from "../slack/poster.ts";
import { flaggerProblemText } from "../slack/views/flagger-refusal.ts";

/**
 * The clock that reads every `router: flagger` target's Canary: once at start-up, then every
 * `flagger.pollInterval`. A Canary that is missing, unreadable, or whose webhooks would never reach the bot
 * (or carry another token) is said once in the target's channel and logged, and again only when the reason
 * changes; a reading that changes the running revision's record updates its message.
 */
export type FlaggerPoller = { stop(): Promise<void>; pollOnce(target: Target): Promise<void> };

export function startFlaggerPoller(deps: FlaggerFollowDeps & { slack: Pick<SlackPoster, "postMessage"> }, targets: Target[], log: Logger): FlaggerPoller {
  const said = new Map<string, string>();

  const pollOnce = async (t: Target): Promise<void> => {
    try {
      const out = await followFlagger(deps, t);
      const problem = out.kind === "refused" ? out : out.problem;
      if (!problem) {
        said.delete(t.name);
        return;
      }
      const key = JSON.stringify(problem);
      if (said.get(t.name) === key) return;
      said.set(t.name, key);
      const { namespace, name } = flaggerCanaryRef(t);
      log.warn({ target: t.name, canary: `${namespace}/${name}`, why: problem.why }, "the Flagger Canary cannot be gated as configured");
      await deps.slack.postMessage({ channel: t.flagger!.channel, text: flaggerProblemText(t.name, `${namespace}/${name}`, problem) });
    } catch (err) {
      log.warn({ err, target: t.name }, "could not read the Flagger Canary; trying again next interval");
    }
  };

  const clock = everyTarget(targets, (t) => t.flagger?.pollInterval ?? 10_000, pollOnce);
  return { pollOnce, stop: () => clock.stop() };
}

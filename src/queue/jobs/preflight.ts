import { redactUrlsIn } from "../../engine/urls.ts";
import type { Logger } from "pino";
import { preflightPlan, type PreflightProblem } from "../../engine/preflight.ts";
import { withProblem, type Rollout } from "../../engine/rollout.ts";
import { kubeNamespace, type Target } from "../../engine/target.ts";
import { KubeApiError } from "../../kube/call.ts";
import type { Preflight } from "../../kube/preflight.ts";
import type { SlackSide } from "../../app/slack-side.ts";
import { botChanges, botDecides } from "../../app/bot-decide.ts";
import type { DecideDeps } from "../../app/decide.ts";

/**
 * Preflight in the worker: before a start's first write (a refusal is private and changes nothing), and on
 * each periodic check while the rollout runs (a canary that stops being ready holds an automatic rollout,
 * with an alert; a manual one shows it on the message until the canary is ready again).
 */

/** Why the start must not go ahead, or undefined. An API that cannot be reached right now is retried (throws). */
export async function preflightRefusal(
  deps: { preflight: Preflight; slackSide: Pick<SlackSide, "preflightProblems"> },
  target: Target,
  pair: { stable: string; canary: string },
): Promise<string | undefined> {
  try {
    const problems = await deps.preflight.start(target, pair);
    return problems.length ? deps.slackSide.preflightProblems(problems) : undefined;
  } catch (err) {
    if (err instanceof KubeApiError && !err.transient)
      return `could not check the workloads in namespace \`${preflightPlan(target, pair)?.namespace ?? kubeNamespace(target)}\`: ${redactUrlsIn(err.message)}`;
    throw err;
  }
}

/** How the message's problem line about an unready canary begins; also how it is recognised to clear it. */
export const CANARY_NOT_READY = "Canary not ready";

export type CanaryWatchDeps = DecideDeps & { preflight?: Preflight; slackSide: Pick<SlackSide, "preflightProblems">; log: Logger };

/**
 * The canary's readiness on a periodic check. Only a running rollout with traffic on the canary is judged;
 * a reading the API cannot give now (an outage, no rights) says nothing about the canary and changes nothing.
 */
export async function watchCanary(deps: CanaryWatchDeps, r: Rollout): Promise<"held" | undefined> {
  if (!deps.preflight || (r.status !== "active" && r.status !== "held") || r.appliedPercent === null) return;
  let problems: PreflightProblem[];
  try {
    problems = await deps.preflight.canary(r.target, { stable: r.stable, canary: r.canary });
  } catch (err) {
    deps.log.warn({ rolloutId: r.id, err: err instanceof Error ? err.message : String(err) }, "could not read the canary's readiness");
    return;
  }
  const shown = r.problem?.startsWith(CANARY_NOT_READY) ?? false;
  if (!problems.length) {
    if (shown) await botChanges(deps, r.id, (x) => (x.problem?.startsWith(CANARY_NOT_READY) ? withProblem(x, undefined, deps.now()) : x));
    return undefined;
  }
  const why = `${CANARY_NOT_READY}: ${deps.slackSide.preflightProblems(problems)}`;
  if (r.auto && r.status === "active") {
    const alert = { code: "canary-not-ready", id: r.id, startedBy: r.startedBy, canary: r.canary, percent: r.appliedPercent, problems } as const;
    await botDecides(deps, r, "hold", why, alert, (x) => (x.status === "active" ? undefined : { code: "cannot-hold", id: x.id, status: x.status }));
    // The message says why too, until the canary is ready again (the thread has the alert already).
    await botChanges(deps, r.id, (x) => (x.status === "held" && !x.problem ? withProblem(x, why, deps.now(), false) : x));
    return "held";
  }
  // A manual rollout (or one already held): shown on the message, said once in the thread.
  if (r.problem !== why)
    await botChanges(deps, r.id, (x) => (x.problem && !x.problem.startsWith(CANARY_NOT_READY) ? x : withProblem(x, why, deps.now(), !shown)));
  return undefined;
}

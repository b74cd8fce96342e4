import { announceAutoStep, takeAutoStep, type AutoStepDeps } from "../../app/auto-step.ts";
import { rolloutById } from "../../app/refresh.ts";
import { meetDeadline, remindOfStage, warnOfDeadline } from "../../app/reminders.ts";
import { openGateOnTime } from "../../app/wave-gate.ts";
import { isTerminal, type Rollout } from "../../engine/rollout.ts";
import type { MetricsSources } from "../../metrics/registry.ts";
import type { EffectJob } from "../queues.ts";
import { readSnapshot } from "./snapshot.ts";
import { watchFinishedClusters, type WaveWatchDeps } from "./wave-watch.ts";

/**
 * The scheduled side of a rollout: the notice before an automatic step, the step itself, reminders for
 * manual stages, and the deadline. Each is a use case in `src/app`; this job only says which one is due. A
 * timer whose seq no longer matches the record fires for a stage that has moved on (a click, a Hold) and
 * does nothing.
 */

export type TimerDeps = AutoStepDeps & WaveWatchDeps & { metrics: MetricsSources };

export async function timerJob(deps: TimerDeps, job: EffectJob): Promise<void> {
  const r = await rolloutById(deps, job.rolloutId);
  if (!r || isTerminal(r) || !job.timer) return;
  // The deadline belongs to the rollout; the other timers to one stage, and do nothing once it has moved on.
  const currentStage = r.timers?.seq === job.version;
  switch (job.timer) {
    case "deadline-warn":
      return warnOfDeadline(deps, r);
    case "deadline":
      return meetDeadline(deps, r);
    case "auto-notice":
      return currentStage ? announceAutoStep(deps, r) : undefined;
    case "auto-step":
      return currentStage ? takeAutoStep(deps, r, deps.metrics.for(r.target) ? (x) => readSnapshot(deps, x) : undefined) : undefined;
    case "remind":
      return currentStage ? remindOfStage(deps, r) : undefined;
    case "wave-gate":
      // The gate opens on the wave as it is now: the finished clusters' routes, and the bake's last reading.
      return openGateOnTime(deps, r, job.version, {
        watch: (x) => watchFinishedClusters(deps, x),
        ...(deps.metrics.for(r.target) ? { read: (x: Rollout) => readSnapshot(deps, x) } : {}),
      });
  }
}

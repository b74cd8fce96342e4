import type { Logger } from "pino";
import type { ActDeps } from "../../control/act.ts";
import { decideAutoStep } from "../../engine/auto.ts";
import { isTerminal, withNote, withSnapshot, type Rollout } from "../../engine/rollout.ts";
import { noticeSent, remindAgain, waitForEvidence } from "../../engine/timers.ts";
import { describeVerdict } from "../../engine/verdict.ts";
import { formatDuration } from "../../engine/duration.ts";
import type { MetricsSources } from "../../metrics/registry.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import { slackTime } from "../../slack/views/format.ts";
import type { EffectJob, EffectQueue } from "../queues.ts";
import { decide } from "./decide.ts";
import { readSnapshot } from "./snapshot.ts";

/**
 * The scheduled side of a rollout: the notice before an automatic step, the step itself (decided by pure
 * engine code over a fresh reading), reminders for manual stages, and the deadline. A timer whose seq no
 * longer matches the record fires for a stage that has moved on (a click, a Hold) and does nothing.
 */

export type TimerDeps = ActDeps & { store: RolloutStore; queue: EffectQueue; metrics: MetricsSources; log: Logger; now: () => number };

/** How soon an automatic step looks again while it waits for evidence. */
const RETRY_CAP_MS = 30_000;

export async function timerJob(deps: TimerDeps, job: EffectJob): Promise<void> {
  const r = await deps.store.get(job.rolloutId);
  if (!r || isTerminal(r) || !job.timer) return;
  switch (job.timer) {
    case "deadline-warn":
      return deadlineWarning(deps, r);
    case "deadline":
      return deadline(deps, r);
  }
  if (r.timers?.seq !== job.version) return; // an outdated stage
  switch (job.timer) {
    case "auto-notice":
      return notice(deps, r);
    case "auto-step":
      return autoStep(deps, r);
    case "remind":
      return remind(deps, r);
  }
}

export async function change(deps: Pick<TimerDeps, "store" | "queue">, id: string, f: (r: Rollout) => Rollout): Promise<void> {
  const res = await deps.store.update(id, (x) => (isTerminal(x) ? x : f(x)));
  if (res.ok && res.changed) await deps.queue.afterUpdate(res.rollout);
}

function readingText(r: Rollout): string {
  return r.snapshot ? describeVerdict(r.snapshot.verdict) : "no success-rate reading yet";
}

async function notice(deps: TimerDeps, r: Rollout): Promise<void> {
  if (!r.auto || r.status !== "active" || !r.timers?.stepAt) return;
  const next = r.steps[r.stepIndex + 1];
  const what = next === undefined ? "Finishing (making it permanent)" : `Advancing to ${next}%`;
  const inMs = Math.max(0, r.timers.stepAt - deps.now());
  const text = `${what} at ${slackTime(r.timers.stepAt)} (in ${formatDuration(inMs)}) if the canary stays healthy: ${readingText(r)}. Press *Hold* to stop it.`;
  const seq = r.timers.seq;
  await change(deps, r.id, (x) => (x.timers?.seq === seq ? noticeSent(withNote(x, "notice", text, deps.now())) : x));
}

async function autoStep(deps: TimerDeps, r: Rollout): Promise<void> {
  if (!r.auto || r.status !== "active" || r.appliedPercent !== r.desiredPercent) return;
  const now = deps.now();
  const reading = deps.metrics.for(r.target) ? await readSnapshot(deps, r) : undefined;
  if (reading) await deps.store.update(r.id, (x) => (isTerminal(x) ? x : withSnapshot(x, reading)));
  const decision = decideAutoStep(r, reading, now, { maxWaitMs: r.auto.maxWaitMs, retryMs: Math.min(RETRY_CAP_MS, r.auto.intervalMs) });
  deps.log.info({ rolloutId: r.id, decision }, "automatic step");
  switch (decision.kind) {
    case "wait": {
      const seq = r.timers!.seq;
      return change(deps, r.id, (x) => (x.timers?.seq === seq ? waitForEvidence(x, now, decision.retryInMs) : x));
    }
    case "advance":
      return decide(deps, r, "advance", decision.why);
    case "finish":
      return decide(deps, r, "finish", decision.why);
    case "abort":
      return decide(deps, r, "abort", decision.why, `<@${r.startedBy}> rollout ${r.id} was *aborted automatically*: ${decision.why}. All traffic is going back to ${r.stable}.`);
    case "hold":
      return decide(deps, r, "hold", decision.why, `<@${r.startedBy}> rollout ${r.id} is *held*: ${decision.why}.`);
  }
}

async function remind(deps: TimerDeps, r: Rollout): Promise<void> {
  if (r.auto || r.status !== "active" || r.appliedPercent !== r.desiredPercent) return;
  const since = formatDuration(r.target.remind);
  const text = `<@${r.startedBy}> rollout ${r.id} has been at ${r.appliedPercent}% for ${since} with no decision: Advance, Hold or Abort? (${readingText(r)})`;
  const seq = r.timers!.seq;
  await change(deps, r.id, (x) => (x.timers?.seq === seq ? remindAgain(withNote(x, "reminder", text, deps.now()), deps.now(), { remindMs: x.target.remind }) : x));
}

async function deadlineWarning(deps: TimerDeps, r: Rollout): Promise<void> {
  const d = r.deadline;
  if (!d || r.events.some((e) => e.kind === "notice" && e.text?.includes("deadline"))) return;
  const text = `<@${r.startedBy}> rollout ${r.id} reaches its deadline at ${slackTime(d.at)} (in ${formatDuration(Math.max(0, d.at - deps.now()))}): it will then *${d.action}* unless it has finished.`;
  await change(deps, r.id, (x) => withNote(x, "notice", text, deps.now()));
}

async function deadline(deps: TimerDeps, r: Rollout): Promise<void> {
  const d = r.deadline;
  if (!d || deps.now() < d.at - 1_000) return;
  const why = `the deadline (${slackTime(d.at)}) passed before the rollout finished`;
  if (d.action === "abort") return decide(deps, r, "abort", why, `<@${r.startedBy}> rollout ${r.id} was *aborted*: ${why}.`);
  if (r.status === "active") return decide(deps, r, "hold", why, `<@${r.startedBy}> rollout ${r.id} is *held*: ${why}.`);
}

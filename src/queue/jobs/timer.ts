import type { Logger } from "pino";
import type { ActDeps } from "../../control/act.ts";
import type { AccessControl } from "../../control/access.ts";
import { decideAutoStep, waitOrHold, type AutoDecision } from "../../engine/auto.ts";
import type { Decision } from "../../engine/policy.ts";
import { isTerminal, withNote, withSnapshot, type Rollout } from "../../engine/rollout.ts";
import { autoOnBehalfOf, noticeSent, remindAgain, waitForEvidence } from "../../engine/timers.ts";
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

export type TimerDeps = ActDeps & {
  store: RolloutStore;
  queue: EffectQueue;
  metrics: MetricsSources;
  /** The policy, for the final step the bot takes for whoever turned automatic steps on. */
  access: Pick<AccessControl, "finalStepOnBehalf">;
  log: Logger;
  now: () => number;
};

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
  const at = r.timers.stepAt;
  const when = `at ${slackTime(at)} (in ${formatDuration(Math.max(0, at - deps.now()))})`;
  const may = next === undefined || next === 100 ? await mayTakeFinalStep(deps, r) : { ok: true as const };
  // When Slack cannot say who is in a group right now, the step checks again when it comes.
  const text = may.ok || may.unknown
    ? `${next === undefined ? "Finishing (making it permanent)" : `Advancing to ${next}%`} ${when} if the canary stays healthy: ${readingText(r)}. Press *Hold* to stop it.`
    : `Automatic steps stop at ${r.appliedPercent}% ${when}: ${may.reason}. Someone who may can then take it further.`;
  const seq = r.timers.seq;
  await change(deps, r.id, (x) => (x.timers?.seq === seq ? noticeSent(withNote(x, "notice", text, deps.now())) : x));
}

/** The final step (to 100%, or Finish) is taken for whoever turned automatic steps on, with their rights. */
function mayTakeFinalStep(deps: TimerDeps, r: Rollout): Promise<Decision> {
  return deps.access.finalStepOnBehalf(autoOnBehalfOf(r), r.target.name, r.startedBy);
}

function isFinalStep(d: AutoDecision): boolean {
  return d.kind === "finish" || (d.kind === "advance" && d.to === 100);
}

async function autoStep(deps: TimerDeps, r: Rollout): Promise<void> {
  if (!r.auto || r.status !== "active" || r.appliedPercent !== r.desiredPercent || !r.timers) return;
  const now = deps.now();
  const seq = r.timers.seq;
  const reading = deps.metrics.for(r.target) ? await readSnapshot(deps, r) : undefined;
  if (reading) await deps.store.update(r.id, (x) => (isTerminal(x) ? x : withSnapshot(x, reading)));
  const waiting = { maxWaitMs: r.auto.maxWaitMs, retryMs: Math.min(RETRY_CAP_MS, r.auto.intervalMs) };
  let decision = decideAutoStep(r, reading, now, waiting);
  // A step forward is for the stage this timer was planned for: a Hold and a Resume while the reading was
  // taken start the stage's clock again, and this step must then wait for the new one. (An abort stands.)
  const sameStage = (x: Rollout) => (x.timers?.seq === seq ? undefined : "the stage's clock was restarted while the reading was taken");
  if (isFinalStep(decision)) {
    const may = await mayTakeFinalStep(deps, r);
    // Slack could not say who is in the group: not a "no". Look again like any wait for evidence (and,
    // after maxWait of it, hold for a person), rather than giving up automatic steps over a hiccup.
    if (!may.ok && may.unknown) decision = waitOrHold(r, now, waiting, `could not check the right to take the final step: ${may.reason}`);
    else if (!may.ok) {
      const button = decision.kind === "finish" ? "*Finish*" : "*Advance to 100%*";
      const alert = `Rollout ${r.id}: automatic steps stopped at ${r.appliedPercent}% with a healthy canary: ${may.reason}. Someone who may can press ${button}.`;
      return decide(deps, r, "manual", `automatic steps stop before the final step: ${may.reason}`, alert, sameStage);
    }
  }
  deps.log.info({ rolloutId: r.id, decision }, "automatic step");
  switch (decision.kind) {
    case "wait": {
      if (r.auto.waitingSince === undefined) await auditWait(deps, r, decision.why, now);
      return change(deps, r.id, (x) => (x.timers?.seq === seq ? waitForEvidence(x, now, decision.retryInMs) : x));
    }
    case "advance":
      return decide(deps, r, "advance", decision.why, undefined, sameStage);
    case "finish":
      return decide(deps, r, "finish", decision.why, undefined, sameStage);
    case "abort":
      return decide(deps, r, "abort", decision.why, `<@${r.startedBy}> rollout ${r.id} was *aborted automatically*: ${decision.why}. All traffic is going back to ${r.stable}.`);
    case "hold":
      return decide(deps, r, "hold", decision.why, `<@${r.startedBy}> rollout ${r.id} is *held*: ${decision.why}.`, sameStage);
  }
}

/** The first time a stage waits for evidence goes to the audit trail (not every look again). */
async function auditWait(deps: TimerDeps, r: Rollout, why: string, now: number): Promise<void> {
  await deps.audit
    .append({
      at: now,
      actor: `bot:auto: ${why}`,
      action: "wait",
      via: "auto",
      outcome: "done",
      rolloutId: r.id,
      target: r.target.name,
      ...(r.appliedPercent !== null ? { before: r.appliedPercent, after: r.appliedPercent } : {}),
      reason: `waiting for a verdict (${why}), at most ${formatDuration(r.auto?.maxWaitMs ?? 0)}`,
    })
    .catch((err: unknown) => deps.log.error({ err, rolloutId: r.id }, "could not append to the audit trail"));
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

import type { Logger } from "pino";
import type { DecideDeps } from "../../app/decide.ts";
import type { AccessControl } from "../../app/access.ts";
import { botDecides } from "../../app/bot-decide.ts";
import { decideAutoStep, waitOrHold, type AutoDecision } from "../../engine/auto.ts";
import type { Decision } from "../../engine/policy.ts";
import { isTerminal, withNote, withSnapshot, type Rollout } from "../../engine/rollout.ts";
import type { BotNote } from "../../engine/notes.ts";
import type { Refusal } from "../../engine/refusal.ts";
import type { Verdict } from "../../engine/verdict.ts";
import { describeVerdict } from "../../slack/views/verdict-text.ts";
import { autoOnBehalfOf, noticeSent, remindAgain, waitForEvidence } from "../../engine/timers.ts";
import { formatDuration } from "../../engine/duration.ts";
import type { MetricsSources } from "../../metrics/registry.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { EffectJob, EffectQueue } from "../queues.ts";
import { readSnapshot } from "./snapshot.ts";

/**
 * The scheduled side of a rollout: the notice before an automatic step, the step itself (decided by pure
 * engine code over a fresh reading), reminders for manual stages, and the deadline. A timer whose seq no
 * longer matches the record fires for a stage that has moved on (a click, a Hold) and does nothing.
 */

export type TimerDeps = DecideDeps & {
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
  // The deadline belongs to the rollout; the other timers to one stage, and do nothing once it has moved on.
  const currentStage = r.timers?.seq === job.version;
  switch (job.timer) {
    case "deadline-warn":
      return deadlineWarning(deps, r);
    case "deadline":
      return deadline(deps, r);
    case "auto-notice":
      return currentStage ? notice(deps, r) : undefined;
    case "auto-step":
      return currentStage ? autoStep(deps, r) : undefined;
    case "remind":
      return currentStage ? remind(deps, r) : undefined;
  }
}

export async function change(deps: Pick<TimerDeps, "store" | "queue">, id: string, f: (r: Rollout) => Rollout): Promise<void> {
  const res = await deps.store.update(id, (x) => (isTerminal(x) ? x : f(x)));
  if (res.ok && res.value.changed) await deps.queue.afterUpdate(res.value.rollout);
}

/** The latest reading, for notes that quote it. */
function reading(r: Rollout): { verdict?: Verdict } {
  return r.snapshot ? { verdict: r.snapshot.verdict } : {};
}

async function notice(deps: TimerDeps, r: Rollout): Promise<void> {
  if (!r.auto || r.status !== "active" || !r.timers?.stepAt) return;
  const next = r.steps[r.stepIndex + 1];
  const at = r.timers.stepAt;
  const inMs = Math.max(0, at - deps.now());
  const may = next === undefined || next === 100 ? await mayTakeFinalStep(deps, r) : undefined;
  // When Slack cannot say who is in a group right now, the step checks again when it comes.
  const note: BotNote =
    !may || may.ok || may.error.unknown
      ? { code: "auto-step-coming", ...(next !== undefined ? { next } : {}), at, inMs, ...reading(r) }
      : { code: "auto-will-stop", percent: r.appliedPercent, at, inMs, refusal: may.error };
  const seq = r.timers.seq;
  await change(deps, r.id, (x) => (x.timers?.seq === seq ? noticeSent(withNote(x, "notice", note, deps.now())) : x));
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
  const waiting = { maxWaitMs: r.auto.maxWaitMs, retryMs: Math.min(RETRY_CAP_MS, r.auto.intervalMs), describe: describeVerdict };
  let decision = decideAutoStep(r, reading, now, waiting);
  // A step forward is for the stage this timer was planned for: a Hold and a Resume while the reading was
  // taken start the stage's clock again, and this step must then wait for the new one. (An abort stands.)
  const sameStage = (x: Rollout): Refusal | undefined => (x.timers?.seq === seq ? undefined : { code: "stage-restarted" });
  if (isFinalStep(decision)) {
    const may = await mayTakeFinalStep(deps, r);
    // Slack could not say who is in the group: not a "no". Look again like any wait for evidence (and,
    // after maxWait of it, hold for a person), rather than giving up automatic steps over a hiccup.
    if (!may.ok && may.error.unknown)
      decision = waitOrHold(r, now, waiting, `could not check the right to take the final step: ${deps.words.refusal(may.error)}`);
    else if (!may.ok) {
      const alert: BotNote = {
        code: "auto-stopped",
        id: r.id,
        percent: r.appliedPercent,
        refusal: may.error,
        final: decision.kind === "finish" ? "finish" : "advance",
      };
      return botDecides(deps, r, "manual", `automatic steps stop before the final step: ${deps.words.refusal(may.error)}`, alert, sameStage);
    }
  }
  deps.log.info({ rolloutId: r.id, decision }, "automatic step");
  switch (decision.kind) {
    case "wait": {
      if (r.auto.waitingSince === undefined) await auditWait(deps, r, decision.why, now);
      return change(deps, r.id, (x) => (x.timers?.seq === seq ? waitForEvidence(x, now, decision.retryInMs) : x));
    }
    case "advance":
      return botDecides(deps, r, "advance", decision.why, undefined, sameStage);
    case "finish":
      return botDecides(deps, r, "finish", decision.why, undefined, sameStage);
    case "abort":
      return botDecides(deps, r, "abort", decision.why, { code: "auto-aborted", id: r.id, startedBy: r.startedBy, why: decision.why, stable: r.stable });
    case "hold":
      return botDecides(deps, r, "hold", decision.why, { code: "auto-held", id: r.id, startedBy: r.startedBy, why: decision.why }, sameStage);
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
  const note: BotNote = { code: "remind", id: r.id, startedBy: r.startedBy, percent: r.appliedPercent, forMs: r.target.remind, ...reading(r) };
  const seq = r.timers!.seq;
  await change(deps, r.id, (x) =>
    x.timers?.seq === seq ? remindAgain(withNote(x, "reminder", note, deps.now()), deps.now(), { remindMs: x.target.remind }) : x,
  );
}

async function deadlineWarning(deps: TimerDeps, r: Rollout): Promise<void> {
  const d = r.deadline;
  if (!d || r.events.some((e) => e.kind === "notice" && e.note?.code === "deadline-coming")) return;
  const note: BotNote = { code: "deadline-coming", id: r.id, startedBy: r.startedBy, at: d.at, inMs: Math.max(0, d.at - deps.now()), action: d.action };
  await change(deps, r.id, (x) => withNote(x, "notice", note, deps.now()));
}

async function deadline(deps: TimerDeps, r: Rollout): Promise<void> {
  const d = r.deadline;
  if (!d || deps.now() < d.at - 1_000) return;
  const why = `the deadline (${new Date(d.at).toISOString()}) passed before the rollout finished`;
  const alert: BotNote = { code: "deadline-passed", id: r.id, startedBy: r.startedBy, at: d.at, action: d.action };
  if (d.action === "abort") return botDecides(deps, r, "abort", why, alert);
  if (r.status === "active") return botDecides(deps, r, "hold", why, alert);
}

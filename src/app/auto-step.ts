import { targetKey } from "../engine/target.ts";
import type { Logger } from "pino";
import { decideAutoStep, waitOrHold, type AutoDecision } from "../engine/auto.ts";
import { formatDuration } from "../engine/duration.ts";
import type { BotNote } from "../engine/notes.ts";
import type { Decision } from "../engine/policy.ts";
import type { Refusal } from "../engine/refusal.ts";
import { isTerminal, parseRolloutId, withNote, withSnapshot, type Rollout, type StoredSnapshot } from "../engine/rollout.ts";
import { autoOnBehalfOf, noticeSent, waitForEvidence } from "../engine/timers.ts";
import { finishBlockedBy } from "../engine/wave-rollout.ts";
import type { Verdict } from "../engine/verdict.ts";
import type { AccessControl } from "./access.ts";
import { botChanges, botDecides } from "./bot-decide.ts";
import type { DecideDeps } from "./decide.ts";

/**
 * The bot's automatic steps: the notice before a step, and the step itself (decided by pure engine code over
 * a fresh reading). The final step (to 100%, or Finish) is taken for whoever turned automatic steps on, with
 * their rights, so the policy is asked here, once per notice and once per step.
 */

export type AutoStepDeps = DecideDeps & {
  /** The policy, for the final step the bot takes for whoever turned automatic steps on. */
  access: Pick<AccessControl, "finalStepOnBehalf">;
  log: Logger;
};

/** Takes a fresh success-rate reading of a rollout (the worker's metrics side). */
export type ReadReading = (r: Rollout) => Promise<StoredSnapshot>;

/** How soon an automatic step looks again while it waits for evidence. */
const RETRY_CAP_MS = 30_000;

/** The latest reading, for notes that quote it. */
export function latestReading(r: Rollout): { verdict?: Verdict } {
  return r.snapshot ? { verdict: r.snapshot.verdict } : {};
}

/** Say in the thread that an automatic step is coming (or that automatic steps will stop before it). */
export async function announceAutoStep(deps: AutoStepDeps, r: Rollout): Promise<void> {
  if (!r.auto || r.status !== "active" || !r.timers?.stepAt) return;
  const next = r.steps[r.stepIndex + 1];
  const at = r.timers.stepAt;
  const inMs = Math.max(0, at - deps.now());
  const may = next === undefined || next === 100 ? await mayTakeFinalStep(deps, r) : undefined;
  // When Slack cannot say who is in a group right now, the step checks again when it comes.
  const note: BotNote =
    !may || may.ok || may.error.unknown
      ? { code: "auto-step-coming", ...(next !== undefined ? { next } : {}), at, inMs, ...latestReading(r) }
      : { code: "auto-will-stop", percent: r.appliedPercent, at, inMs, refusal: may.error };
  const seq = r.timers.seq;
  await botChanges(deps, r.id, (x) => (x.timers?.seq === seq ? noticeSent(withNote(x, "notice", note, deps.now())) : x));
}

/** The final step (to 100%, or Finish) is taken for whoever turned automatic steps on, with their rights. */
function mayTakeFinalStep(deps: AutoStepDeps, r: Rollout): Promise<Decision> {
  // The policy is the declared target's, named as the rollout's id names it (`shop@prod-eu`, or a wave's `shop`).
  return deps.access.finalStepOnBehalf(autoOnBehalfOf(r), parseRolloutId(r.id)?.target ?? r.target.name, r.startedBy);
}

function isFinalStep(d: AutoDecision): boolean {
  return d.kind === "finish" || (d.kind === "advance" && d.to === 100);
}

/**
 * Take the stage's automatic step: read (when the target has metrics), record the reading, decide, and
 * advance, finish, abort, hold or wait. `read` is absent for a target without a success-rate source.
 */
export async function takeAutoStep(deps: AutoStepDeps, r: Rollout, read: ReadReading | undefined): Promise<void> {
  if (!r.auto || r.status !== "active" || r.appliedPercent !== r.desiredPercent || !r.timers) return;
  const now = deps.now();
  const seq = r.timers.seq;
  let reading = read ? await read(r) : undefined;
  if (reading) {
    const fresh = reading;
    const stored = await deps.store.update(r.id, (x) => (isTerminal(x) ? x : withSnapshot(x, fresh)));
    // Decide on what is stored: a reading refused because another was folded in meanwhile would count the same
    // traffic twice; the stored one is at least as recent.
    reading = stored.ok && !stored.value.changed ? stored.value.rollout.snapshot : reading;
    if (!stored.ok) reading = r.snapshot;
  }
  const waiting = { maxWaitMs: r.auto.maxWaitMs, retryMs: Math.min(RETRY_CAP_MS, r.auto.intervalMs), describe: deps.words.verdict };
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
  // A wave's last Finish would make a finished cluster final over a change it has not seen through: a person decides.
  const blocked = decision.kind === "finish" ? finishBlockedBy(r) : undefined;
  if (blocked) decision = { kind: "hold", why: deps.words.refusal({ code: "wave-drifted", cluster: blocked }) };
  deps.log.info({ rolloutId: r.id, decision }, "automatic step");
  switch (decision.kind) {
    case "wait": {
      if (r.auto.waitingSince === undefined) await auditWait(deps, r, decision.why, now);
      return botChanges(deps, r.id, (x) => (x.timers?.seq === seq ? waitForEvidence(x, now, decision.retryInMs) : x));
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
async function auditWait(deps: AutoStepDeps, r: Rollout, why: string, now: number): Promise<void> {
  await deps.audit
    .append({
      at: now,
      actor: `bot:auto: ${why}`,
      action: "wait",
      via: "auto",
      outcome: "done",
      rolloutId: r.id,
      target: targetKey(r.target),
      ...(r.appliedPercent !== null ? { before: r.appliedPercent, after: r.appliedPercent } : {}),
      reason: `waiting for a verdict (${why}), at most ${formatDuration(r.auto?.maxWaitMs ?? 0)}`,
    })
    .catch((err: unknown) => deps.log.error({ err, rolloutId: r.id }, "could not append to the audit trail"));
}

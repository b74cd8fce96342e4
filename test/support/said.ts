import type { DecisionNote } from "../../src/engine/policy.ts";
import type { Refusal } from "../../src/engine/refusal.ts";
import type { Result } from "../../src/engine/result.ts";
import { decisionNoteText, refusalText } from "../../src/slack/views/refusal.ts";
import type { DurationProblem } from "../../src/engine/duration.ts";
import type { StepsProblem } from "../../src/engine/plan.ts";
import { durationProblemText, stepsProblemText } from "../../src/slack/views/problems.ts";

/**
 * A result as a person is told it in Slack: a refusal's words (and whether Slack could not say who is in a
 * group), a note's words, or the record that moved. The engine returns codes; these tests assert the words.
 */
export function said<T>(r: Result<T, Refusal>): { ok: false; reason: string; unknown?: true } | { ok: true; note?: string; rollout?: T } {
  if (!r.ok) return { ok: false, reason: refusalText(r.error), ...(r.error.code === "denied" && r.error.unknown ? { unknown: true as const } : {}) };
  const v = r.value as unknown;
  if (v && typeof v === "object" && "events" in v) return { ok: true, rollout: r.value };
  const note = (v as { note?: DecisionNote } | undefined)?.note;
  return note ? { ok: true, note: decisionNoteText(note) } : { ok: true };
}

/** A typed duration as the person is told it: the milliseconds, or the problem in words. */
export function saidDuration(r: Result<number, DurationProblem>): { ok: true; ms: number } | { ok: false; error: string } {
  return r.ok ? { ok: true, ms: r.value } : { ok: false, error: durationProblemText(r.error) };
}

/** Typed steps as the person is told them: the plan, or the problem in words. */
export function saidSteps(r: Result<number[], StepsProblem>): { ok: true; steps: number[] } | { ok: false; error: string } {
  return r.ok ? { ok: true, steps: r.value } : { ok: false, error: stepsProblemText(r.error) };
}

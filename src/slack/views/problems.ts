import type { DurationProblem } from "../../engine/duration.ts";
import { formatDuration } from "../../engine/duration.ts";
import type { StepsProblem } from "../../engine/plan.ts";
import { echo } from "./format.ts";

/**
 * Problems with typed values (steps, durations) in words. `quote` marks a value as the person wrote it:
 * inline code with mrkdwn escaped in Slack (the default); config errors on a terminal pass their own. Pure.
 */
export type Quote = (value: string) => string;

export function stepsProblemText(p: StepsProblem, quote: Quote = echo): string {
  switch (p.code) {
    case "empty":
      return "steps are empty: give at least `100`";
    case "too-many":
      return `${p.count} steps is too many (at most 20)`;
    case "not-whole":
      return `step ${p.typed ? quote(p.value) : `\`${p.value}\``} is not a whole number from 1 to 100`;
    case "not-increasing":
      return `steps must be strictly increasing: \`${p.prev}\` then \`${p.next}\``;
    case "last-not-100":
      return `the last step must be \`100\` (got \`${p.last}\`)`;
  }
}

export function durationProblemText(p: DurationProblem, quote: Quote = echo): string {
  switch (p.code) {
    case "not-duration":
      return `${quote(p.text)} is not a duration: write it like \`90s\`, \`10m\`, \`2h\` or \`1h30m\``;
    case "too-short":
      return `${quote(p.text)} is too short (at least ${formatDuration(p.minMs)})`;
    case "too-long":
      return `${quote(p.text)} is too long (at most ${formatDuration(p.maxMs)})`;
  }
}

/** A config-schema issue: the engine's schemas carry the problem as data (`params.problem`), others a message. */
export function issueText(issue: { message: string; params?: unknown }, quote: Quote = echo): string {
  const problem = (issue.params as { problem?: StepsProblem | DurationProblem } | undefined)?.problem;
  if (!problem) return issue.message;
  return "text" in problem ? durationProblemText(problem, quote) : stepsProblemText(problem, quote);
}

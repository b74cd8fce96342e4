/**
 * A plan is the list of canary percentages a rollout walks through, e.g. [10, 80, 100].
 * Pure: parsing and validating steps, and naming the step after the current one.
 */
import { echo } from "../slack/views/format.ts";

export type StepsResult = { ok: true; steps: number[] } | { ok: false; error: string };

/** Steps must be strictly increasing whole numbers in 1..100 and end at 100. */
export function validateSteps(steps: readonly number[]): StepsResult {
  if (steps.length === 0) return { ok: false, error: "steps are empty: give at least `100`" };
  if (steps.length > 20) return { ok: false, error: `${steps.length} steps is too many (at most 20)` };
  for (const s of steps) {
    if (!Number.isInteger(s) || s < 1 || s > 100) {
      return { ok: false, error: `step \`${s}\` is not a whole number from 1 to 100` };
    }
  }
  for (let i = 1; i < steps.length; i++) {
    if (steps[i]! <= steps[i - 1]!) {
      return { ok: false, error: `steps must be strictly increasing: \`${steps[i - 1]}\` then \`${steps[i]}\`` };
    }
  }
  if (steps[steps.length - 1] !== 100) {
    return { ok: false, error: `the last step must be \`100\` (got \`${steps[steps.length - 1]}\`)` };
  }
  return { ok: true, steps: [...steps] };
}

/** Parse `10,50,100` (spaces allowed around commas). */
export function parseSteps(text: string): StepsResult {
  const parts = text.split(",").map((p) => p.trim());
  const steps: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return { ok: false, error: `step ${echo(p || "(empty)")} is not a whole number from 1 to 100` };
    steps.push(Number(p));
  }
  return validateSteps(steps);
}

export const DEFAULT_STEPS: readonly number[] = [10, 50, 100];

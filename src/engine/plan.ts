/**
 * A plan is the list of canary percentages a rollout walks through, e.g. [10, 80, 100].
 * Pure: parsing and validating steps, and naming the step after the current one.
 */
import { err, ok, type Result } from "./result.ts";

/** Why a plan is not valid; `typed`: the value as the person wrote it (not a number at all). */
export type StepsProblem =
  | { code: "empty" }
  | { code: "too-many"; count: number }
  | { code: "not-whole"; value: string; typed?: boolean }
  | { code: "not-increasing"; prev: number; next: number }
  | { code: "last-not-100"; last: number };

export type StepsResult = Result<number[], StepsProblem>;

/** Steps must be strictly increasing whole numbers in 1..100 and end at 100. */
export function validateSteps(steps: readonly number[]): StepsResult {
  if (steps.length === 0) return err({ code: "empty" });
  if (steps.length > 20) return err({ code: "too-many", count: steps.length });
  for (const s of steps) {
    if (!Number.isInteger(s) || s < 1 || s > 100) return err({ code: "not-whole", value: String(s) });
  }
  for (let i = 1; i < steps.length; i++) {
    if (steps[i]! <= steps[i - 1]!) return err({ code: "not-increasing", prev: steps[i - 1]!, next: steps[i]! });
  }
  if (steps[steps.length - 1] !== 100) return err({ code: "last-not-100", last: steps[steps.length - 1]! });
  return ok([...steps]);
}

/** Parse `10,50,100` (spaces allowed around commas). */
export function parseSteps(text: string): StepsResult {
  const parts = text.split(",").map((p) => p.trim());
  const steps: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return err({ code: "not-whole", value: p || "(empty)", typed: true });
    steps.push(Number(p));
  }
  return validateSteps(steps);
}

export const DEFAULT_STEPS: readonly number[] = [10, 50, 100];

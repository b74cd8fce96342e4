import type { ActionKind } from "../engine/policy.ts";
import type { EventKind } from "../engine/rollout.ts";

/**
 * Metric labels come only from values the code knows: anything else (a typed subcommand, a forged button's
 * action) is counted as `unknown`, so nothing a person sends can mint a series. The lists are records over
 * the engine's kinds, so a new kind that is not added here fails the type check instead of being `unknown`.
 */

const EVENT_KINDS: Record<EventKind, true> = {
  started: true,
  advanced: true,
  applied: true,
  deployed: true,
  cleanup: true,
  "finish-requested": true,
  completed: true,
  "abort-requested": true,
  aborted: true,
  rejected: true,
  held: true,
  resumed: true,
  warning: true,
  mode: true,
  notice: true,
  reminder: true,
  alert: true,
  controller: true,
  gitops: true,
  wave: true,
};

const ACTION_KINDS: Record<ActionKind, true> = {
  advance: true,
  finish: true,
  abort: true,
  hold: true,
  resume: true,
  auto: true,
  manual: true,
  reapply: true,
  adopt: true,
  "pause-flux": true,
  promote: true,
  retry: true,
  "approve-all": true,
};

/** Audit actions the app layer and the listeners write besides the kinds above. */
const OTHER_ACTIONS = ["start", "refresh", "chart", "wait", "unknown-button", "replay", "flagger-gate", "approve", "halt", "rollback"];

/** Every audit action the bot writes, with `command:<name>` for each subcommand it has. */
export function knownActions(commandNames: readonly string[]): ReadonlySet<string> {
  return new Set([...Object.keys(EVENT_KINDS), ...Object.keys(ACTION_KINDS), ...OTHER_ACTIONS, ...commandNames.map((n) => `command:${n}`)]);
}

export const AUDIT_OUTCOMES: ReadonlySet<string> = new Set(["done", "refused", "error"]);

/** The value when it is known, else `unknown`. */
export function known(value: string, values: ReadonlySet<string>): string {
  return values.has(value) ? value : "unknown";
}

/** A Slack Web API method name as the code calls it (`chat.postMessage`), else `unknown`. */
export function slackMethod(method: string): string {
  return /^[a-z]+(\.[A-Za-z]+){1,3}$/.test(method) && method.length <= 60 ? method : "unknown";
}

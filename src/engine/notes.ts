import type { PolicyRefusal } from "./policy.ts";
import type { Verdict } from "./verdict.ts";
import type { PreflightProblem } from "./preflight.ts";
import type { ArgoChange } from "./argo-types.ts";

/**
 * What the bot tells the thread by itself (a notice before an automatic step, a reminder, an alert), as data:
 * each surface words it (Slack: `src/slack/views/event-text.ts`). Times are epoch ms; `inMs` is how far
 * away `at` was when the note was made. `verdict` is the latest reading, when there was one.
 */
export type BotNote =
  /** An automatic step is coming (`next` absent: Finish); anyone may Hold. */
  | { code: "auto-step-coming"; next?: number; at: number; inMs: number; verdict?: Verdict }
  /** The person the automatic steps act for may not take the final step: the bot will stop before it. */
  | { code: "auto-will-stop"; percent: number | null; at: number; inMs: number; refusal: PolicyRefusal }
  /** A manual stage has waited `forMs` with no decision. */
  | { code: "remind"; id: string; startedBy: string; percent: number | null; forMs: number; verdict?: Verdict }
  | { code: "deadline-coming"; id: string; startedBy: string; at: number; inMs: number; action: "hold" | "abort" }
  /** Alerts: the bot stopped, held or aborted a rollout by itself. */
  | { code: "auto-stopped"; id: string; percent: number | null; refusal: PolicyRefusal; final: "finish" | "advance" }
  | { code: "auto-aborted"; id: string; startedBy: string; why: string; stable: string }
  | { code: "auto-held"; id: string; startedBy: string; why: string }
  /** The canary stopped being ready (pods unavailable, scaled to 0...) while `percent` of traffic went to it. */
  | { code: "canary-not-ready"; id: string; startedBy: string; canary: string; percent: number | null; problems: PreflightProblem[] }
  | { code: "deadline-passed"; id: string; startedBy: string; at: number; action: "hold" | "abort" }
  /** Argo Rollouts aborted, degraded or failed an analysis: broadcast, mentioning the target's group or who last acted. */
  | { code: "argo-alert"; id: string; change: ArgoChange; mention?: { group: string } | { user: string } }
  /** Flagger reported the Canary Failed (rolled back): broadcast, mentioning the target's group or who last acted. */
  | { code: "flagger-failed"; id: string; mention?: { group: string } | { user: string } | undefined };

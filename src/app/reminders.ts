import type { BotNote } from "../engine/notes.ts";
import { withNote, type Rollout } from "../engine/rollout.ts";
import { remindAgain } from "../engine/timers.ts";
import { latestReading } from "./auto-step.ts";
import { botChanges, botDecides } from "./bot-decide.ts";
import type { DecideDeps } from "./decide.ts";

/**
 * What the bot says and does on the clock for people: the reminder of a manual stage left waiting, the
 * warning before a rollout's deadline, and the deadline itself (Abort or Hold, as the rollout was started).
 */

/** Remind whoever started a manual stage that it is waiting for them, and plan the next reminder. */
export async function remindOfStage(deps: DecideDeps, r: Rollout): Promise<void> {
  if (r.auto || r.status !== "active" || r.appliedPercent !== r.desiredPercent || !r.timers) return;
  const note: BotNote = { code: "remind", id: r.id, startedBy: r.startedBy, percent: r.appliedPercent, forMs: r.target.remind, ...latestReading(r) };
  const seq = r.timers.seq;
  await botChanges(deps, r.id, (x) =>
    x.timers?.seq === seq ? remindAgain(withNote(x, "reminder", note, deps.now()), deps.now(), { remindMs: x.target.remind }) : x,
  );
}

/** Say once, in the thread, that the deadline is coming and what happens then. */
export async function warnOfDeadline(deps: DecideDeps, r: Rollout): Promise<void> {
  const d = r.deadline;
  if (!d || r.events.some((e) => e.kind === "notice" && e.note?.code === "deadline-coming")) return;
  const note: BotNote = { code: "deadline-coming", id: r.id, startedBy: r.startedBy, at: d.at, inMs: Math.max(0, d.at - deps.now()), action: d.action };
  await botChanges(deps, r.id, (x) => withNote(x, "notice", note, deps.now()));
}

/** The deadline passed before the rollout finished: abort it, or hold it for a person, and say so. */
export async function meetDeadline(deps: DecideDeps, r: Rollout): Promise<void> {
  const d = r.deadline;
  if (!d || deps.now() < d.at - 1_000) return;
  const why = `the deadline (${new Date(d.at).toISOString()}) passed before the rollout finished`;
  const alert: BotNote = { code: "deadline-passed", id: r.id, startedBy: r.startedBy, at: d.at, action: d.action };
  if (d.action === "abort") return botDecides(deps, r, "abort", why, alert);
  if (r.status === "active") return botDecides(deps, r, "hold", why, alert);
}

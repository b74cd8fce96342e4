import type { Target } from "./target.ts";
import type { Actor } from "./status.ts";
import type { ActionKind } from "./policy.ts";
import { err, ok } from "./result.ts";
import { withEvent, type Rollout, type TransitionResult } from "./rollout.ts";
import type { FlaggerCall, FlaggerChange, FlaggerConfirm, FlaggerRecord } from "./flagger-types.ts";

export type { FlaggerCall, FlaggerChange, FlaggerConfirm, FlaggerGate, FlaggerRecord } from "./flagger-types.ts";

/**
 * A Canary that Flagger runs, gated by the bot. Pure. Flagger calls the bot's webhook gates on every tick;
 * each call is folded into the record of its revision (checksum) and answered from the decisions recorded
 * there, so a repeated call gets the same answer. A person's decision (Approve, Halt, Roll back) only
 * changes the record: Flagger reads it at its next call. Nothing is sent to the cluster.
 */

const FLAGGER: Actor = { kind: "bot", why: "flagger" };

/** The order of the confirm gates; a rollout record's stepIndex is the gate waiting, so a button names the gate it was shown for. */
export const CONFIRM_ORDER: FlaggerConfirm[] = ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion"];

/** The answer Flagger reads: `open` (HTTP 200) or closed (HTTP 403), and why, for the body and the log. */
export type GateAnswer = { open: boolean; why: "approved" | "waiting" | "halted" | "rollback-requested" | "no-rollback" | "rolling-back" | "recorded" };

function canaryName(t: Target): string {
  return t.flagger?.canary ?? t.name;
}

export function flaggerCanaryName(t: Target): string {
  return canaryName(t);
}

const PHASE_FAILED = "Failed";
const PHASE_SUCCEEDED = "Succeeded";

/** A new revision (checksum) Flagger is about to run: the record the bot gates it with. */
export function newFlaggerRollout(n: { id: string; target: Target; channel: string; checksum: string; phase: string; now: number }): Rollout {
  const r: Rollout = {
    id: n.id,
    target: n.target,
    stable: `${canaryName(n.target)}-primary`,
    canary: n.checksum,
    steps: [0, 0, 100],
    stepIndex: 0,
    desiredPercent: 0,
    appliedPercent: 0,
    status: "active",
    version: 0,
    createdAt: n.now,
    updatedAt: n.now,
    startedBy: "flagger",
    channel: n.channel,
    events: [],
    flagger: { checksum: n.checksum, phase: n.phase, opened: [], warnings: 0 },
  };
  return withEvent(r, n.now, { kind: "started", actor: FLAGGER, to: 0, text: `revision ${n.checksum}` });
}

/** Whether a call names another revision than the record (or there is no record to answer from). */
export function isNewFlaggerRevision(r: Rollout | undefined, checksum: string): boolean {
  return !r?.flagger || r.flagger.checksum !== checksum;
}

/** The record ends because Flagger moved to another revision. */
export function supersedeFlagger(r: Rollout, checksum: string, now: number): Rollout {
  const ended: Rollout = { ...r, status: "aborted", endedAt: now, updatedAt: now, problem: `superseded by revision ${checksum}` };
  return withEvent(ended, now, { kind: "controller", actor: FLAGGER, flagger: { code: "superseded", by: checksum } });
}

function actorOf(by: string): Actor {
  return { kind: "user", id: by };
}

function note(r: Rollout, now: number, c: FlaggerChange, actor: Actor = FLAGGER): Rollout {
  return withEvent(r, now, { kind: "controller", actor, flagger: c });
}

/** Who an alert mentions: the target's group, else whoever last acted from Slack. */
function mentionFor(r: Rollout): { group: string } | { user: string } | undefined {
  const group = r.target.flagger?.notify;
  if (group) return { group };
  return r.flagger?.lastActor ? { user: r.flagger.lastActor } : undefined;
}

/** Phases of a revision under way: a terminal phase after one of these is this revision's end. */
const RUNNING = new Set(["Progressing", "Waiting", "WaitingPromotion", "Promoting", "Finalising"]);

/**
 * The phase Flagger reported moved: mirror it; Failed is broadcast, Succeeded completes the record. The
 * first call of a new revision carries the previous revision's phase (Succeeded, Failed), so a terminal
 * phase counts only once this revision was seen running.
 */
function withPhase(r: Rollout, phase: string, now: number): Rollout {
  const f = r.flagger!;
  if (!phase || f.phase === phase || r.status === "completed" || r.status === "aborted") return r;
  const terminal = phase === PHASE_FAILED || phase === PHASE_SUCCEEDED;
  if (terminal && !RUNNING.has(f.phase)) return r;
  // The message shows the phase; the thread gets only the ends (a line per tick would crowd it out).
  let next: Rollout = { ...r, flagger: { ...f, phase } };
  if (terminal) next = note(next, now, { code: "phase", phase });
  if (phase === PHASE_FAILED) {
    const by = f.rollback ? actorOf(f.rollback.by) : FLAGGER;
    next = { ...next, status: "aborted", endedAt: now, desiredPercent: 0, appliedPercent: 0, problem: "Canary analysis failed: rolled back" };
    next.last = { kind: "aborted", actor: by, at: now, stepIndex: next.stepIndex };
    next = withEvent(next, now, { kind: "alert", actor: FLAGGER, note: { code: "flagger-failed", id: r.id, mention: mentionFor(r) } });
  } else if (phase === PHASE_SUCCEEDED) {
    const approver = [...f.opened].reverse().find((o) => o.gate === "confirm-promotion");
    next = { ...next, status: "completed", endedAt: now, desiredPercent: 100, appliedPercent: 100, stepIndex: 2 };
    next.last = { kind: "completed", actor: approver ? actorOf(approver.by) : FLAGGER, at: now, stepIndex: 2 };
  }
  return next;
}

function statusOf(f: FlaggerRecord, r: Rollout): Rollout["status"] {
  if (r.status === "completed" || r.status === "aborted") return r.status;
  return f.halted ? "held" : "active";
}

/**
 * One webhook call, folded into the record of its revision and answered from it. Returns the record
 * (unchanged when the call repeats one already seen) and the answer Flagger reads.
 */
export function flaggerCall(r: Rollout, call: FlaggerCall, now: number): { rollout: Rollout; answer: GateAnswer } {
  const f0 = r.flagger!;
  let next = withPhase(r, call.phase, now);
  if (call.hook === "post-rollout") return { rollout: next === r ? r : touched(next, now), answer: { open: true, why: "recorded" } };
  if (call.hook === "event") {
    // Flagger's events carry the phase before the change they tell of: its words say the end.
    const ended = /^Canary failed!/.test(call.message) ? PHASE_FAILED : /^Promotion completed!/.test(call.message) ? PHASE_SUCCEEDED : undefined;
    const f = next.flagger!;
    if (call.warning) next = { ...next, flagger: { ...f, warnings: f.warnings + 1, lastWarning: call.message } };
    // "Halt ... waiting for approval" repeats what the gate call already told the thread.
    if (call.warning || !/waiting for approval/.test(call.message)) next = note(next, now, { code: "event", message: call.message, warning: call.warning });
    // Flagger's webhook body has no weight; its "Advance <name>.<ns> canary weight N" event tells it.
    const weight = /canary weight (\d{1,3})$/.exec(call.message);
    if (weight && Number(weight[1]) <= 100) next = { ...next, desiredPercent: Number(weight[1]), appliedPercent: Number(weight[1]) };
    if (ended) next = withPhase(next, ended, now);
    return { rollout: next.status === "completed" || next.status === "aborted" ? next : touched(next, now), answer: { open: true, why: "recorded" } };
  }
  if (call.hook === "rollback") {
    if (!f0.rollback) return { rollout: next, answer: { open: false, why: "no-rollback" } };
    // Flagger rolls back on this answer (all traffic to the primary, phase Failed): the record ends with it.
    // Asked again (a retried call), the answer is the same and the record is left alone.
    const told = next.events.some((e) => e.flagger?.code === "rolling-back");
    if (!told) next = withPhase(touched(note(next, now, { code: "rolling-back" }), now), PHASE_FAILED, now);
    return { rollout: next, answer: { open: true, why: "rolling-back" } };
  }
  const gate = call.hook;
  const f = next.flagger!;
  if (f.rollback) return { rollout: next, answer: { open: false, why: "rollback-requested" } };
  if (f.halted) return { rollout: waitOn(next, gate, now), answer: { open: false, why: "halted" } };
  if (!f.opened.some((o) => o.gate === gate)) return { rollout: waitOn(next, gate, now), answer: { open: false, why: "waiting" } };
  if (f.waiting === gate) {
    const rest: FlaggerRecord = { ...f };
    delete rest.waiting;
    next = touched(note({ ...next, flagger: rest }, now, { code: "passed", gate }), now);
  }
  return { rollout: next, answer: { open: true, why: "approved" } };
}

function touched(r: Rollout, now: number): Rollout {
  return { ...r, updatedAt: now, status: statusOf(r.flagger!, r) };
}

/** Flagger found `gate` closed: it waits there (told once per gate, so repeated calls leave the record alone). */
function waitOn(r: Rollout, gate: FlaggerConfirm, now: number): Rollout {
  const f = r.flagger!;
  if (f.waiting === gate) return r;
  const next: Rollout = { ...r, stepIndex: CONFIRM_ORDER.indexOf(gate), flagger: { ...f, waiting: gate } };
  return touched(note(next, now, { code: "waiting", gate }), now);
}

/** Whether opening this gate lets Flagger send all traffic to the new revision: the policy's final step. */
export function flaggerReachesFull(kind: ActionKind, r: Rollout): boolean {
  return kind === "advance" && r.flagger?.waiting === "confirm-promotion";
}

/**
 * A person's decision on a gated Canary: Approve (`advance`) opens the gate Flagger waits on (the one the
 * button was shown for), Halt (`hold`) closes every confirm gate, Resume lifts the halt, Roll back (`abort`)
 * opens the rollback gate. Judged on the record as it is; Flagger reads it at its next call.
 */
export function flaggerDecide(kind: ActionKind, r: Rollout, actor: Actor, fromStep: number | undefined, now: number): TransitionResult {
  const f = r.flagger;
  if (!f) return err({ code: "no-rollout", id: r.id });
  if (r.status === "completed" || r.status === "aborted") return err({ code: "ended", id: r.id, status: r.status, ...(r.last ? { by: r.last.actor } : {}) });
  const by = actor.kind === "user" ? actor.id : "bot";
  const who: Partial<FlaggerRecord> = {
    ...(actor.kind === "user" ? { lastActor: actor.id } : {}),
    ...(actor.kind === "user" && !f.firstActor ? { firstActor: actor.id } : {}),
  };
  const done = (rec: FlaggerRecord, c: FlaggerChange, extra: Partial<Rollout> = {}): TransitionResult => {
    const next: Rollout = { ...r, ...extra, updatedAt: now, flagger: { ...rec, ...who } };
    return ok(note({ ...next, status: statusOf(next.flagger!, next) }, now, c, actor));
  };
  if (f.rollback) return err({ code: "already-aborting", id: r.id, by: actorOf(f.rollback.by) });
  switch (kind) {
    case "advance": {
      if (f.halted) return err({ code: "held", id: r.id });
      const gate = f.waiting;
      if (!gate) return err({ code: "flagger-not-waiting", id: r.id });
      if (fromStep !== undefined && fromStep !== CONFIRM_ORDER.indexOf(gate)) {
        return err({ code: "flagger-gate-moved", id: r.id, seen: CONFIRM_ORDER[fromStep] ?? "confirm-rollout", now: gate });
      }
      const opened = f.opened.find((o) => o.gate === gate);
      if (opened) return err({ code: "flagger-already-open", id: r.id, gate, by: actorOf(opened.by) });
      return done({ ...f, opened: [...f.opened, { gate, by, at: now }] }, { code: "opened", gate });
    }
    case "hold":
      if (f.halted) return err({ code: "already-held", id: r.id });
      return done({ ...f, halted: { by, at: now } }, { code: "halted" });
    case "resume": {
      if (!f.halted) return err({ code: "not-held", id: r.id, status: r.status });
      const rest = { ...f };
      delete rest.halted;
      return done(rest, { code: "unhalted" });
    }
    case "abort":
      return done(
        { ...f, rollback: { by, at: now } },
        { code: "rollback-requested" },
        { last: { kind: "abort-requested", actor, at: now, stepIndex: r.stepIndex } },
      );
    default:
      return err({ code: "not-for-controller", id: r.id, kind });
  }
}

/** The button a decision kind is on a gated Canary, for the audit trail. */
export function flaggerActionOf(kind: ActionKind): string {
  const names: Partial<Record<ActionKind, string>> = { advance: "approve", hold: "halt", resume: "resume", abort: "rollback" };
  return names[kind] ?? kind;
}

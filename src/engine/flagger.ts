import type { Target } from "./target.ts";
import type { Actor } from "./status.ts";
import type { ActionKind } from "./policy.ts";
import { err, ok } from "./result.ts";
import { withEvent, type Rollout, type TransitionResult } from "./rollout.ts";
import type { CanaryReading, FlaggerCall, FlaggerChange, FlaggerConfirm, FlaggerRecord } from "./flagger-types.ts";

export type { CanaryReading, FlaggerCall, FlaggerChange, FlaggerConfirm, FlaggerGate, FlaggerRecord } from "./flagger-types.ts";

/**
 * A Canary that Flagger runs, gated by the bot. Pure. Flagger calls the bot's webhook gates on every tick;
 * each call is folded into the record of its revision (checksum) and answered from the decisions recorded
 * there, so a repeated call gets the same answer. A person's decision (Approve, Halt, Roll back) only
 * changes the record: Flagger reads it at its next call. Nothing is sent to the cluster. Readings of the
 * Canary (its status and analysis settings) are folded in too: the weight shown is the Canary's.
 *
 * One Approve at `confirm-traffic-increase` answers one call, so Flagger takes one weight step and asks
 * again; "Approve all remaining steps" answers every later one of the revision.
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
  // A call carries the phase as it was when Flagger called (before the change the call decides): once the
  // Canary has been read, its status says the phase, and a call only tells an end.
  const fromCall = !f0.canary || call.phase === PHASE_FAILED || call.phase === PHASE_SUCCEEDED;
  let next = fromCall ? withPhase(r, call.phase, now) : r;
  if (call.hook === "post-rollout") return { rollout: next === r ? r : touched(next, now), answer: { open: true, why: "recorded" } };
  if (call.hook === "event") {
    // Flagger's events carry the phase before the change they tell of: its words say the end.
    const ended = /^Canary failed!/.test(call.message) ? PHASE_FAILED : /^Promotion completed!/.test(call.message) ? PHASE_SUCCEEDED : undefined;
    const f = next.flagger!;
    if (call.warning) next = { ...next, flagger: { ...f, warnings: f.warnings + 1, lastWarning: call.message } };
    // "Halt ... waiting for approval" repeats what the gate call already told the thread; once the Canary is
    // read, "Advance ... canary weight N" repeats the weight change its reading tells.
    const repeats = /waiting for approval/.test(call.message) || (f.canary !== undefined && /canary weight \d{1,3}$/.test(call.message));
    if (call.warning || !repeats) next = note(next, now, { code: "event", message: call.message, warning: call.warning });
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
  const entry = openingEntry(f, gate);
  if (!entry) return { rollout: waitOn(next, gate, now), answer: { open: false, why: "waiting" } };
  // A one-step approval is used by the call it opens: Flagger takes that weight step on this answer, and the
  // next increase finds it used and waits again (a call retried after a lost answer waits too: closed is safe).
  const used = entry.steps === "one" && entry.used === undefined;
  if (f.waiting === gate || used) {
    const rest: FlaggerRecord = { ...f, ...(used ? { opened: f.opened.map((o) => (o === entry ? { ...o, used: now } : o)) } : {}) };
    delete rest.waiting;
    next = touched(note({ ...next, flagger: rest }, now, { code: "passed", gate }), now);
  }
  return { rollout: next, answer: { open: true, why: "approved" } };
}

/** The approval that opens `gate` now: any for rollout and promotion; for traffic increase, "all" or an unused step. */
export function openingEntry(f: FlaggerRecord, gate: FlaggerConfirm): FlaggerRecord["opened"][number] | undefined {
  return f.opened.find((o) => o.gate === gate && (gate !== "confirm-traffic-increase" || o.steps !== "one" || o.used === undefined));
}

/** The canary's next weight after one more step (Flagger's stepWeight, or the next rung of stepWeights). */
export function nextCanaryWeight(c: CanaryReading): number {
  const a = c.analysis;
  const { weight } = canaryWeightOf(c);
  if (a.stepWeight <= 0 && a.stepWeights.length) return Math.min(a.maxWeight, a.stepWeights.find((w) => w > weight) ?? a.maxWeight);
  return Math.min(a.maxWeight, weight + a.stepWeight);
}

/**
 * The weight the canary gets, from the Canary's status. Flagger zeroes `status.canaryWeight` when it enters
 * WaitingPromotion (and it stays 0 into Promoting) while the router keeps maxWeight on the canary
 * (PROGRESSIVE-DELIVERY.md 2.2): for those phases of the canary strategy the weight is maxWeight, `held`.
 */
export function canaryWeightOf(c: CanaryReading): { weight: number; held: boolean } {
  const max = c.analysis.maxWeight;
  if ((c.phase === "WaitingPromotion" || c.phase === "Promoting") && c.analysis.iterations === 0 && c.canaryWeight < max) return { weight: max, held: true };
  return { weight: Math.max(0, Math.min(100, c.canaryWeight)), held: false };
}

function sameReading(a: CanaryReading, b: CanaryReading): boolean {
  return JSON.stringify({ ...a, at: 0 }) === JSON.stringify({ ...b, at: 0 });
}

/**
 * A reading of the Canary while this revision runs: its phase is folded as a call's is (Failed is broadcast,
 * Succeeded completes), and the weight shown becomes the status's. An unchanged reading changes nothing.
 */
export function observeCanary(r: Rollout, c: CanaryReading, now: number): Rollout {
  const f = r.flagger;
  if (!f || r.status === "completed" || r.status === "aborted") return r;
  let next = withPhase(r, c.phase, now);
  if (next === r && f.canary && sameReading(f.canary, c)) return r;
  next = { ...next, flagger: { ...next.flagger!, canary: c } };
  if (next.status === "completed" || next.status === "aborted") return { ...next, updatedAt: now };
  const { weight } = canaryWeightOf(c);
  const from = r.appliedPercent ?? 0;
  next = { ...next, desiredPercent: weight, appliedPercent: weight };
  // A weight change is one thread line and one step of the chart (an event with from/to).
  if (weight !== from) next = withEvent(next, now, { kind: "controller", actor: FLAGGER, from, to: weight, flagger: { code: "weight", from, to: weight } });
  return touched(next, now);
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

/**
 * Whether this approval lets Flagger send all traffic to the new revision without asking the bot again:
 * the policy's final step. Approving `confirm-promotion` always is; where the Canary (as last read) has no
 * `confirm-promotion` webhook of the bot's, so is the approval after which no gate of the bot's is left:
 * `confirm-rollout` without a traffic gate, the last traffic step, or all remaining steps. Unread: only promotion.
 */
export function flaggerReachesFull(kind: ActionKind, r: Rollout): boolean {
  const f = r.flagger;
  if (!f || (kind !== "advance" && kind !== "approve-all")) return false;
  if (f.waiting === "confirm-promotion") return kind === "advance";
  const c = f.canary;
  if (!c || c.hooks.includes("confirm-promotion")) return false;
  if (f.waiting === "confirm-rollout") return kind === "advance" && !c.hooks.includes("confirm-traffic-increase");
  if (f.waiting === "confirm-traffic-increase") return kind === "approve-all" || nextCanaryWeight(c) >= c.analysis.maxWeight;
  return false;
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
      const opened = openingEntry(f, gate);
      if (opened) return err({ code: "flagger-already-open", id: r.id, gate, by: actorOf(opened.by), ...(opened.steps ? { steps: opened.steps } : {}) });
      const entry = gate === "confirm-traffic-increase" ? { gate, by, at: now, steps: "one" as const } : { gate, by, at: now };
      return done({ ...f, opened: [...f.opened, entry] }, { code: "opened", gate });
    }
    case "approve-all": {
      if (f.halted) return err({ code: "held", id: r.id });
      const gate = f.waiting;
      if (!gate) return err({ code: "flagger-not-waiting", id: r.id });
      if (gate !== "confirm-traffic-increase") return err({ code: "flagger-gate-moved", id: r.id, seen: "confirm-traffic-increase", now: gate });
      if (fromStep !== undefined && fromStep !== CONFIRM_ORDER.indexOf(gate)) {
        return err({ code: "flagger-gate-moved", id: r.id, seen: CONFIRM_ORDER[fromStep] ?? "confirm-rollout", now: gate });
      }
      const all = f.opened.find((o) => o.gate === gate && o.steps !== "one");
      if (all) return err({ code: "flagger-already-open", id: r.id, gate, by: actorOf(all.by), steps: "all" });
      return done({ ...f, opened: [...f.opened, { gate, by, at: now, steps: "all" }] }, { code: "opened-all", gate });
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
  const names: Partial<Record<ActionKind, string>> = { advance: "approve", "approve-all": "approve-all", hold: "halt", resume: "resume", abort: "rollback" };
  return names[kind] ?? kind;
}

import type { Target } from "./target.ts";
import type { Actor } from "./status.ts";
import type { ActionKind } from "./policy.ts";
import type { RolloutRefusal } from "./refusal.ts";
import { err, ok } from "./result.ts";
import { withEvent, type Rollout, type TransitionResult } from "./rollout.ts";
import type { ArgoAction, ArgoChange, ArgoRecord, ArgoState, ArgoStep, NotSentWhy } from "./argo-types.ts";

export type { ArgoAction, ArgoAnalysis, ArgoChange, ArgoMetric, ArgoRecord, ArgoState, ArgoStep } from "./argo-types.ts";

/**
 * A rollout that Argo Rollouts runs and the bot follows and steers. Pure: the controller adapter
 * (src/controllers/argo-rollouts.ts) reads the Rollout and its AnalysisRun into an `ArgoState`; these
 * functions fold what it saw into the bot's record (one record per revision, events for every transition),
 * turn a person's decision into a request the worker sends, and record what was sent. The engine never
 * speaks the wire: `ArgoAction` names the kubectl-argo-rollouts command, the adapter knows its patches.
 */

const CONTROLLER: Actor = { kind: "bot", why: "argo-rollouts" };

/** The action a decision kind is on an Argo Rollout, or undefined when it has no meaning there. */
export function argoActionOf(kind: ActionKind): ArgoAction | undefined {
  switch (kind) {
    case "advance":
      return "promote";
    case "finish":
    case "promote":
      return "promote-full";
    case "abort":
      return "abort";
    case "retry":
      return "retry";
    case "hold":
      return "pause";
    case "resume":
      return "resume";
    default:
      return undefined;
  }
}

/** Canary weight in effect once step i is done (setWeight steps set it; others keep it). */
export function weightsByStep(steps: ArgoStep[]): number[] {
  let w = 0;
  return steps.map((s) => (s.kind === "setWeight" ? (w = Math.max(0, Math.min(100, s.weight))) : w));
}

function liveWeight(s: ArgoState): number {
  if (isFullyPromoted(s)) return 100;
  if (s.weights) return s.weights.canary;
  const byStep = weightsByStep(s.steps);
  return s.stepIndex === 0 ? 0 : (byStep[Math.min(s.stepIndex, byStep.length) - 1] ?? 0);
}

export function isFullyPromoted(s: ArgoState): boolean {
  return s.podHash !== "" && s.podHash === s.stableHash;
}

/** Whether this decision takes the revision to all traffic (the policy's final step, with its second approver). */
export function argoReachesFull(action: ArgoAction, s: ArgoState): boolean {
  if (action === "promote-full") return true;
  if (action !== "promote") return false;
  const later = s.steps.slice(s.stepIndex + 1);
  // Promoting the last step, or one after which no step holds the rollout back, completes it.
  return !later.some((x) => x.kind === "pause" || x.kind === "analysis" || (x.kind === "setWeight" && x.weight < 100));
}

function statusOf(s: ArgoState): Rollout["status"] {
  if (isFullyPromoted(s) && s.phase === "Healthy") return "completed";
  if (s.abort || s.phase === "Degraded" || s.paused) return "held";
  return "active";
}

function problemOf(s: ArgoState): string | undefined {
  if (s.phase === "Degraded" || s.abort) return s.message || (s.abort ? "aborted" : "degraded");
  return undefined;
}

/** The record fields that mirror the controller's state. */
function mirror(r: Rollout, s: ArgoState, now: number): Rollout {
  const weight = liveWeight(s);
  const status = statusOf(s);
  const problem = problemOf(s);
  const next: Rollout = {
    ...r,
    stable: s.stableHash,
    canary: s.podHash,
    steps: stepsPercents(s),
    stepIndex: argoShownStep(s),
    desiredPercent: weight,
    appliedPercent: weight,
    status,
    updatedAt: now,
    argo: { ...r.argo!, state: s },
  };
  if (problem) next.problem = problem;
  else delete next.problem;
  if (status === "completed") next.endedAt = now;
  return next;
}

function stepsPercents(s: ArgoState): number[] {
  return s.steps.length ? weightsByStep(s.steps) : [100];
}

/** A new revision the controller started: the record the bot follows it with. */
export function newArgoRollout(n: { id: string; target: Target; channel: string; state: ArgoState; now: number }): Rollout {
  const base: Rollout = {
    id: n.id,
    target: n.target,
    stable: n.state.stableHash,
    canary: n.state.podHash,
    steps: stepsPercents(n.state),
    stepIndex: 0,
    desiredPercent: 0,
    appliedPercent: 0,
    status: "active",
    version: 0,
    createdAt: n.now,
    updatedAt: n.now,
    startedBy: "argo-rollouts",
    channel: n.channel,
    events: [],
    argo: { state: baselineOf(n.state), seq: 0 },
  };
  const started = withEvent(mirror(base, baselineOf(n.state), n.now), n.now, {
    kind: "started",
    actor: CONTROLLER,
    to: 0,
    text: `revision ${n.state.revision}`,
  });
  // What the controller did before the first reading (a poll can come late) is told as if seen.
  return observeArgo(started, n.state, n.now);
}

/** A revision as it starts: step 0, no traffic, nothing paused, aborted or analysed yet. */
function baselineOf(s: ArgoState): ArgoState {
  const b: ArgoState = {
    ...s,
    stepIndex: 0,
    phase: "Progressing",
    message: "",
    paused: false,
    pauseReasons: [],
    abort: false,
    weights: { canary: 0, stable: 100 },
  };
  delete b.abortReconciled;
  delete b.analysis;
  delete b.pauseEndsAt;
  return b;
}

/** Whether a Rollout seen now is a new revision for the record (or the first one to follow). */
export function isNewRevision(r: Rollout | undefined, s: ArgoState): boolean {
  if (isFullyPromoted(s) && (!r || r.canary === s.podHash)) return false;
  return !r || r.canary !== s.podHash;
}

/** The record ends because the controller moved to another revision. */
export function supersede(r: Rollout, s: ArgoState, now: number): Rollout {
  const ended: Rollout = { ...r, status: "aborted", endedAt: now, updatedAt: now, problem: `superseded by revision ${s.revision}` };
  return withEvent(ended, now, { kind: "controller", actor: CONTROLLER, change: { code: "superseded", by: s.revision } });
}

/**
 * Fold a fresh reading of the Rollout into its record: the mirrored fields, and one event per transition
 * (a person's, when the request they sent explains it). Returns the record unchanged when nothing moved.
 */
export function observeArgo(r: Rollout, s: ArgoState, now: number): Rollout {
  const a = r.argo;
  if (!a) return r;
  const before = a.state;
  if (JSON.stringify(before) === JSON.stringify(s)) return r;
  const changes = diff(before, s);
  let next = mirror(r, s, now);
  // A change that follows a person's request is theirs until the controller is seen to have acted on it
  // (for at most a minute); after that, the controller's own.
  const cause = a.sent && !a.sent.seen && now - a.sent.at < SENT_GUARD_MS ? a.sent : undefined;
  const actorFor = (c: ArgoChange): Actor =>
    cause && causedBy(cause.action, c) ? (cause.by === "bot" ? CONTROLLER : { kind: "user", id: cause.by }) : CONTROLLER;
  for (const c of changes) {
    const actor = actorFor(c);
    next = withEvent(next, now, { kind: "controller", actor, change: c, ...(c.code === "weights" ? { from: c.from, to: c.to } : {}) });
    if (c.code === "aborted" || c.code === "degraded" || (c.code === "analysis" && (c.phase === "Failed" || c.phase === "Error"))) {
      next = withEvent(next, now, { kind: "alert", actor: CONTROLLER, note: { code: "argo-alert", id: r.id, change: c, mention: mentionFor(r) } });
    }
  }
  if (cause && effectSeen(cause, s)) next = { ...next, argo: { ...next.argo!, sent: { ...cause, seen: true } } };
  if (next.status === "completed") {
    const by: Actor = cause && causedBy(cause.action, { code: "completed" }) ? { kind: "user", id: cause.by } : CONTROLLER;
    next.last = { kind: "completed", actor: by, at: now, stepIndex: next.stepIndex };
  }
  return next;
}

/** Who an alert mentions: the target's group, else whoever last acted from Slack. */
function mentionFor(r: Rollout): { group: string } | { user: string } | undefined {
  const group = r.target.argoRollouts?.notify;
  if (group) return { group };
  return r.argo?.lastActor ? { user: r.argo.lastActor } : undefined;
}

function causedBy(action: ArgoAction, c: ArgoChange): boolean {
  switch (action) {
    case "promote":
      return c.code === "step" || c.code === "unpaused" || c.code === "weights";
    case "promote-full":
      return c.code === "step" || c.code === "unpaused" || c.code === "weights" || c.code === "completed";
    case "abort":
      return c.code === "aborted" || c.code === "weights";
    case "retry":
      return c.code === "retried" || c.code === "step" || c.code === "weights";
    case "pause":
      return c.code === "paused";
    case "resume":
      return c.code === "unpaused";
  }
}

function diff(a: ArgoState, b: ArgoState): ArgoChange[] {
  const out: ArgoChange[] = [];
  if (a.abort && !b.abort) out.push({ code: "retried" });
  if (b.stepIndex !== a.stepIndex && !b.abort && !(a.abort && b.stepIndex === 0)) {
    out.push({ code: "step", index: b.stepIndex, total: b.steps.length, ...(b.steps[b.stepIndex] ? { step: b.steps[b.stepIndex]! } : {}) });
  }
  const wa = liveWeight(a);
  const wb = liveWeight(b);
  if (wa !== wb) out.push({ code: "weights", from: wa, to: wb });
  const pa = a.paused || a.pauseReasons.length > 0;
  const pb = b.paused || b.pauseReasons.length > 0;
  if (!pa && pb)
    out.push({ code: "paused", reason: b.paused ? "manually paused" : b.pauseReasons[0]!.reason, ...(b.pauseEndsAt ? { endsAt: b.pauseEndsAt } : {}) });
  if (pa && !pb && !b.abort) out.push({ code: "unpaused" });
  if (b.analysis && (b.analysis.name !== a.analysis?.name || b.analysis.phase !== a.analysis.phase) && b.analysis.phase !== "Pending") {
    out.push({ code: "analysis", name: b.analysis.name, phase: b.analysis.phase, ...(b.analysis.message ? { message: b.analysis.message } : {}) });
  }
  // Aborted once the controller has carried it out: the plugin's own patch sets `abort` before the controller
  // has acted, and its message would still be the step's.
  if (!a.abortReconciled && b.abortReconciled) out.push({ code: "aborted", message: b.message });
  else if (a.phase !== "Degraded" && b.phase === "Degraded" && !b.abort) out.push({ code: "degraded", message: b.message });
  if (!isFullyPromoted(a) && isFullyPromoted(b)) out.push({ code: "completed" });
  return out;
}

/**
 * A person's decision on a followed Rollout: judged on the record as it is (the step they saw, the
 * revision, a request already on its way), recorded as a request for the worker to send.
 */
export function argoDecide(kind: ActionKind, r: Rollout, actor: Actor, fromStep: number | undefined, now: number): TransitionResult {
  const a = r.argo;
  if (!a) return err({ code: "no-rollout", id: r.id });
  const action = argoActionOf(kind);
  if (!action) return err({ code: "not-for-controller", id: r.id, kind });
  if (r.status === "completed" || r.status === "aborted") return err({ code: "ended", id: r.id, status: r.status, ...(r.last ? { by: r.last.actor } : {}) });
  const s = a.state;
  // Abort always goes: it takes the place of a request not yet sent (which is then never sent, and said so).
  const dropped = a.pending && action === "abort" && a.pending.action !== "abort" ? a.pending : undefined;
  if (a.pending && !dropped) {
    return err({ code: "request-pending", id: r.id, action: a.pending.action, by: { kind: "user", id: a.pending.by } });
  }
  const inFlight = a.sent && !a.sent.seen && action !== "abort" && now - a.sent.at < SENT_GUARD_MS && !effectSeen(a.sent, s) ? a.sent : undefined;
  if (inFlight)
    return err({ code: "request-pending", id: r.id, action: inFlight.action, by: inFlight.by === "bot" ? CONTROLLER : { kind: "user", id: inFlight.by } });
  const why = refusalFor(action, r, s, fromStep);
  if (why) return err(why);
  const by = actor.kind === "user" ? actor.id : "bot";
  const seq = a.seq + 1;
  const base = dropped
    ? withEvent(r, now, {
        kind: "controller",
        actor: dropped.by === "bot" ? CONTROLLER : { kind: "user", id: dropped.by },
        change: { code: "not-sent", action: dropped.action, step: dropped.step, why: "aborted" },
      })
    : r;
  const next: Rollout = {
    ...base,
    updatedAt: now,
    argo: {
      ...a,
      seq,
      pending: { action, step: argoShownStep(s), seq, by, at: now },
      ...(actor.kind === "user" ? { lastActor: actor.id } : {}),
      // The first person to act on a revision counts as its starter for the two-person rule.
      ...(actor.kind === "user" && !a.firstActor ? { firstActor: actor.id } : {}),
    },
  };
  return ok(next);
}

/** The step index a button carries: the current step, the last one once every step is done. */
export function argoShownStep(s: ArgoState): number {
  return Math.min(s.stepIndex, Math.max(0, s.steps.length - 1));
}

/** How long a sent request holds back the next one while the controller has not been seen to act on it. */
const SENT_GUARD_MS = 60_000;

/** Whether the Rollout as read shows the effect of a request that was sent. */
function effectSeen(sent: NonNullable<ArgoRecord["sent"]>, s: ArgoState): boolean {
  if (s.podHash !== sent.podHash) return true;
  switch (sent.action) {
    case "promote":
      return argoShownStep(s) !== sent.step || s.stepIndex >= s.steps.length || isFullyPromoted(s);
    case "promote-full":
      return isFullyPromoted(s);
    case "abort":
      return s.abort;
    case "retry":
      return !s.abort;
    case "pause":
      return s.paused;
    case "resume":
      return !s.paused;
  }
}

function refusalFor(action: ArgoAction, r: Rollout, s: ArgoState, fromStep: number | undefined): RolloutRefusal | undefined {
  const seen = fromStep ?? argoShownStep(s);
  const moved = (): RolloutRefusal => ({
    code: "step-passed",
    id: r.id,
    seen,
    now: s.stepIndex,
    total: s.steps.length,
    ...(r.events.at(-1)?.actor ? { by: lastMover(r) } : {}),
  });
  switch (action) {
    case "promote":
      if (s.abort) return { code: "argo-aborted", id: r.id };
      if (seen !== argoShownStep(s)) return moved();
      if (s.steps.length > 0 && s.stepIndex >= s.steps.length) return { code: "argo-no-step", id: r.id };
      return undefined;
    case "promote-full":
      if (isFullyPromoted(s)) return { code: "argo-no-step", id: r.id };
      if (seen !== argoShownStep(s)) return moved();
      return undefined;
    case "abort":
      if (s.abort) return { code: "already-aborting", id: r.id, ...(r.last ? { by: r.last.actor } : {}) };
      return undefined;
    case "retry":
      if (!s.abort) return { code: "argo-not-aborted", id: r.id };
      return undefined;
    case "pause":
      if (s.paused) return { code: "already-held", id: r.id };
      if (s.abort) return { code: "argo-aborted", id: r.id };
      return undefined;
    case "resume":
      if (!s.paused) return { code: "not-held", id: r.id, status: r.status };
      return undefined;
  }
}

function lastMover(r: Rollout): Actor {
  const e = [...r.events].reverse().find((x) => x.kind === "controller" && x.change && (x.change.code === "step" || x.change.code === "sent"));
  return e?.actor ?? CONTROLLER;
}

/** The worker sent (or found it could not send) the pending request. */
export function argoSent(
  r: Rollout,
  seq: number,
  outcome: { sent: true } | { sent: false; why: NotSentWhy; now?: number; message?: string },
  now: number,
): Rollout {
  const a = r.argo;
  if (!a?.pending || a.pending.seq !== seq) return r;
  const p = a.pending;
  const rest: ArgoRecord = { ...a };
  delete rest.pending;
  const actor: Actor = p.by === "bot" ? CONTROLLER : { kind: "user", id: p.by };
  if (outcome.sent) {
    const next: Rollout = {
      ...r,
      updatedAt: now,
      argo: { ...rest, sent: { action: p.action, step: p.step, podHash: r.canary, by: p.by, at: now } },
    };
    const kind =
      p.action === "abort" ? "abort-requested" : p.action === "promote-full" ? "finish-requested" : p.action === "promote" ? "advanced" : "controller";
    const withLast: Rollout = { ...next, last: { kind, actor, at: now, stepIndex: p.step } };
    return withEvent(withLast, now, { kind: "controller", actor, change: { code: "sent", action: p.action, step: p.step } });
  }
  const next: Rollout = { ...r, updatedAt: now, argo: rest };
  return withEvent(next, now, {
    kind: "controller",
    actor,
    change: {
      code: "not-sent",
      action: p.action,
      step: p.step,
      why: outcome.why,
      ...(outcome.now !== undefined ? { now: outcome.now } : {}),
      ...(outcome.message ? { message: outcome.message } : {}),
    },
  });
}

import type { Target } from "./target.ts";
import type { SampleLike, Verdict } from "./verdict.ts";
import { err, ok, type Result } from "./result.ts";
import type { Refusal, RolloutRefusal } from "./refusal.ts";
import type { BotNote } from "./notes.ts";
import { TERMINAL, type Actor, type RolloutStatus } from "./status.ts";
import { isNextReading, type Evidence } from "./evidence.ts";
import type { ArgoChange, ArgoRecord } from "./argo-types.ts";
import type { DriftAuthor, GitBaseline, OwnedBy, PausedObject } from "./ownership.ts";
import type { FlaggerChange, FlaggerRecord } from "./flagger-types.ts";
import type { DeployFailure, DeployProblem } from "./deploy.ts";
import { abortWave, driftedRow, gateRefused, type Wave } from "./wave.ts";
import type { BakeVerdict } from "./bake.ts";

export { TERMINAL, type Actor, type RolloutStatus } from "./status.ts";
export type { Refusal, RolloutRefusal } from "./refusal.ts";

/**
 * The rollout record and its transitions. Pure: every function takes a record and returns a new one (or a
 * refusal a person can read). The store persists records with compare-and-set; workers make the mesh match
 * `desiredPercent` and report back through `markApplied` and friends.
 */

export type EventKind =
  | "started"
  | "advanced"
  | "applied"
  | "finish-requested"
  | "completed"
  | "abort-requested"
  | "aborted"
  | "rejected"
  | "held"
  | "resumed"
  | "warning"
  | "mode" // switched between automatic and manual
  | "notice" // an automatic step is coming: anyone may Hold
  | "reminder" // a manual stage has waited long: the starter is asked to decide
  | "alert" // the bot aborted or held by itself: the starter is told why
  | "deployed" // `--image`: the new version's Deployment is up (`text`: what was created)
  | "cleanup" // objects removed after Finish, Abort or a failed deploy (`text`: which)
  | "controller" // Argo Rollouts moved, or a person's request was sent to it (`change`)
  | "wave" // a wave moved between clusters, held on one that does not answer, or reverted one (`wave`)
  | "gitops"; // who owns what the bot writes (Argo CD, Flux): an owner that ignores it, a pause set or taken off, what git must say

export type RolloutEvent = {
  seq: number;
  at: number;
  kind: EventKind;
  actor: Actor;
  /** Canary percent before and after, where the event moved traffic. */
  from?: number;
  to?: number;
  /** Text from outside the bot's own words: a mesh rendering, an error, a reason given; shown as it came. */
  text?: string;
  /** `resumed` after drift: our weights written over the hand edit, or the hand edit adopted. */
  how?: "reapply" | "adopt";
  /** `mode`: the interval of automatic steps, or null for manual. */
  intervalMs?: number | null;
  /** `notice`, `reminder`, `alert`: what the bot says, as data. */
  note?: BotNote;
  /** `controller`: what Argo Rollouts did, or which request was sent to it. */
  change?: ArgoChange;
  /** `controller`: what Flagger asked or reported, or what a person decided on its gates. */
  flagger?: FlaggerChange;
  /** A wave's cluster the event happened in (the thread names it: `prod-eu: 10% -> 50%`). */
  cluster?: string;
  /** `wave`: what the wave did, and where. */
  wave?: WaveEvent;
};

/** What a wave did (`wave` events): data, the views say it in words. */
export type WaveEvent =
  | { what: "finished"; cluster: string; next: string; verdict?: string; opensAt?: number }
  | { what: "opened"; cluster: string; from: string }
  | { what: "refused"; cluster: string; problem: string }
  | { what: "unreachable"; cluster: string; since: number; error: string }
  | { what: "reachable"; cluster: string; since: number }
  | { what: "reverted"; cluster: string; next?: string }
  | { what: "completed"; clusters: string[] }
  /** A finished cluster holds what the wave verified there again, after it had been changed. */
  | { what: "restored"; cluster: string }
  /** The bake's readings say the canary is worse where it finished: the automatic gate to `next` stays closed. */
  | { what: "bake-worse"; cluster: string; next: string; verdict: BakeVerdict; gate: "auto" | "manual" };

/** The latest success-rate reading, stored so that every rendering of the record stays pure. */
export type StoredSnapshot = {
  at: number;
  windowSeconds: number;
  /** Weights the mesh held when the reading was taken. */
  canaryPercent: number;
  stable?: SampleLike;
  canary?: SampleLike;
  /** Latency gate: each version's share of requests no slower than the threshold over this reading's interval (for the chart). */
  fast?: { stable?: number; canary?: number };
  /** The counts since the rollout began, which the verdict judges (absent on records from before issue 16). */
  evidence?: Evidence;
  verdict: Verdict;
  /** A person pressed Refresh for this reading: the message shows it at once, outside the update budget. */
  askedAt?: number;
};

export type Rollout = {
  id: string;
  target: Target;
  stable: string;
  canary: string;
  steps: number[];
  /** Index into `steps` of the step we are at or moving to; -1 is the test stage (0%, header routing only). */
  stepIndex: number;
  desiredPercent: number;
  /** What the mesh was last verified to hold (read back after our write); null before the first write. */
  appliedPercent: number | null;
  /** What the mesh held before the rollout began, as the router rendered it. */
  initialRaw?: string;
  /** The latest read-back of the mesh, as the router renders it. */
  observedRaw?: string;
  status: RolloutStatus;
  version: number;
  createdAt: number;
  updatedAt: number;
  startedBy: string;
  channel: string;
  /** Last person-or-bot transition, so a late click can be told who moved first. */
  last?: { kind: EventKind; actor: Actor; at: number; stepIndex: number };
  events: RolloutEvent[];
  /** Why the rollout is held, rejected or failing right now; shown on the message. */
  problem?: string;
  endedAt?: number;
  /** How a person sends one request to the canary only (from the router), shown at the test stage. */
  testRequestHint?: string;
  /** Automatic mode: the bot takes each step after `intervalMs` while the canary is healthy. */
  /**
   * Automatic steps. `by`: the person who turned them on (absent: the starter); the bot's steps carry that
   * person's rights, so its final step obeys the policy's `finish` rule and second approver.
   */
  auto?: { intervalMs: number; maxWaitMs: number; noticeMs: number; waitingSince?: number; by?: string };
  /** Pending timers of the current stage; timer jobs carry `seq` and do nothing once it has moved on. */
  timers?: { seq: number; stepIndex: number; stepAt?: number; noticeAt?: number; remindAt?: number };
  /** A deadline for the whole rollout, announced at `warnAt`. */
  deadline?: { at: number; action: "hold" | "abort"; warnAt: number };
  /**
   * The mesh holds something we did not write (someone edited it by hand). The rollout is held until a person
   * re-applies our weights, adopts theirs, or aborts. `observedPercent` is absent when what the mesh holds is
   * not a split between the two versions at all.
   */
  drift?: { observedPercent?: number; raw: string; at: number; by?: DriftAuthor; owned?: OwnedBy };
  /**
   * A person answered drift (Re-apply, Adopt, Resume): the next reconcile writes even when the weights are
   * already right, so what the mesh holds besides them (a Gateway rule's matches) becomes the bot's baseline
   * and what the bot owns (its test rule) follows it. Cleared by the verified write.
   */
  resync?: true;
  /**
   * A person chose Re-apply over an "owned" refusal: the next write takes the fields from the other field
   * manager (server-side apply `force=true`). Cleared by the verified write.
   */
  takeOwnership?: true;
  /**
   * A person pressed "Pause Flux for this rollout" on a Flux revert (src/engine/flux-pause.ts): before the
   * next write the worker pauses Flux on the routing object (recorded in `gitopsPaused`), then clears this.
   */
  gitopsPauseAsked?: true;
  /** The router's opaque print of what it manages besides the weights, at the last verified write (Observed.print). */
  meshPrint?: string;
  /** The latest success-rate snapshot of stable vs canary, if the target has a metrics source. */
  snapshot?: StoredSnapshot;
  /** Where to reply to the person who started it before the channel message exists. */
  responseUrl?: string;
  /**
   * `cleanup: scale-down` only: the stable's Deployment preflight saw its Service select (serving the
   * target) before the first write. Finish scales this one and nothing else; absent, it scales nothing.
   */
  stableWorkload?: { namespace: string; name: string };
  /** A revision Argo Rollouts runs: the bot follows and steers it instead of moving a mesh (src/engine/argo.ts). */
  argo?: ArgoRecord;
  /**
   * Objects whose GitOps reconcile the bot paused for this rollout (`gitops: pause`, Flux). Recorded before
   * the pause is set and cleared only once it is taken off, so a rollout never ends with one left behind.
   */
  gitopsPaused?: PausedObject[];
  /** GitOps-owned objects the rollout writes, with what they held at the start: Finish and Abort say what git must now say. */
  gitopsBaseline?: GitBaseline[];
  /** A Canary revision Flagger runs: the bot answers its webhook gates (src/engine/flagger.ts). */
  flagger?: FlaggerRecord;
  /** `--image`: the new version the bot deploys (and later may remove); see DeployRecord. */
  deploy?: DeployRecord;
  /**
   * A wave through several clusters (src/engine/wave.ts): `target` is always the target in the cluster the
   * wave is at (running, or being reverted), so every per-cluster step works on it unchanged.
   */
  wave?: Wave;
};

export type DeployedObject = { kind: "Deployment" | "Service"; name: string; uid?: string };

/**
 * What `--image` asked for and what the bot made. Names are fixed when the rollout is recorded, so a process
 * that takes over after a crash applies the same objects (server-side apply: nothing is made twice).
 */
export type DeployRecord = {
  image: string;
  namespace: string;
  /** The new version's objects; `uid` once the apply answered (removal is preconditioned on it). */
  objects: DeployedObject[];
  /** The container whose image was set (known after the first apply). */
  container?: string;
  deadlineAt: number;
  timeoutMs: number;
  /** The latest count while waiting. */
  ready?: number;
  desired?: number;
  /** Applied at least once (later passes only read how it is doing). */
  applied?: true;
  /** Why the start ended while deploying: Kubernetes' report, or a refusal found before anything was applied. */
  failure?: DeployFailure;
  refused?: DeployProblem;
  /** Objects removed again (after a failure, or Abort), and objects of the old version removed at Finish. */
  removed?: DeployedObject[];
  removedOld?: DeployedObject[];
};

/** A transition: the new record, or why not (a code with data; views say it in words). */
export type TransitionResult = Result<Rollout, Refusal>;
type Refused = { ok: false; error: RolloutRefusal };

function refuse(error: RolloutRefusal): Refused {
  return err(error);
}

const MAX_EVENTS = 200;

export function rolloutId(target: string, seq: number): string {
  return `${target}#${seq}`;
}

export function parseRolloutId(id: string): { target: string; seq: number } | undefined {
  // `shop#3` in the bot's own cluster, `shop@prod-eu#3` in another (src/engine/target.ts targetKey).
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(@[a-z0-9]([-a-z0-9]*[a-z0-9])?)?)#(\d{1,9})$/.exec(id);
  if (!m) return undefined;
  return { target: m[1]!, seq: Number(m[5]) };
}

export function isTerminal(r: Rollout): boolean {
  return TERMINAL.has(r.status);
}

export function isInFlight(r: Rollout): boolean {
  return r.appliedPercent !== r.desiredPercent;
}

export function nextStepPercent(r: Rollout): number | undefined {
  return r.steps[r.stepIndex + 1];
}

/** Append an event (numbered after the last one), keeping the newest MAX_EVENTS. */
export function withEvent(r: Rollout, now: number, e: Omit<RolloutEvent, "seq" | "at">): Rollout {
  const seq = (r.events.at(-1)?.seq ?? 0) + 1;
  const here = r.wave && r.target.cluster !== undefined && e.cluster === undefined ? { cluster: r.target.cluster } : {};
  const events = [...r.events, { ...e, ...here, seq, at: now }];
  return { ...r, events: events.length > MAX_EVENTS ? events.slice(-MAX_EVENTS) : events };
}

function touch(r: Rollout, now: number): Rollout {
  return { ...r, updatedAt: now };
}

export type NewRollout = {
  id: string;
  target: Target;
  stable: string;
  canary: string;
  steps: number[];
  startedBy: string;
  channel: string;
  responseUrl?: string;
  /** Begin with a 0% stage where only header-routed test requests reach the canary (namerd). */
  testStage: boolean;
  now: number;
  auto?: Rollout["auto"];
  deadline?: Rollout["deadline"];
  /** `--image`: begin in `deploying` with the new version's objects named here. */
  deploy?: DeployRecord;
  /** A wave: `target` is already the first cluster's. */
  wave?: Wave;
};

export function newRollout(n: NewRollout): Rollout {
  const stepIndex = n.testStage ? -1 : 0;
  return {
    id: n.id,
    target: n.target,
    stable: n.stable,
    canary: n.canary,
    steps: n.steps,
    stepIndex,
    desiredPercent: stepIndex < 0 ? 0 : n.steps[0]!,
    appliedPercent: null,
    status: n.deploy ? "deploying" : "starting",
    version: 0,
    createdAt: n.now,
    updatedAt: n.now,
    startedBy: n.startedBy,
    channel: n.channel,
    events: [],
    ...(n.auto ? { auto: n.auto } : {}),
    ...(n.deadline ? { deadline: n.deadline } : {}),
    ...(n.responseUrl ? { responseUrl: n.responseUrl } : {}),
    ...(n.deploy ? { deploy: n.deploy } : {}),
    ...(n.wave ? { wave: n.wave } : {}),
  };
}

/** `--image`: the new version's apply and count, as the worker saw them; no event (the message shows it). */
export function withDeploy(r: Rollout, patch: Partial<DeployRecord>, now: number): Rollout {
  if (!r.deploy) return r;
  const next = { ...r.deploy, ...patch };
  return JSON.stringify(next) === JSON.stringify(r.deploy) ? r : touch({ ...r, deploy: next }, now);
}

/** `--image`: the new version is up; the start goes on as any other (preflight, then the first write). */
export function markDeployed(r: Rollout, text: string, now: number): Rollout {
  if (r.status !== "deploying") return r;
  return withEvent(touch({ ...r, status: "starting", problem: undefined }, now), now, { kind: "deployed", actor: { kind: "bot", why: "deploy" }, text });
}

/** `--image`: the new version could not come up (or could not be made); the start ends, nothing was routed. */
export function markDeployFailed(r: Rollout, why: { failure?: DeployFailure; refused?: DeployProblem }, problem: string, now: number): Rollout {
  if (r.status !== "deploying" || !r.deploy) return r;
  return markRejected({ ...r, deploy: { ...r.deploy, ...why } }, problem, now);
}

/** Objects the bot removed (its own after a failure or Abort, `old` the stable's after Finish), with a thread line. */
export function withRemoved(r: Rollout, removed: DeployedObject[], old: boolean, text: string, now: number): Rollout {
  if (!r.deploy || !removed.length) return r;
  const deploy = old
    ? { ...r.deploy, removedOld: [...(r.deploy.removedOld ?? []), ...removed] }
    : { ...r.deploy, removed: [...(r.deploy.removed ?? []), ...removed] };
  return withEvent(touch({ ...r, deploy }, now), now, { kind: "cleanup", actor: { kind: "bot", why: "cleanup" }, text });
}

function atGate(r: Rollout): RolloutRefusal {
  const next = r.wave?.rows[r.wave.position + 1]?.cluster ?? "";
  return { code: "at-gate", id: r.id, next };
}

function refuseIfEnded(r: Rollout): Refused | undefined {
  if (r.status === "completed" || r.status === "aborted") return refuse({ code: "ended", id: r.id, status: r.status, ...byWhom(r) });
  if (r.status === "rejected") return refuse({ code: "never-started", id: r.id, ...(r.problem ? { problem: r.problem } : {}) });
  return undefined;
}

/** Who finished or aborted the rollout, when its events say. */
function byWhom(r: Rollout): { by?: Actor } {
  const abortOrFinish = [...r.events].reverse().find((e) => e.kind === "abort-requested" || e.kind === "finish-requested");
  return abortOrFinish ? { by: abortOrFinish.actor } : {};
}

/** The worker validated the target and wrote the first step: the rollout is live. */
export function markStarted(r: Rollout, observed: { percent: number; raw: string; initialRaw: string; testRequestHint?: string }, now: number): Rollout {
  const started: Rollout = {
    ...r,
    status: "active",
    appliedPercent: observed.percent,
    observedRaw: observed.raw,
    initialRaw: observed.initialRaw,
    problem: undefined,
    ...(observed.testRequestHint ? { testRequestHint: observed.testRequestHint } : {}),
  };
  return withEvent(touch(started, now), now, { kind: "started", actor: { kind: "user", id: r.startedBy }, to: observed.percent });
}

/** The mesh could not carry this rollout; nothing was written. */
export function markRejected(r: Rollout, problem: string, now: number): Rollout {
  if (r.wave && r.wave.position > 0 && !r.wave.revert) return backToGate(r, r.wave, problem, now);
  return withEvent(touch({ ...r, status: "rejected", problem, endedAt: now }, now), now, {
    kind: "rejected",
    actor: { kind: "bot", why: "validation" },
    text: problem,
  });
}

/**
 * A wave's next cluster refused the start before anything was written there: the wave waits at the gate
 * before it again (the previous cluster stays finished at 100%), for a person to fix it and Advance, or Abort.
 */
function backToGate(r: Rollout, w: Wave, problem: string, now: number): Rollout {
  const refused = w.rows[w.position]!.cluster;
  const wave = gateRefused(w, now);
  const here = wave.rows[wave.position]!.cluster;
  const last = r.steps.length - 1;
  // Nothing was written in the refused cluster: no note on what git must say there.
  const { gitopsBaseline: _g, ...rest } = r;
  const back = touch(
    {
      ...rest,
      status: "at-gate",
      wave,
      target: { ...r.target, cluster: here },
      stepIndex: last,
      desiredPercent: 100,
      appliedPercent: 100,
      problem: `${refused}: ${problem}`,
    },
    now,
  );
  return withEvent(back, now, {
    kind: "wave",
    actor: { kind: "bot", why: "validation" },
    cluster: refused,
    wave: { what: "refused", cluster: refused, problem },
  });
}

/**
 * Move to the next step. `fromStep` is the step the person saw when they clicked, so a second click on
 * the same message is recognised as late rather than advancing twice.
 */
export function advance(r: Rollout, actor: Actor, fromStep: number, now: number): TransitionResult {
  const ended = refuseIfEnded(r);
  if (ended) return ended;
  if (r.status === "aborting") return refuse({ code: "being-aborted", id: r.id, ...byWhom(r) });
  if (r.status === "finishing") return refuse({ code: "already-finishing", id: r.id, ...byWhom(r) });
  if (r.stepIndex > fromStep) {
    const to = r.steps[fromStep + 1];
    const who = [...r.events].reverse().find((e) => e.kind === "advanced" && e.to === to);
    return refuse({ code: "already-advanced", to, ...(who ? { by: who.actor } : {}) });
  }
  if (r.stepIndex !== fromStep) return refuse({ code: "moved-on", id: r.id, percent: r.desiredPercent });
  if (r.status === "held") return refuse({ code: "held", id: r.id, ...(r.problem ? { problem: r.problem } : {}) });
  if (r.status === "starting" || r.status === "deploying") return refuse({ code: "starting", id: r.id });
  if (isInFlight(r)) return refuse({ code: "in-flight", id: r.id, percent: r.desiredPercent });
  const next = nextStepPercent(r);
  if (next === undefined) return refuse({ code: "last-step", id: r.id });
  const moved = touch({ ...r, stepIndex: r.stepIndex + 1, desiredPercent: next, last: { kind: "advanced", actor, at: now, stepIndex: r.stepIndex + 1 } }, now);
  return ok(withEvent(moved, now, { kind: "advanced", actor, from: r.appliedPercent ?? 0, to: next }));
}

/** At 100%, make the canary permanent. */
export function finish(r: Rollout, actor: Actor, now: number): TransitionResult {
  const ended = refuseIfEnded(r);
  if (ended) return ended;
  if (r.status === "finishing") return refuse({ code: "already-finishing", id: r.id, ...byWhom(r) });
  if (r.status === "aborting") return refuse({ code: "being-aborted", id: r.id, ...byWhom(r) });
  if (r.status === "held") return refuse({ code: "held", id: r.id });
  if (r.status === "at-gate") return refuse(atGate(r));
  const drifted = lastClusterBlocked(r);
  if (drifted) return refuse({ code: "wave-drifted", cluster: drifted });
  if (r.desiredPercent !== 100 || r.appliedPercent !== 100) return refuse({ code: "not-at-full", id: r.id, percent: r.appliedPercent ?? 0 });
  const moved = touch({ ...r, status: "finishing", last: { kind: "finish-requested", actor, at: now, stepIndex: r.stepIndex } }, now);
  return ok(withEvent(moved, now, { kind: "finish-requested", actor, from: 100, to: 100 }));
}

/**
 * Emergency promote: skip the remaining steps and make the canary permanent now. The record goes straight
 * to `finishing` with 100% desired; the worker's finalize writes the final weights over what it last
 * verified (a hand edit since then is drift, as for Finish). Refused while the mesh is mid-write, while
 * drift is unresolved, and once the rollout is stopping or ended.
 */
export function promote(r: Rollout, actor: Actor, now: number): TransitionResult {
  const ended = refuseIfEnded(r);
  if (ended) return ended;
  if (r.status === "finishing") return refuse({ code: "already-finishing", id: r.id, ...byWhom(r) });
  if (r.status === "aborting") return refuse({ code: "being-aborted", id: r.id, ...byWhom(r) });
  if (r.status === "starting" || r.status === "deploying") return refuse({ code: "starting", id: r.id });
  if (r.status === "at-gate") return refuse(atGate(r));
  if (r.drift) return refuse({ code: "held", id: r.id, ...(r.problem ? { problem: r.problem } : {}) });
  const drifted = lastClusterBlocked(r);
  if (drifted) return refuse({ code: "wave-drifted", cluster: drifted });
  if (isInFlight(r)) return refuse({ code: "in-flight", id: r.id, percent: r.desiredPercent });
  const last = r.steps.length - 1;
  const from = r.appliedPercent ?? 0;
  const moved = touch(
    {
      ...r,
      status: "finishing",
      stepIndex: last,
      desiredPercent: 100,
      problem: undefined,
      last: { kind: "finish-requested", actor, at: now, stepIndex: last },
    },
    now,
  );
  return ok(withEvent(moved, now, { kind: "finish-requested", actor, from, to: 100 }));
}

/**
 * The finished cluster a wave's last Finish would make final over a change it has not seen through (every
 * earlier cluster is made final with the last one), if any.
 */
function lastClusterBlocked(r: Rollout): string | undefined {
  const w = r.wave;
  return w && w.position === w.rows.length - 1 ? driftedRow(w)?.cluster : undefined;
}

/** Return all traffic to stable. Always allowed until the rollout has ended: stopping must be easy. */
export function abort(r: Rollout, actor: Actor, now: number, why?: string): TransitionResult {
  if (r.status === "aborting") return refuse({ code: "already-aborting", id: r.id, ...byWhom(r) });
  const ended = refuseIfEnded(r);
  if (ended) return ended;
  // A wave reverts every cluster it touched, newest first: the one it is at now comes first. What held it at
  // a gate (a refused start, a cluster that did not answer) is no longer the question.
  const wave = r.wave ? { wave: abortWave(r.wave), problem: undefined } : {};
  const moved = touch({ ...r, ...wave, status: "aborting", desiredPercent: 0, last: { kind: "abort-requested", actor, at: now, stepIndex: r.stepIndex } }, now);
  return ok(withEvent(moved, now, { kind: "abort-requested", actor, from: r.appliedPercent ?? 0, to: 0, ...(why ? { text: why } : {}) }));
}

/** The worker verified the mesh holds `percent`. Only records it if that is still what is desired. */
export function markApplied(r: Rollout, percent: number, raw: string, now: number): Rollout {
  if (r.desiredPercent !== percent || r.appliedPercent === percent) {
    return r.observedRaw === raw && !r.problem && !r.resync && !r.takeOwnership
      ? r
      : { ...r, observedRaw: raw, problem: undefined, resync: undefined, takeOwnership: undefined };
  }
  const from = r.appliedPercent ?? 0;
  const moved = touch({ ...r, appliedPercent: percent, observedRaw: raw, problem: undefined, resync: undefined, takeOwnership: undefined }, now);
  if (r.status === "aborting") return moved; // the abort is announced when it is final
  return withEvent(moved, now, { kind: "applied", actor: { kind: "bot", why: "verified" }, from, to: percent, text: raw });
}

/** Keep the router's print of the verified write (absent: the router has none, or the write was not verified). */
export function withMeshPrint(r: Rollout, print: string | undefined): Rollout {
  if (r.meshPrint === print) return r;
  const { meshPrint: _old, ...rest } = r;
  return print === undefined ? rest : { ...rest, meshPrint: print };
}

export function markCompleted(r: Rollout, raw: string, now: number): Rollout {
  return withEvent(touch({ ...r, status: "completed", appliedPercent: 100, observedRaw: raw, endedAt: now, problem: undefined }, now), now, {
    kind: "completed",
    actor: r.last?.actor ?? { kind: "bot", why: "finish" },
    to: 100,
    text: raw,
  });
}

export function markAborted(r: Rollout, raw: string, now: number): Rollout {
  return withEvent(touch({ ...r, status: "aborted", appliedPercent: 0, observedRaw: raw, endedAt: now, problem: undefined }, now), now, {
    kind: "aborted",
    actor: r.last?.actor ?? { kind: "bot", why: "abort" },
    from: r.appliedPercent ?? 0,
    to: 0,
    text: raw,
  });
}

/** Something went wrong that a person should see (a retrying write, drift). Does not change the state. */
export function withProblem(r: Rollout, problem: string | undefined, now: number, announce = true): Rollout {
  if (r.problem === problem) return r;
  const updated = touch({ ...r, problem }, now);
  return problem && announce ? withEvent(updated, now, { kind: "warning", actor: { kind: "bot", why: "worker" }, text: problem }) : updated;
}

/**
 * Someone changed the mesh behind the bot's back: hold (if running) and remember what the mesh holds now.
 * Never a write: the person decides between Re-apply, Adopt and Abort.
 */
export function markDrift(r: Rollout, found: { percent?: number; raw: string; by?: DriftAuthor }, why: string, now: number): Rollout {
  const drift = { ...(found.percent !== undefined ? { observedPercent: found.percent } : {}), raw: found.raw, at: now, ...(found.by ? { by: found.by } : {}) };
  if (r.status === "active") {
    const held = hold(r, { kind: "bot", why: "drift" }, now, why);
    if (held.ok) return { ...held.value, drift };
  }
  return { ...withProblem(r, why, now), drift };
}

/**
 * Finish found the mesh changed by hand: the canary was not made permanent and nothing was written. The
 * rollout goes back to its last stage, held with the drift like a running one, so a person can Re-apply
 * (then Finish again), Adopt or Abort. Any other status is handled as markDrift does.
 */
export function markFinishDrift(r: Rollout, found: { percent?: number; raw: string; by?: DriftAuthor }, why: string, now: number): Rollout {
  return markDrift(r.status === "finishing" ? { ...r, status: "active" } : r, found, why, now);
}

/**
 * Server-side apply was refused: another field manager owns what the bot writes (`managers`, `fields` as the
 * API named them; `owner` the GitOps owner behind a manager, when known). Held like drift, nothing written;
 * a start that met it is started at what the mesh holds, held. Only Re-apply takes the fields (force).
 */
export function markOwned(r: Rollout, found: { percent?: number; raw: string }, owned: OwnedBy, why: string, now: number): Rollout {
  const base =
    r.status === "starting" && found.percent !== undefined
      ? markStarted(r, { percent: found.percent, raw: found.raw, initialRaw: found.raw }, now)
      : r.status === "finishing"
        ? { ...r, status: "active" as const }
        : r;
  const held = markDrift(base, found, why, now);
  return held.drift ? { ...held, drift: { ...held.drift, owned } } : held;
}

/** Re-apply: our weights win over the hand edit. The reconcile writes them, expecting what it saw. */
export function reapply(r: Rollout, actor: Actor, now: number): TransitionResult {
  const ended = refuseIfEnded(r);
  if (ended) return ended;
  if (!r.drift) return refuse({ code: "no-drift", id: r.id });
  if (r.drift.observedPercent === undefined) return refuse({ code: "no-split-to-reapply", stable: r.stable, canary: r.canary, raw: r.drift.raw });
  const by = r.drift.by;
  if (by?.gitops) {
    const o = by.gitops.owner;
    return refuse({
      code: "gitops-revert",
      id: r.id,
      manager: by.manager,
      owner: { kind: o.kind, ...(o.name ? { name: o.name } : {}), ...(o.namespace ? { namespace: o.namespace } : {}) },
    });
  }
  const owned = r.drift.owned;
  const moved = touch(
    {
      ...r,
      status: "active",
      appliedPercent: r.drift.observedPercent,
      drift: undefined,
      resync: true,
      // Our weights win over the edit: also over whichever field manager made it (force), said in the event.
      takeOwnership: true,
      problem: undefined,
      last: { kind: "resumed", actor, at: now, stepIndex: r.stepIndex },
    },
    now,
  );
  // Taking another manager's fields is said in the event, and so in the audit trail.
  const managers = owned?.managers ?? (r.drift.by ? [r.drift.by.manager] : []);
  const taking = managers.length
    ? { text: `taking ${owned?.fields.join(", ") || "the fields"} from ${managers.map((m) => `\`${m}\``).join(", ")} (force)` }
    : {};
  return ok(withEvent(moved, now, { kind: "resumed", actor, from: r.drift.observedPercent, to: r.desiredPercent, how: "reapply", ...taking }));
}

/** Adopt: the hand edit becomes the rollout's state; the plan continues from the next step above it. */
export function adopt(r: Rollout, actor: Actor, now: number): TransitionResult {
  const ended = refuseIfEnded(r);
  if (ended) return ended;
  const found = r.drift?.observedPercent;
  if (found === undefined) return refuse(r.drift ? { code: "no-split-to-adopt", stable: r.stable, canary: r.canary } : { code: "no-drift", id: r.id });
  // The step we are "at" is the last one not above what the mesh holds; -1 below the first step.
  let stepIndex = -1;
  r.steps.forEach((s, i) => {
    if (s <= found) stepIndex = i;
  });
  const moved = touch(
    {
      ...r,
      status: "active",
      stepIndex,
      desiredPercent: found,
      appliedPercent: found,
      drift: undefined,
      resync: true,
      problem: undefined,
      last: { kind: "resumed", actor, at: now, stepIndex },
    },
    now,
  );
  return ok(withEvent(moved, now, { kind: "resumed", actor, from: r.appliedPercent ?? 0, to: found, how: "adopt" }));
}

/** A message from the bot to the thread (a notice, a reminder, an alert); changes no state. */
export function withNote(r: Rollout, kind: "notice" | "reminder" | "alert", note: BotNote, now: number): Rollout {
  return withEvent(touch(r, now), now, { kind, actor: { kind: "bot", why: kind }, note });
}

/** A problem worth a line in the thread (a clean-up that failed, an overwritten hand edit); changes no state. */
export function withWarning(r: Rollout, text: string, now: number): Rollout {
  return withEvent(touch(r, now), now, { kind: "warning", actor: { kind: "bot", why: "warning" }, text });
}

/** A line about the objects' GitOps owners for the thread (and the audit trail); changes no state. `cluster`: a wave's cluster it is about. */
export function withGitopsNote(r: Rollout, text: string, now: number, cluster?: string): Rollout {
  return withEvent(touch(r, now), now, { kind: "gitops", actor: { kind: "bot", why: "worker" }, text, ...(cluster !== undefined ? { cluster } : {}) });
}

/**
 * What the GitOps-owned objects held before the first write (for Finish and Abort to say what git must say).
 * In a wave, also on the row of the cluster starting now: the record's own is dropped when the wave moves on,
 * and every cluster the wave wrote to gets its note at the end.
 */
export function withGitopsBaseline(r: Rollout, baseline: GitBaseline[]): Rollout {
  if (!baseline.length) return r;
  const w = r.wave;
  const wave = w ? { wave: { ...w, rows: w.rows.map((row, i) => (i === w.position ? { ...row, gitopsBaseline: baseline } : row)) } } : {};
  return { ...r, gitopsBaseline: baseline, ...wave };
}

/** The objects paused for this rollout (empty: none left). */
export function withGitopsPaused(r: Rollout, paused: PausedObject[]): Rollout {
  if (paused.length) return { ...r, gitopsPaused: paused };
  const { gitopsPaused: _, ...rest } = r;
  return rest;
}

/** A new success-rate reading; no event (it is shown on the message, not posted to the thread). */
export function withSnapshot(r: Rollout, snapshot: StoredSnapshot): Rollout {
  // The stored reading handed back (too soon for a new one) changes nothing; a reading folded onto evidence
  // that another reading has meanwhile extended would count traffic twice.
  if (snapshot.at === r.snapshot?.at || !isNextReading(r.snapshot?.evidence, snapshot.evidence)) return r;
  return { ...r, snapshot };
}

/** The stable version was read from the mesh (namerd) because the person did not name it. */
export function withStable(r: Rollout, stable: string): Rollout {
  return r.stable === stable ? r : { ...r, stable };
}

/** Drift or an unrecoverable write error: stop moving until a person decides. */
export function hold(r: Rollout, actor: Actor, now: number, why?: string): TransitionResult {
  const ended = refuseIfEnded(r);
  if (ended) return ended;
  if (r.status === "held") return refuse({ code: "already-held", id: r.id });
  if (r.status !== "active") return refuse({ code: "cannot-hold", id: r.id, status: r.status });
  const moved = touch({ ...r, status: "held", problem: why ?? r.problem, last: { kind: "held", actor, at: now, stepIndex: r.stepIndex } }, now);
  return ok(withEvent(moved, now, { kind: "held", actor, ...(why ? { text: why } : {}) }));
}

export function resume(r: Rollout, actor: Actor, now: number): TransitionResult {
  const ended = refuseIfEnded(r);
  if (ended) return ended;
  if (r.status !== "held") return refuse({ code: "not-held", id: r.id, status: r.status });
  const moved = touch(
    {
      ...r,
      status: "active",
      problem: undefined,
      drift: undefined,
      ...(r.drift ? { resync: true as const } : {}),
      last: { kind: "resumed", actor, at: now, stepIndex: r.stepIndex },
    },
    now,
  );
  return ok(withEvent(moved, now, { kind: "resumed", actor }));
}

/** Events not yet posted to the thread, oldest first. */
export function eventsAfter(r: Rollout, postedSeq: number): RolloutEvent[] {
  return r.events.filter((e) => e.seq > postedSeq);
}

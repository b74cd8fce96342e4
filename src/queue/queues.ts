import type { ConnectionOptions, JobsOptions } from "bullmq";
import type { Rollout } from "../engine/rollout.ts";
import { EffectLanes } from "./lanes.ts";

/**
 * Every effect is a BullMQ job, in the lane its name picks (src/queue/lanes.ts: mesh writes and timers in
 * their own). Jobs hold only the rollout id and the record version that caused them; the worker re-reads
 * the record, so a duplicate or late job is harmless.
 * Job ids are deterministic (`<rollout>.v<version>.<job>`) so the same effect is enqueued once.
 */

export type JobName = "reconcile" | "slack-sync" | "snapshot" | "timer" | "chart" | "home";
/** Timers of a stage (keyed by the record's timers.seq) and of the whole rollout (the deadline). */
export type TimerKind = "auto-step" | "auto-notice" | "remind" | "deadline-warn" | "deadline" | "wave-gate";
export type EffectJob = {
  rolloutId: string;
  version: number;
  timer?: TimerKind;
  /** A person pressed Refresh for this reading (it is shown at once, outside the update budget). */
  asked?: true;
  /** `home`: publish this person's board only (they just opened it), with `notice` at the top. */
  userId?: string;
  notice?: string;
  /** `slack-sync`: the try of a refresh the Slack budget deferred (see slackRefreshAt). */
  refresh?: true;
  /** `slack-sync`: put back by the Slack budget; the bucket whose line holds its slot (src/slack/budget-line.ts). */
  backFor?: string;
};

const KEEP = { removeOnComplete: { age: 3600, count: 10_000 }, removeOnFail: { age: 24 * 3600 } } satisfies JobsOptions;

/**
 * Priorities (1 runs first): a mesh write (an abort above all) and a due step must not wait behind a
 * backlog of message renderings and readings, which are safe to run late.
 */
const PRIORITY = { reconcile: 1, timer: 2, "slack-sync": 5, "slack-refresh": 6, snapshot: 10, home: 12, chart: 15 } as const;

/** Mesh writes retry for as long as it takes (abort must always complete); the backoff is capped. */
const RECONCILE: JobsOptions = { ...KEEP, attempts: 1_000_000, backoff: { type: "capped" }, priority: PRIORITY.reconcile };
const SLACK: JobsOptions = { ...KEEP, attempts: 50, backoff: { type: "capped" }, priority: PRIORITY["slack-sync"] };
const TIMER: JobsOptions = {
  removeOnComplete: { age: 3600 },
  removeOnFail: { age: 24 * 3600 },
  attempts: 20,
  backoff: { type: "capped" },
  priority: PRIORITY.timer,
};
/** A failed reading is recorded as "metrics unavailable"; only Redis trouble fails the job itself. */
const SNAPSHOT: JobsOptions = { removeOnComplete: true, removeOnFail: { age: 3600 }, attempts: 3, backoff: { type: "capped" }, priority: PRIORITY.snapshot };

export class EffectQueue {
  /** Both lanes: `add` picks a job's lane by its name, `remove` looks in both. */
  readonly queue: EffectLanes<EffectJob, JobName>;
  /** The latest Home slot whose job this process has added (homeSoon). */
  private homeSlotAdded = 0;

  constructor(connection: ConnectionOptions, prefix: string) {
    this.queue = new EffectLanes<EffectJob, JobName>(connection, prefix);
  }

  async reconcile(r: Pick<Rollout, "id" | "version">, delayMs = 0): Promise<void> {
    await this.add("reconcile", r, RECONCILE, delayMs);
  }

  /**
   * `--image`: look at the new version's pods again at `at`. Keyed by the time, not the record's version: a
   * count that did not change leaves the version as it was, and the next look must still be scheduled.
   */
  async deployPoll(rolloutId: string, at: number, now: number): Promise<void> {
    const delay = Math.max(0, at - now);
    await this.queue.add(
      "reconcile",
      { rolloutId, version: 0 },
      { ...RECONCILE, removeOnComplete: true, removeOnFail: { age: 3600 }, jobId: `${rolloutId}.deploy.${at}`, ...(delay ? { delay } : {}) },
    );
  }

  async slackSync(r: Pick<Rollout, "id" | "version">, delayMs = 0): Promise<void> {
    await this.add("slack-sync", r, SLACK, delayMs);
  }

  /**
   * A message update held back by the per-message budget (src/slack/render-budget.ts), due at `at`. Keyed by
   * the time it is due, so every reading held back in one interval shares one job, and one chat.update.
   */
  async slackSyncAt(rolloutId: string, at: number, now: number): Promise<void> {
    const delay = Math.max(0, at - now);
    await this.queue.add(
      "slack-sync",
      { rolloutId, version: 0 },
      { ...SLACK, removeOnComplete: true, jobId: `${rolloutId}.sync.${at}`, ...(delay ? { delay } : {}) },
    );
  }

  /**
   * A refresh the workspace's Slack budget had no room for, tried again at `at` (a slot of the budget's
   * calendar, so deferred refreshes come one per interval). After every change of state, so a click's
   * rendering never queues behind it; the job re-reads the record, so it shows the newest reading.
   */
  async slackRefreshAt(rolloutId: string, at: number, now: number): Promise<void> {
    const delay = Math.max(0, at - now);
    await this.queue.add(
      "slack-sync",
      { rolloutId, version: 0, refresh: true },
      { ...SLACK, priority: PRIORITY["slack-refresh"], removeOnComplete: true, jobId: `${rolloutId}.refresh.${at}`, ...(delay ? { delay } : {}) },
    );
  }

  /**
   * A success-rate reading. Scheduled readings are keyed by their time slot (one per refresh interval, so a
   * restarted bot re-scheduling the same slot adds nothing); a person's Refresh is keyed by the 2-second
   * slot it fell in, so a burst of clicks makes one reading.
   */
  async snapshot(
    rolloutId: string,
    opts:
      | { slot: number; delayMs: number }
      | { refresh: true; now: number; asked?: boolean; /** a reading this much later (a fresh baseline after a write) */ afterMs?: number },
  ): Promise<void> {
    const asked = "refresh" in opts && opts.asked === true;
    const later = "refresh" in opts && opts.afterMs !== undefined;
    const jobId = "refresh" in opts ? `${rolloutId}.snap.${asked ? "a" : later ? "b" : "r"}${Math.floor(opts.now / 2000)}` : `${rolloutId}.snap.${opts.slot}`;
    const delay = "refresh" in opts ? Math.max(0, opts.afterMs ?? 0) : Math.max(0, opts.delayMs);
    await this.queue.add(
      "snapshot",
      { rolloutId, version: 0, ...(asked ? { asked: true as const } : {}) },
      { ...SNAPSHOT, jobId, ...(delay ? { delay } : {}) },
    );
  }

  /**
   * Draw and upload the rollout's chart to its thread. `key` makes the job id: `final` once per rollout (at
   * completion or abort), a time slot for a person's request (a burst of asks makes one picture).
   */
  async chart(rolloutId: string, key: string): Promise<void> {
    await this.queue.add(
      "chart",
      { rolloutId, version: 0 },
      { ...KEEP, attempts: 8, backoff: { type: "capped" }, priority: PRIORITY.chart, jobId: `${rolloutId}.chart.${key}` },
    );
  }

  /**
   * Re-publish the App Home boards. One job per `HOME_COALESCE_MS` slot, run at the slot's end: however many
   * rollouts change meanwhile, each person's Home tab is published at most once per slot.
   */
  async homeSoon(now = Date.now()): Promise<void> {
    const slot = Math.floor(now / HOME_COALESCE_MS) + 1;
    // Every change in a slot adds the same job, which runs only once the slot is over: once this process has
    // added it, another add is a duplicate (a script each, for every reading of a thousand rollouts).
    if (slot === this.homeSlotAdded) return;
    const delay = Math.max(0, slot * HOME_COALESCE_MS - now);
    await this.queue.add(
      "home",
      { rolloutId: "", version: slot },
      {
        removeOnComplete: true,
        removeOnFail: { age: 3600 },
        attempts: 3,
        backoff: { type: "capped" },
        priority: PRIORITY.home,
        jobId: `home.${slot}`,
        ...(delay ? { delay } : {}),
      },
    );
    this.homeSlotAdded = Math.max(this.homeSlotAdded, slot);
  }

  /** Publish one person's board now (they opened the Home tab, or a click there needs an answer). */
  async homeFor(userId: string, notice?: string): Promise<void> {
    await this.queue.add(
      "home",
      { rolloutId: "", version: 0, userId, ...(notice ? { notice } : {}) },
      { removeOnComplete: true, removeOnFail: { age: 3600 }, attempts: 3, backoff: { type: "capped" }, priority: PRIORITY.timer },
    );
  }

  /**
   * Effects every change has besides its own: the Home boards, and the chart once a rollout has ended (only
   * where there were success rates to draw: a target without a source gets none unless a person asks).
   */
  private async boards(r: Pick<Rollout, "id" | "status" | "target">): Promise<void> {
    await this.homeSoon();
    const measured = r.target.metrics !== undefined && r.target.metrics.source !== "none";
    if (measured && (r.status === "completed" || r.status === "aborted")) await this.chart(r.id, "final");
  }

  /** After a write that moved nothing on the mesh (a verified step, a reading, a note): show it, re-time it. */
  async afterUpdate(r: Rollout): Promise<void> {
    await Promise.all([this.slackSync(r), this.timers(r), this.boards(r)]);
  }

  /**
   * After a stored reading (`before` -> `after`): show it (a sync job now, or the update the per-message
   * budget holds back until `show.at`) and the Home boards. Its timers only if the write moved them: the
   * write that set them added their jobs, and a restarted bot adds them again from every running record
   * (startBot), so re-adding unchanged ones would only cost a script per timer and reading.
   */
  async afterReading(before: TimedRecord, after: Rollout, show: "now" | { at: number } = "now"): Promise<void> {
    await Promise.all([
      show === "now" ? this.slackSync(after) : this.slackSyncAt(after.id, show.at, Date.now()),
      sameTimers(before, after) ? undefined : this.timers(after),
      this.boards(after),
    ]);
  }

  /** Both effects of a transition: move the mesh, then show it; and the stage's timers. */
  async afterTransition(r: Rollout): Promise<void> {
    await Promise.all([this.reconcile(r), this.slackSync(r), this.timers(r), this.boards(r)]);
  }

  /**
   * Delayed jobs for what the record says is due. Ids carry the timers' seq, so scheduling the same
   * record twice adds nothing; the previous seq's jobs are removed (a job that still fires finds its seq
   * outdated and does nothing).
   */
  async timers(r: TimedRecord): Promise<void> {
    const t = r.timers;
    const adds: Promise<unknown>[] = [];
    if (t && t.seq > 1) for (const kind of STAGE_TIMERS) adds.push(this.queue.remove(timerJobId(r.id, kind, t.seq - 1)).catch(() => 0));
    for (const due of dueTimers(r)) adds.push(this.addTimer(r.id, due.kind, due.seq, due.at));
    await Promise.all(adds);
  }

  private async addTimer(rolloutId: string, kind: TimerKind, seq: number, at: number): Promise<void> {
    const delay = Math.max(0, at - Date.now());
    await this.queue.add("timer", { rolloutId, version: seq, timer: kind }, { ...TIMER, jobId: timerJobId(rolloutId, kind, seq), ...(delay ? { delay } : {}) });
  }

  private async add(name: JobName, r: Pick<Rollout, "id" | "version">, opts: JobsOptions, delayMs: number): Promise<void> {
    const jobId = `${r.id}.v${r.version}.${name}`;
    await this.queue.add(name, { rolloutId: r.id, version: r.version }, { ...opts, jobId, ...(delayMs ? { delay: delayMs } : {}) });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/** At most one App Home publish per person per this long. */
export const HOME_COALESCE_MS = 3_000;

const STAGE_TIMERS: TimerKind[] = ["auto-step", "auto-notice", "remind"];

type TimedRecord = Pick<Rollout, "id" | "timers" | "deadline" | "wave">;

/** The timer jobs a record asks for: the stage's (keyed by its seq), a wave's gate, the deadline. Pure. */
export function dueTimers(r: TimedRecord): { kind: TimerKind; seq: number; at: number }[] {
  const t = r.timers;
  const due: { kind: TimerKind; seq: number; at: number }[] = [];
  if (t?.stepAt !== undefined) due.push({ kind: "auto-step", seq: t.seq, at: t.stepAt });
  if (t?.noticeAt !== undefined) due.push({ kind: "auto-notice", seq: t.seq, at: t.noticeAt });
  if (t?.remindAt !== undefined) due.push({ kind: "remind", seq: t.seq, at: t.remindAt });
  // A wave's automatic gate: one timer per gate (keyed by the cluster it follows), due at the end of the bake time.
  const opensAt = r.wave?.atGate?.opensAt;
  if (opensAt !== undefined) due.push({ kind: "wave-gate", seq: r.wave!.position, at: opensAt });
  if (r.deadline) due.push({ kind: "deadline-warn", seq: 0, at: r.deadline.warnAt }, { kind: "deadline", seq: 0, at: r.deadline.at });
  return due;
}

/** Two records ask for the same timer jobs (and the same stage's, whose previous seq's jobs `timers` removes). */
export function sameTimers(a: TimedRecord, b: TimedRecord): boolean {
  const key = (r: TimedRecord) => JSON.stringify([r.timers?.seq, dueTimers(r)]);
  return a.id === b.id && key(a) === key(b);
}

export function timerJobId(rolloutId: string, kind: TimerKind, seq: number): string {
  return `${rolloutId}.t${seq}.${kind}`;
}

/** Exponential from 250 ms, capped at 30 s, with jitter so a fleet of retries does not stampede. */
export function cappedBackoff(attemptsMade: number): number {
  const base = Math.min(30_000, 250 * 2 ** Math.min(attemptsMade - 1, 10));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

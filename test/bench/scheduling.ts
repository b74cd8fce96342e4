import { randomBytes } from "node:crypto";
import { QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import { pino } from "pino";
import { startBot, type Bot } from "../../src/bot.ts";
import { EnvSchema } from "../../src/config.ts";
import { decide } from "../../src/app/decide.ts";
import { slackAuditWords } from "../../src/slack/views/audit-words.ts";
import { newRollout, type Rollout } from "../../src/engine/rollout.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { timerJobId } from "../../src/queue/queues.ts";
import { LANE_NAMES, LANES } from "../../src/queue/lanes.ts";
import { RouterRegistry } from "../../src/routers/registry.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL } from "../support/redis.ts";
import { sleep } from "../support/wait.ts";
import { InstantRouter } from "./fast-router.ts";
import { InstantMetrics } from "./instant-metrics.ts";
import { BENCH_CHANNELS, startSlackProcess, type SlackProcess } from "./slack-process.ts";
import { max, millis, progress, quantile, secs } from "./stats.ts";

/**
 * Scheduling lateness with many automatic rollouts: how late does a stage's automatic step run compared
 * with the `stepAt` the record scheduled?
 *
 * The real bot (startBot: Redis store, the BullMQ lanes, their workers at their default concurrency, the
 * Slack sync against the local Slack peer), with two in-process stand-ins so the number measures the
 * scheduler and not a fake Kubernetes or Prometheus: an instant TrafficRouter and a success-rate source
 * that answers "healthy" at once (passed through startBot's `metrics` option). The Slack peer runs in a
 * child process: Slack is another machine in production, its CPU is not the bot's.
 *
 * Phase 1 creates the rollouts through the store (RolloutStore.create + queue.afterTransition, what
 * `/rollout start` does after its checks) in automatic mode with a 1-hour interval, and waits until every
 * one is running at 10% and the queue is idle. Phase 2 switches each to an interval chosen so the steps
 * come due spread evenly over `spanMs`, the first at least `leadMs` from now (the `/rollout auto <id>
 * <interval>` transition, as the bot's own actor). Each rollout then also has a notice due halfway through
 * its interval, and its success-rate readings every 30 s (refreshSeconds: 30, the default). Readings are
 * taken at wall-clock slots, the same for every rollout: the span is placed so one slot falls in its middle,
 * and the steps due before and after that burst of readings are reported apart.
 *
 * Lateness is (the moment the worker took the timer job: its "active" event on the queue's event stream)
 * minus its stepAt; "decided" is the "advanced" event the step wrote on the record, "verified" the
 * "applied" event after the worker wrote 50% to the mesh and read it back.
 */

export type SchedulingOptions = { rollouts: number; leadMs: number; spanMs: number; refreshSeconds: number };

export type SchedulingResult = {
  rollouts: number;
  /** Phase 1: creating the rollouts until every one ran at 10% and the queue was idle. */
  setupMs: number;
  latenessMs: number[];
  decidedMs: number[];
  verifiedMs: number[];
  /** First stepAt to the last step's job completed. */
  wallMs: number;
  /** First stepAt to the last stepAt. */
  dueSpanMs: number;
  /** Steps due before / after the burst of N readings at the wall-clock slot in the middle of the span. */
  beforeBurst: Group;
  afterBurst: Group;
  /** Jobs completed from the switch to the last step, by kind (ids say what they are). */
  jobsRun: Record<string, number>;
  jobsWindowMs: number;
  /** Jobs ready but not yet taken by the worker: when the first step was due, and at the peak. */
  backlog: { atFirstDue: number; peak: number; peakAfterFirstDueMs: number; burstAfterFirstDueMs: number };
};

type Group = { count: number; p50: number; p99: number; max: number };

/** What a job is, from its deterministic id (queues.ts): `<id>.v3.reconcile`, `<id>.snap.123`, `<id>.t2.auto-step`. */
function jobKind(jobId: string): string {
  const m = /\.(?:v\d+\.(reconcile|slack-sync)|(snap)\.|t\d+\.([a-z-]+))/.exec(jobId);
  return m ? (m[1] ?? (m[2] ? "snapshot" : `timer:${m[3]}`)) : "other";
}

export async function benchScheduling(opts: SchedulingOptions): Promise<SchedulingResult> {
  const prefix = randomPrefix("bench");
  const botToken = `xoxb-bench-${randomBytes(6).toString("hex")}`;
  let slack: SlackProcess | undefined;
  let bot: Bot | undefined;
  const events: QueueEvents[] = [];
  const eventsConnections: Redis[] = [];
  const metrics = new InstantMetrics();
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  try {
    slack = await startSlackProcess(botToken, BENCH_CHANNELS);
    const env = EnvSchema.parse({
      SLACK_SIGNING_SECRET: `secret-${randomBytes(6).toString("hex")}`,
      SLACK_BOT_TOKEN: botToken,
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL,
      PORT: "0",
      HEALTH_PORT: "0",
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "silent",
      ROLLOUT_KEY_PREFIX: prefix,
      // Tests and benchmarks start and chart far more than a person would: the per-person limits are
      // proved in test/security, and generous elsewhere (like the Slack budget being off).
      ROLLOUT_LIMIT_STARTS_PER_MINUTE: "10000",
      ROLLOUT_LIMIT_REFRESHES_PER_MINUTE: "10000",
      ROLLOUT_LIMIT_CHARTS_PER_MINUTE: "10000",
      ROLLOUT_CHART_THREAD_SECONDS: "0",
    });
    const log = pino({ level: env.LOG_LEVEL });
    bot = await startBot({
      env,
      targets: { adhoc: true, targets: new Map() },
      routers: new RouterRegistry().register(new InstantRouter()),
      metrics,
      log,
      // The in-process router routes between no Kubernetes workloads: nothing to check before a start.
      preflight: { start: async () => [], canary: async () => [] },
    });
    const b = bot;

    // ---- phase 1: N automatic rollouts, running at 10%, nothing due for an hour
    const t0 = Date.now();
    const ids: string[] = [];
    await pool(opts.rollouts, 32, async (i) => {
      const target = TargetSchema.parse({
        name: `svc-${String(i).padStart(4, "0")}`,
        namespace: "bench",
        stable: "svc-v1",
        steps: [10, 50, 100],
        metrics: {
          source: "prometheus",
          prometheusUrl: "http://instant.invalid",
          preset: "linkerd2",
          scrapeIntervalSeconds: 1,
          windowSeconds: 60,
          refreshSeconds: opts.refreshSeconds,
        },
      });
      const record = newRollout({
        id: await b.store.nextId(target.name),
        target,
        stable: "svc-v1",
        canary: "svc-v2",
        steps: [10, 50, 100],
        startedBy: "UBENCH",
        channel: BENCH_CHANNELS[i % BENCH_CHANNELS.length]!,
        testStage: false,
        now: Date.now(),
        auto: { intervalMs: 3_600_000, maxWaitMs: 3_600_000, noticeMs: 60_000 },
      });
      const created = await b.store.create(record);
      if (!created.ok) throw new Error(`${record.id}: target busy with ${created.error.activeId}`);
      await b.queue.afterTransition(created.value);
      ids.push(record.id);
    });
    progress(`scheduling: ${opts.rollouts} rollouts created in ${secs(Date.now() - t0)}; waiting for all to run at 10%`);
    await untilAll(
      ids,
      async (id) => {
        const r = await b.store.get(id);
        return r?.status === "active" && r.appliedPercent === 10 && r.timers?.stepAt !== undefined;
      },
      120_000,
    );
    progress(`scheduling: all running at 10% after ${secs(Date.now() - t0)}`);
    await untilQueueIdle(b, 60_000);
    const setupMs = Date.now() - t0;
    progress(`scheduling: all running at 10% and the queue idle after ${secs(setupMs)}`);

    // ---- phase 2: steps due spread evenly over `span`, a reading slot in the middle
    // Each lane's events (the steps run in the mesh lane, the readings in the other), on a connection of
    // their own: QueueEvents blocks on XREAD.
    for (const lane of LANE_NAMES) {
      const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
      eventsConnections.push(connection);
      events.push(new QueueEvents(LANES[lane], { connection, prefix: b.store.keys.bullPrefix() }));
    }
    await Promise.all(events.map((e) => e.waitUntilReady()));
    const due = new Map<string, { rolloutId: string; stepAt: number }>(); // timer job id -> step
    const activeAt = new Map<string, number>();
    const completedAt = new Map<string, number>();
    const jobsRun: Record<string, number> = {};
    const streamTime = (eventId: string) => Number(eventId.split("-")[0]);
    for (const e of events) {
      e.on("active", ({ jobId }, eventId) => {
        if (due.has(jobId) && !activeAt.has(jobId)) activeAt.set(jobId, streamTime(eventId));
      });
      e.on("completed", ({ jobId }, eventId) => {
        if (due.has(jobId)) completedAt.set(jobId, streamTime(eventId));
        const kind = jobKind(jobId);
        jobsRun[kind] = (jobsRun[kind] ?? 0) + 1;
      });
    }
    // Every rollout takes its success-rate reading at the same wall-clock slot (a multiple of
    // refreshSeconds): a burst of N readings. Put one such slot in the middle of the steps' span, so every
    // run measures the same thing: the first half of the steps before the burst, the second half after.
    const slotMs = opts.refreshSeconds * 1000;
    const p2 = Date.now();
    const burstAt = Math.ceil((p2 + opts.leadMs + opts.spanMs / 2) / slotMs) * slotMs;
    const firstDueAt = burstAt - opts.spanMs / 2;
    // Switched in random order, so the order of the writes does not follow the order the steps fall due.
    const order = ids.map((id, k) => ({ id, k })).sort(() => Math.random() - 0.5);
    await pool(order.length, 32, async (n) => {
      const { id, k } = order[n]!;
      const intervalMs = Math.round(firstDueAt + (opts.spanMs * k) / ids.length - Date.now());
      const res = await decide(
        { store: b.store, queue: b.queue, audit: b.audit, words: slackAuditWords, now: Date.now, log },
        { kind: "bot", why: "bench" },
        "auto",
        id,
        undefined,
        { via: "auto", auto: { intervalMs, maxWaitMs: 3_600_000, noticeMs: Math.min(60_000, intervalMs / 2) } },
      );
      if (!res.ok) throw new Error(`${id}: could not switch the interval: ${res.error.code}`);
      const t = res.value.rollout.timers;
      if (!t?.stepAt) throw new Error(`${id}: no step scheduled after the switch`);
      due.set(timerJobId(id, "auto-step", t.seq), { rolloutId: id, stepAt: t.stepAt });
    });
    const stepAts = [...due.values()].map((d) => d.stepAt);
    const lastDue = Math.max(...stepAts);
    const firstDue = Math.min(...stepAts);
    progress(
      `scheduling: ${due.size} steps scheduled in ${secs(Date.now() - p2)}, due from +${secs(firstDue - p2)} to +${secs(lastDue - p2)}; readings burst at +${secs(burstAt - p2)}`,
    );
    // Both lanes' backlog (jobs ready but not yet taken), sampled twice a second: where lateness comes from.
    let sampling = true;
    const backlog: { at: number; ready: number }[] = [];
    const sampler = (async () => {
      while (sampling) {
        const c = await b.queue.queue.getJobCounts("waiting", "prioritized").catch(() => undefined);
        if (!c) return; // the bench failed and closed the queue
        backlog.push({ at: Date.now(), ready: (c.waiting ?? 0) + (c.prioritized ?? 0) });
        await sleep(500);
      }
    })();
    await sleep(Math.max(0, lastDue - Date.now()));
    // Wait for every step's "completed" event. The event stream is capped (~10,000 entries), so a reader
    // that falls far behind could miss some: when they stop coming, the records decide instead.
    const until = Date.now() + 90_000;
    let seen = -1;
    let quietSince = Date.now();
    while (completedAt.size < due.size) {
      if (completedAt.size !== seen) [seen, quietSince] = [completedAt.size, Date.now()];
      if (Date.now() - quietSince > 3_000 && (await stepsOnRecords(b, ids)) === ids.length) break;
      if (Date.now() > until) throw new Error(`only ${completedAt.size} of ${due.size} automatic steps completed`);
      await sleep(200);
    }
    const missedEvents = due.size - Math.min(completedAt.size, activeAt.size);
    if (missedEvents) progress(`scheduling: ${missedEvents} queue events were missed (the stream is capped); those steps are left out of the lateness`);
    const lastDone = Math.max(...completedAt.values());
    sampling = false;
    await sampler;
    const peak = backlog.filter((x) => x.at >= firstDue).reduce((m, x) => (x.ready > m.ready ? x : m), { at: firstDue, ready: 0 });
    const backlogAt = (t: number) => backlog.filter((x) => x.at >= t).at(0)?.ready ?? 0;

    // The records: when each step was decided, and when 50% was verified on the mesh.
    const decidedMs: number[] = [];
    const verifiedMs: number[] = [];
    // The shortest intervals may already have taken their next step: look for the 50% stage in the events.
    await untilAll(ids, async (id) => Boolean((await b.store.get(id))?.events.some((e) => e.kind === "applied" && e.to === 50)), 30_000);
    const stepAtOf = new Map([...due.values()].map((d) => [d.rolloutId, d.stepAt]));
    await pool(ids.length, 32, async (n) => {
      const r = (await b.store.get(ids[n]!)) as Rollout;
      const stepAt = stepAtOf.get(r.id)!;
      const advanced = r.events.find((e) => e.kind === "advanced" && e.to === 50);
      const applied = r.events.find((e) => e.kind === "applied" && e.to === 50);
      if (!advanced || advanced.actor.kind !== "bot" || !applied) throw new Error(`${r.id}: no automatic advance to 50% on the record`);
      decidedMs.push(advanced.at - stepAt);
      verifiedMs.push(applied.at - stepAt);
    });

    const lateness: number[] = [];
    const before: number[] = [];
    const after: number[] = [];
    for (const [jobId, d] of due) {
      const ranAt = activeAt.get(jobId);
      if (ranAt === undefined) continue;
      const l = ranAt - d.stepAt;
      lateness.push(l);
      (d.stepAt < burstAt ? before : after).push(l);
    }
    const summary = (xs: number[]) => ({ count: xs.length, p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: max(xs) });
    return {
      rollouts: ids.length,
      setupMs,
      latenessMs: lateness,
      decidedMs,
      verifiedMs,
      wallMs: lastDone - firstDue,
      dueSpanMs: lastDue - firstDue,
      beforeBurst: summary(before),
      afterBurst: summary(after),
      jobsRun,
      jobsWindowMs: lastDone - p2,
      backlog: { atFirstDue: backlogAt(firstDue), peak: peak.ready, peakAfterFirstDueMs: peak.at - firstDue, burstAfterFirstDueMs: burstAt - firstDue },
    };
  } finally {
    await Promise.all(events.map((e) => e.close()));
    for (const c of eventsConnections) c.disconnect();
    await bot?.stop();
    await slack?.close();
    metrics.close();
    await cleanupPrefix(redis, prefix);
    await redis.quit();
  }
}

/** Run `f(0..n-1)` with at most `width` in flight. */
async function pool(n: number, width: number, f: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await f(next++);
    }),
  );
}

async function untilAll(ids: string[], check: (id: string) => Promise<boolean>, timeoutMs: number): Promise<void> {
  let left = [...ids];
  const until = Date.now() + timeoutMs;
  while (left.length) {
    const ok = new Set<string>();
    await pool(left.length, 32, async (i) => {
      if (await check(left[i]!)) ok.add(left[i]!);
    });
    left = left.filter((id) => !ok.has(id));
    if (!left.length) return;
    if (Date.now() > until) throw new Error(`${left.length} rollouts never got there (e.g. ${left[0]})`);
    await sleep(500);
  }
}

/** How many rollouts show the automatic step to 50% on their record. */
async function stepsOnRecords(b: Bot, ids: string[]): Promise<number> {
  let n = 0;
  await pool(ids.length, 32, async (i) => {
    const r = await b.store.get(ids[i]!);
    if (r?.events.some((e) => e.kind === "advanced" && e.to === 50)) n++;
  });
  return n;
}

async function untilQueueIdle(b: Bot, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = await b.queue.queue.getJobCounts("waiting", "active", "prioritized");
    if ((c.waiting ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0) === 0) return;
    if (Date.now() > until) throw new Error(`the queue did not go idle: ${JSON.stringify(c)}`);
    await sleep(250);
  }
}

export function formatScheduling(r: SchedulingResult): string {
  const l = r.latenessMs;
  return [
    `scheduling lateness, ${r.rollouts} automatic rollouts: p50 ${millis(quantile(l, 0.5))}, p99 ${millis(quantile(l, 0.99))}, max ${millis(max(l))}; ` +
      `${l.length} steps in ${secs(r.wallMs)} (due over ${secs(r.dueSpanMs)}, ${(l.length / (r.wallMs / 1000)).toFixed(0)} steps/s)`,
    `  step due -> decided: p50 ${millis(quantile(r.decidedMs, 0.5))}, p99 ${millis(quantile(r.decidedMs, 0.99))}; ` +
      `-> 50% verified on the mesh: p50 ${millis(quantile(r.verifiedMs, 0.5))}, p99 ${millis(quantile(r.verifiedMs, 0.99))}, max ${millis(max(r.verifiedMs))}`,
    `  steps due before the burst of ${r.rollouts} readings at the 30 s slot (${r.beforeBurst.count}): p50 ${millis(r.beforeBurst.p50)}, p99 ${millis(r.beforeBurst.p99)}; ` +
      `after it (${r.afterBurst.count}): p50 ${millis(r.afterBurst.p50)}, p99 ${millis(r.afterBurst.p99)}, max ${millis(r.afterBurst.max)}`,
    `  jobs run meanwhile: ${Object.values(r.jobsRun).reduce((a, b) => a + b, 0)} in ${secs(r.jobsWindowMs)} (` +
      Object.entries(r.jobsRun)
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ${n}`)
        .join(", ") +
      ")",
    `  queue backlog (ready jobs not yet taken): ${r.backlog.atFirstDue} when the first step was due, then at most ${r.backlog.peak}, ` +
      `${secs(r.backlog.peakAfterFirstDueMs)} after it (the readings burst came ${secs(r.backlog.burstAfterFirstDueMs)} after it)`,
    `  (in-process TrafficRouter and success-rate source: this measures Redis + BullMQ + the jobs, not Kubernetes or Prometheus;` +
      ` setup of the ${r.rollouts} rollouts took ${secs(r.setupMs)})`,
  ].join("\n");
}

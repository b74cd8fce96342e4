import { DelayedError, Worker, type ConnectionOptions, type Job } from "bullmq";
import type { Logger } from "pino";
import { reconcileJob, type ReconcileDeps } from "./jobs/reconcile.ts";
import { slackSyncJob, type SlackSyncDeps } from "./jobs/slack-sync.ts";
import { snapshotJob, type SnapshotDeps } from "./jobs/snapshot.ts";
import { timerJob, type TimerDeps } from "./jobs/timer.ts";
import { homeJob, type HomeDeps } from "./jobs/home.ts";
import { chartJob, type ChartDeps } from "./jobs/chart.ts";
import { cappedBackoff, type EffectJob, type JobName } from "./queues.ts";
import { LANES, type Lane } from "./lanes.ts";
import type { SlackSide } from "../app/slack-side.ts";

export type WorkerDeps = ReconcileDeps & SlackSyncDeps & SnapshotDeps & TimerDeps & HomeDeps & ChartDeps & { log: Logger; slackSide: SlackSide };

/**
 * The only place effects meet the outside world: one worker per lane (src/queue/lanes.ts), and several of
 * these may run over one Redis. Each runs any job, whichever lane it was found in: a version of the bot
 * before the lanes queued every job in `rollout-effects`, and those must still run after an upgrade.
 */
export function startEffectWorker(
  deps: WorkerDeps,
  connection: ConnectionOptions,
  prefix: string,
  /** `onError`: where the worker's errors go (default: the log, each one). */
  opts: { lane: Lane; concurrency?: number; onError?: (err: Error) => void },
): Worker<EffectJob, void, JobName> {
  const worker = new Worker<EffectJob, void, JobName>(
    LANES[opts.lane],
    async (job, token) => {
      if (await deps.queue.queue.twinRuns(opts.lane, job.name, job.id)) return;
      switch (job.name) {
        case "reconcile":
          return reconcileJob(deps, job.data, job.attemptsMade);
        case "slack-sync":
          return putBackWhenSlackIsBusy(deps.slackSide, job, token, () => slackSyncJob(deps, job.data));
        case "snapshot":
          return snapshotJob(deps, job.data.rolloutId, { asked: job.data.asked === true });
        case "timer":
          return timerJob(deps, job.data);
        case "home":
          return putBackWhenSlackIsBusy(deps.slackSide, job, token, () => homeJob(deps, job.data));
        case "chart":
          return putBackWhenSlackIsBusy(deps.slackSide, job, token, () => chartJob(deps, job.data.rolloutId));
      }
    },
    {
      connection,
      prefix,
      concurrency: opts.concurrency ?? 16,
      settings: { backoffStrategy: (attemptsMade: number) => cappedBackoff(attemptsMade) },
      // A worker killed mid-job loses its lock; another worker picks the job up within lockDuration +
      // stalledInterval, 15 s (it was 45 s: too long for an Abort caught in a crash). The lock is renewed
      // every lockDuration / 2 while a job runs, however long it takes, so only an event loop blocked for
      // 10 s could let a live job run twice, which every job tolerates (level-triggered, CAS, leases).
      lockDuration: 10_000,
      stalledInterval: 5_000,
      maxStalledCount: 1_000,
    },
  );
  worker.on("failed", (job, err) => {
    deps.log.warn({ jobId: job?.id, lane: opts.lane, attempts: job?.attemptsMade, err: err.message }, "effect job failed");
  });
  worker.on("error", opts.onError ?? ((err) => deps.log.error({ err }, "worker error")));
  return worker;
}

/**
 * A Slack job whose call found no turn in the workspace's budget gives its worker slot back and is delayed
 * to its place in the line (same job, same priority, no attempt used), so the mesh writes and timers behind
 * it run meanwhile. Everything it had already shown is recorded, so the next run carries on from there.
 */
async function putBackWhenSlackIsBusy(
  slack: Pick<SlackSide, "turnLater" | "runBackFor">,
  job: Job<EffectJob, void, JobName>,
  token: string | undefined,
  run: () => Promise<void>,
): Promise<void> {
  try {
    await slack.runBackFor(job.data.backFor, run);
  } catch (err) {
    const later = slack.turnLater(err);
    if (!later || token === undefined) throw err;
    await job.updateData({ ...job.data, backFor: later.bucket });
    await job.moveToDelayed(later.at, token);
    throw new DelayedError();
  }
}

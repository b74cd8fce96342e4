import { Queue, type ConnectionOptions, type JobsOptions } from "bullmq";
import type { Rollout } from "../engine/rollout.ts";

/**
 * One BullMQ queue carries every effect. Jobs hold only the rollout id and the record version that
 * caused them; the worker re-reads the record, so a duplicate or late job is harmless.
 * Job ids are deterministic (`<rollout>.v<version>.<job>`) so the same effect is enqueued once.
 */
export const QUEUE_NAME = "rollout-effects";

export type JobName = "reconcile" | "slack-sync";
export type EffectJob = { rolloutId: string; version: number };

const KEEP = { removeOnComplete: { age: 3600, count: 10_000 }, removeOnFail: { age: 24 * 3600 } } satisfies JobsOptions;

/** Mesh writes retry for as long as it takes (abort must always complete); the backoff is capped. */
const RECONCILE: JobsOptions = { ...KEEP, attempts: 1_000_000, backoff: { type: "capped" } };
const SLACK: JobsOptions = { ...KEEP, attempts: 50, backoff: { type: "capped" } };

export class EffectQueue {
  readonly queue: Queue<EffectJob, void, JobName>;

  constructor(connection: ConnectionOptions, prefix: string) {
    this.queue = new Queue<EffectJob, void, JobName>(QUEUE_NAME, { connection, prefix });
  }

  async reconcile(r: Pick<Rollout, "id" | "version">, delayMs = 0): Promise<void> {
    await this.add("reconcile", r, RECONCILE, delayMs);
  }

  async slackSync(r: Pick<Rollout, "id" | "version">, delayMs = 0): Promise<void> {
    await this.add("slack-sync", r, SLACK, delayMs);
  }

  /** Both effects of a transition: move the mesh, then show it. */
  async afterTransition(r: Pick<Rollout, "id" | "version">): Promise<void> {
    await Promise.all([this.reconcile(r), this.slackSync(r)]);
  }

  private async add(name: JobName, r: Pick<Rollout, "id" | "version">, opts: JobsOptions, delayMs: number): Promise<void> {
    const jobId = `${r.id}.v${r.version}.${name}`;
    await this.queue.add(name, { rolloutId: r.id, version: r.version }, { ...opts, jobId, ...(delayMs ? { delay: delayMs } : {}) });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/** Exponential from 250 ms, capped at 30 s, with jitter so a fleet of retries does not stampede. */
export function cappedBackoff(attemptsMade: number): number {
  const base = Math.min(30_000, 250 * 2 ** Math.min(attemptsMade - 1, 10));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

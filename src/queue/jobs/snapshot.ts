import type { Logger } from "pino";
import { shouldAbortBetweenSteps } from "../../engine/auto.ts";
import { describeVerdict } from "../../engine/verdict.ts";
import { decide, type DecideDeps } from "./decide.ts";
import { isTerminal, withSnapshot, type Rollout, type StoredSnapshot } from "../../engine/rollout.ts";
import { verdict } from "../../engine/verdict.ts";
import type { MetricsSources } from "../../metrics/registry.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { EffectQueue } from "../queues.ts";

/**
 * Read stable vs canary success rates for one rollout, judge them (pure engine code), store the result on
 * the record and schedule the next reading. A source that cannot answer is a verdict ("metrics
 * unavailable: ..."), never an error that blocks Advance or Abort.
 */

export type SnapshotDeps = DecideDeps & {
  store: RolloutStore;
  queue: EffectQueue;
  metrics: MetricsSources;
  log: Logger;
  now: () => number;
};

export async function snapshotJob(deps: SnapshotDeps, rolloutId: string): Promise<void> {
  const r = await deps.store.get(rolloutId);
  if (!r || isTerminal(r)) return;
  const source = deps.metrics.for(r.target);
  if (!source) return; // this target has no metrics: its messages carry no snapshot
  const settings = r.target.metrics!;
  if (r.stable && r.status !== "starting" && r.status !== "rejected") {
    const reading = await readSnapshot(deps, r);
    const stored = await deps.store.update(r.id, (x) => (isTerminal(x) ? x : withSnapshot(x, reading)));
    if (stored.ok && stored.changed) await deps.queue.afterUpdate(stored.rollout);
    // In automatic mode an unhealthy canary is rolled back as soon as it is seen, not at the next step.
    if (r.auto && r.status === "active" && shouldAbortBetweenSteps(r.snapshot, reading)) {
      const why = `canary is unhealthy on two readings in a row: ${describeVerdict(reading.verdict)}`;
      await decide(deps, r, "abort", why, `<@${r.startedBy}> rollout ${r.id} was *aborted automatically*: ${why}. All traffic is going back to ${r.stable}.`);
      return;
    }
  }
  await scheduleNextSnapshot(deps, r.id, settings.refreshSeconds);
}

/** One reading for the rollout's pair now, judged; a source failure becomes an "unavailable" verdict. */
export async function readSnapshot(deps: Pick<SnapshotDeps, "metrics" | "log" | "now">, r: Rollout): Promise<StoredSnapshot> {
  const settings = r.target.metrics!;
  const windowSeconds = settings.windowSeconds;
  const at = deps.now();
  const canaryPercent = r.appliedPercent ?? 0;
  try {
    const snap = await deps.metrics.for(r.target)!.snapshot(r.target, { stable: r.stable, canary: r.canary }, windowSeconds);
    return { at, windowSeconds: snap.windowSeconds, canaryPercent, stable: snap.stable, canary: snap.canary, verdict: verdict(snap, settings) };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    deps.log.warn({ rolloutId: r.id, reason }, "success-rate snapshot failed");
    return { at, windowSeconds, canaryPercent, verdict: verdict({ error: reason }, settings) };
  }
}

/** The next reading at the next interval boundary; its id is the slot, so parallel schedulers collapse. */
export async function scheduleNextSnapshot(deps: Pick<SnapshotDeps, "queue" | "now">, rolloutId: string, refreshSeconds: number): Promise<void> {
  const ms = refreshSeconds * 1000;
  const now = deps.now();
  const slot = Math.floor(now / ms) + 1;
  await deps.queue.snapshot(rolloutId, { slot, delayMs: slot * ms - now });
}

/** Take a reading now (a rollout just started, the bot restarted, or a person asked). */
export async function snapshotNow(deps: Pick<SnapshotDeps, "queue" | "now">, rolloutId: string): Promise<void> {
  await deps.queue.snapshot(rolloutId, { refresh: true, now: deps.now() });
}

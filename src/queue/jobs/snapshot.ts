import { redactUrlsIn } from "../../engine/urls.ts";
import type { Logger } from "pino";
import { shouldAbortBetweenSteps } from "../../engine/auto.ts";
import { botDecides } from "../../app/bot-decide.ts";
import type { DecideDeps } from "../../app/decide.ts";
import { observeQuietly } from "./reconcile.ts";
import { LockBusy } from "../../store/lock.ts";
import type { RouterRegistry } from "../../routers/registry.ts";
import { eventsAfter, isTerminal, markDrift, withSnapshot, type Rollout, type StoredSnapshot } from "../../engine/rollout.ts";
import { readingDue, renderIntervalMs } from "../../engine/render-budget.ts";
import { judge } from "../../engine/verdict.ts";
import { foldCounters, type Evidence } from "../../engine/evidence.ts";
import { scrapeSeconds } from "../../engine/metrics-settings.ts";
import { weightChanges } from "../../engine/weight-changes.ts";
import type { MetricsSources } from "../../metrics/registry.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { EffectQueue } from "../queues.ts";
import type { Preflight } from "../../kube/preflight.ts";
import { watchCanary } from "./preflight.ts";
import type { SlackSide } from "../../app/slack-side.ts";
import { driftBy, driftReason } from "./gitops.ts";
import type { GitopsDeps } from "../../kube/ownership.ts";
import { readingPoint, type ReadingHistory } from "../../store/readings.ts";
import { watchFinishedClustersHeld } from "./wave-watch.ts";
import { gateDue, withBakeReading } from "../../engine/wave-rollout.ts";
import { openGateOnTime } from "../../app/wave-gate.ts";
import type { SlackMetaStore } from "../../store/slack-meta.ts";
import { stateHashOf } from "./slack-sync.ts";

/**
 * Read stable vs canary success rates for one rollout, judge them (pure engine code), store the result on
 * the record and schedule the next reading. A source that cannot answer is a verdict ("metrics
 * unavailable: ..."), never an error that blocks Advance or Abort.
 */

export type SnapshotDeps = DecideDeps & {
  store: RolloutStore;
  queue: EffectQueue;
  metrics: MetricsSources;
  routers: RouterRegistry;
  log: Logger;
  now: () => number;
  preflight?: Preflight;
  /** How a drift's author and a canary that is not ready read (the Slack side's words), and the message. */
  slackSide: Pick<SlackSide, "preflightProblems" | "gitops" | "message">;
  /** What the rollout's message last showed, and when (the per-message update budget). */
  meta: Pick<SlackMetaStore, "get">;
  /** Who owns what the rollout writes: drift names the manager and the GitOps owner behind it. */
  gitops?: GitopsDeps;
  /** The success-rate history behind the chart (absent: not kept). */
  readings?: ReadingHistory;
};

/** Without metrics the loop still runs, to notice drift. */
const DEFAULT_REFRESH_SECONDS = 30;

export async function snapshotJob(deps: SnapshotDeps, rolloutId: string, opts: { asked?: boolean } = {}): Promise<void> {
  const { r, drifted } = await readAndCheckDrift(deps, rolloutId);
  if (!r || isTerminal(r)) return;
  if (drifted) return scheduleNextSnapshot(deps, r.id, r.target.metrics?.refreshSeconds ?? DEFAULT_REFRESH_SECONDS);
  if ((await watchCanary(deps, r)) === "held") return scheduleNextSnapshot(deps, r.id, r.target.metrics?.refreshSeconds ?? DEFAULT_REFRESH_SECONDS);
  const source = deps.metrics.for(r.target);
  if (source && r.stable && r.status !== "starting" && r.status !== "deploying" && r.status !== "rejected") {
    const taken = await readSnapshot(deps, r);
    const reading = opts.asked ? { ...taken, askedAt: taken.at } : taken;
    // At a wave's gate the reading is also the bake of the cluster that finished (src/engine/bake.ts).
    const stored = await deps.store.update(r.id, (x) => (isTerminal(x) ? x : withBakeReading(withSnapshot(x, reading), deps.now())), { from: r });
    // A reading whose storing was refused (another one was folded in meanwhile) is not acted on: only what is
    // stored counts, or the same traffic could decide twice.
    if (stored.ok && stored.value.changed) {
      await deps.queue.afterReading(r, stored.value.rollout, await whenShown(deps, stored.value.rollout, reading.askedAt !== undefined));
      await deps.readings
        ?.append(r.id, readingPoint(reading, r.target.cluster))
        .catch((err: unknown) => deps.log.warn({ err }, "could not keep the reading for the chart"));
      // In automatic mode an unhealthy canary is rolled back as soon as it is seen, not at the next step: the
      // test is anytime-valid, so one "worse" is as trustworthy whenever it comes.
      const now = stored.value.rollout;
      if (now.auto && now.status === "active" && shouldAbortBetweenSteps(r.snapshot, reading)) {
        const why = `canary is unhealthy: ${deps.words.verdict(reading.verdict)}`;
        await botDecides(deps, now, "abort", why, { code: "auto-aborted", id: r.id, startedBy: r.startedBy, why, stable: r.stable });
        return;
      }
    }
  }
  if (r.status === "at-gate") await openGateWhenClear(deps, r.id);
  await scheduleNextSnapshot(deps, r.id, r.target.metrics?.refreshSeconds ?? DEFAULT_REFRESH_SECONDS);
}

/**
 * The gate's timer fires at the end of the bake time; one that found the gate held then (a bake reading that
 * said worse or could not be taken, a finished cluster changed since) opens it here, at a later check that
 * holds nothing against it. Only well after the bake time, so that the timer, not this, opens it on time.
 */
async function openGateWhenClear(deps: SnapshotDeps, id: string): Promise<void> {
  const r = await deps.store.get(id);
  if (r && gateDue(r, deps.now() - GATE_TIMER_GRACE_MS)) await openGateOnTime(deps, r, r.wave!.position);
}

/** How long after the bake time the periodic check leaves the opening to the gate's own timer. */
const GATE_TIMER_GRACE_MS = 10_000;

/**
 * When a stored reading reaches the message: now (a sync job), or with the update the per-message budget
 * holds back anyway (src/engine/render-budget.ts), which a sync job now would only schedule. Decided as that
 * job decides: the message is posted, its thread has every event, the state shown is this record's (a click
 * shows at once), and nobody asked for this reading.
 */
async function whenShown(deps: Pick<SnapshotDeps, "meta" | "slackSide" | "now">, r: Rollout, asked: boolean): Promise<"now" | { at: number }> {
  if (asked) return "now";
  const m = await deps.meta.get(r.id);
  if (!m.ts || eventsAfter(r, m.postedSeq).length > 0) return "now";
  const at = readingDue(m, deps.now(), renderIntervalMs(r));
  return at !== undefined && stateHashOf(deps.slackSide, r) === m.stateHash ? { at } : "now";
}

/**
 * The record, read under the rollout's mesh lease when it is free, and whether the mesh still holds what
 * the record says we verified: checked there, so a write in progress is never mistaken for a hand edit (a
 * busy lease just skips the check this round). One read serves the check and the reading after it.
 */
async function readAndCheckDrift(deps: SnapshotDeps, id: string): Promise<{ r: Rollout | undefined; drifted: boolean }> {
  try {
    return await deps.store.withLease(
      id,
      "mesh",
      async () => {
        const r = await deps.store.get(id);
        const drifted = r !== undefined && (await driftFound(deps, r));
        // A wave: the clusters it finished are held to what it verified there, one read each per check, under
        // the same lease and from the same read of the record.
        if (r?.wave) await watchFinishedClustersHeld(deps, r);
        return { r, drifted };
      },
      { waitMs: 0 },
    );
  } catch (err) {
    if (!(err instanceof LockBusy)) throw err;
    return { r: await deps.store.get(id), drifted: false };
  }
}

/** Under the mesh lease: on a mismatch the rollout is held with what changed; nothing is written to the mesh. */
async function driftFound(deps: SnapshotDeps, now: Rollout): Promise<boolean> {
  if (now.status !== "active" || now.appliedPercent === null || now.appliedPercent !== now.desiredPercent) return false;
  const found = await observeQuietly(deps, now);
  if (found.percent === now.appliedPercent && !found.drift) return false;
  // Unreadable for a reason that says nothing about the mesh (an outage, a conflict, credentials): no drift.
  if (found.percent === undefined && found.code !== "drift" && found.code !== "not-found" && found.code !== "invalid") return false;
  const what =
    found.percent === undefined
      ? `someone changed the weights by hand: ${found.raw}`
      : found.percent !== now.appliedPercent
        ? `someone changed the weights by hand: the mesh sends ${found.percent}% to ${now.canary} (${found.raw}), the rollout had verified ${now.appliedPercent}%` +
          (found.drift ? `; also, ${found.drift}` : "")
        : // The weights are as verified; something else the bot manages was edited (a Gateway rule's matches).
          `${found.drift} (the weights are still the verified ${100 - now.appliedPercent}/${now.appliedPercent}: ${found.raw})`;
  const author = await driftBy(deps.gitops, deps.routers.for(now.target), now);
  const why = driftReason(deps.slackSide.gitops, what, found, author);
  // Only if nobody moved the rollout meanwhile (an Advance in between is the reconcile's to judge).
  const res = await deps.store.update(now.id, (x) =>
    x.status === "active" && x.appliedPercent === now.appliedPercent && x.desiredPercent === now.desiredPercent
      ? markDrift(x, { ...found, ...(author ? { by: author.by } : {}) }, why, deps.now())
      : x,
  );
  if (res.ok && res.value.changed) {
    await deps.audit.workerOutcome(now, res.value.rollout).catch((err: unknown) => deps.log.error({ err }, "could not append to the audit trail"));
    await deps.queue.afterUpdate(res.value.rollout);
  }
  return res.ok && res.value.changed;
}

/**
 * One reading of the rollout's counters, folded into the counts since the rollout began (exact differences
 * against the values kept from the reading before, cut at every weight change) and judged; a source failure
 * becomes an "unavailable" verdict and changes no counts (the next reading covers the gap exactly).
 */
export async function readSnapshot(deps: Pick<SnapshotDeps, "metrics" | "log" | "now">, r: Rollout): Promise<StoredSnapshot> {
  const settings = r.target.metrics!;
  const at = deps.now();
  const canaryPercent = r.appliedPercent ?? 0;
  const prev = r.snapshot?.evidence;
  const scrapeMs = scrapeSeconds(settings) * 1000;
  try {
    const reading = await deps.metrics.for(r.target)!.counters(r.target, { stable: r.stable, canary: r.canary }, at);
    const evidence = foldCounters(prev, reading, {
      changes: weightChanges(r, 2 * settings.refreshSeconds * 1000),
      // Three scrapes without a new sample: an outage (or a query selecting nothing), not a slow scrape.
      staleAfterMs: 3 * scrapeMs,
    });
    const p99 = reading.p99Ms ?? {};
    const latency = { ...(p99.canary !== undefined ? { canaryP99Ms: p99.canary } : {}), ...(p99.stable !== undefined ? { stableP99Ms: p99.stable } : {}) };
    const folded = prev !== undefined && evidence.intervals > prev.intervals;
    return {
      at,
      windowSeconds: folded && evidence.recent ? Math.round(evidence.recent.seconds) : settings.refreshSeconds,
      canaryPercent,
      // This reading's own interval (for the chart), when it was folded in.
      ...(folded ? { stable: intervalSample(prev, evidence, "stable", p99.stable), canary: intervalSample(prev, evidence, "canary", p99.canary) } : {}),
      ...(folded ? intervalFast(prev, evidence) : {}),
      evidence,
      verdict: judge(evidence, settings, latency),
    };
  } catch (err) {
    const reason = redactUrlsIn(err instanceof Error ? err.message : String(err));
    deps.log.warn({ rolloutId: r.id, reason }, "success-rate reading failed");
    return { at, windowSeconds: settings.refreshSeconds, canaryPercent, ...(prev ? { evidence: prev } : {}), verdict: { kind: "unavailable", reason } };
  }
}

function intervalSample(prev: Evidence, now: Evidence, side: "stable" | "canary", p99Ms: number | undefined) {
  const requests = now[side].requests - prev[side].requests;
  if (requests <= 0) return { noTraffic: true as const };
  return { requests, successes: requests - (now[side].errors - prev[side].errors), ...(p99Ms !== undefined ? { p99Ms } : {}) };
}

/** This interval's share of requests within the latency gate's threshold, per version with traffic in the histogram. */
function intervalFast(prev: Evidence, now: Evidence): { fast?: { stable?: number; canary?: number } } {
  if (!prev.slow || !now.slow) return {};
  const share = (side: "stable" | "canary") => {
    const n = now.slow![side].requests - prev.slow![side].requests;
    return n > 0 ? 1 - (now.slow![side].errors - prev.slow![side].errors) / n : undefined;
  };
  const stable = share("stable");
  const canary = share("canary");
  return { fast: { ...(stable !== undefined ? { stable } : {}), ...(canary !== undefined ? { canary } : {}) } };
}

/**
 * The next reading at the rollout's next interval boundary; its id is the slot, so parallel schedulers
 * collapse. Each rollout's boundaries are shifted by a phase taken from its id, so a thousand rollouts do
 * not all take their readings (and re-render their messages) in the same instant.
 */
export async function scheduleNextSnapshot(deps: Pick<SnapshotDeps, "queue" | "now">, rolloutId: string, refreshSeconds: number): Promise<void> {
  const ms = refreshSeconds * 1000;
  const phase = phaseOf(rolloutId, ms);
  const now = deps.now();
  const slot = Math.floor((now - phase) / ms) + 1;
  await deps.queue.snapshot(rolloutId, { slot, delayMs: slot * ms + phase - now });
}

/** A stable offset in [0, ms) for a rollout id (FNV-1a). */
export function phaseOf(rolloutId: string, ms: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < rolloutId.length; i++) {
    h ^= rolloutId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % ms;
}

/** Take a reading now (a rollout just started, the bot restarted, or a person asked). */
export async function snapshotNow(deps: Pick<SnapshotDeps, "queue" | "now">, rolloutId: string): Promise<void> {
  await deps.queue.snapshot(rolloutId, { refresh: true, now: deps.now() });
}

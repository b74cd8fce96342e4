import { redactUrlsIn } from "../../engine/urls.ts";
import { scrapeSeconds } from "../../engine/metrics-settings.ts";
import type { Logger } from "pino";
import {
  hold,
  isTerminal,
  markAborted,
  markApplied,
  markCompleted,
  markDrift,
  markFinishDrift,
  markOwned,
  markRejected,
  markStarted,
  withGitopsBaseline,
  withGitopsNote,
  withMeshPrint,
  withWarning,
  withProblem,
  withStable,
  type Rollout,
} from "../../engine/rollout.ts";
import { stableWorkloadPlan } from "../../engine/preflight.ts";
import { RouterError, verifyPercent, type Observed, type RoutePair, type RouterErrorCode, type TrafficRouter } from "../../routers/router.ts";
import type { RouterRegistry } from "../../routers/registry.ts";
import type { AuditLog } from "../../store/audit.ts";
import { StoreError } from "../../store/errors.ts";
import { LockBusy } from "../../store/lock.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { EffectJob, EffectQueue } from "../queues.ts";
import type { Preflight } from "../../kube/preflight.ts";
import { preflightRefusal } from "./preflight.ts";
import type { SlackSide } from "../../app/slack-side.ts";
import { sendArgoRequest, type ArgoSender } from "../../app/argo-follow.ts";
import { KubeApiError } from "../../kube/call.ts";
import { deployStep, removeOld, removeOwn, type DeployDeps } from "./deploy.ts";
import { markDeployFailed } from "../../engine/rollout.ts";
import { clearUnreachable, finishCluster, finishEarlierClusters, holdUnreachable, revertWave, withCleanupProblems } from "./wave.ts";
import { finishesWave, waveCompleted } from "../../engine/wave-rollout.ts";
import { backToGitNote, driftBy, driftReason, driftWho, gitopsStart, ownedBy, pauseAsked, setPauses, takePausesOff, type GitopsDeps } from "./gitops.ts";

/**
 * Make the mesh match the record: the one place where a rollout's intent meets Kubernetes or namerd.
 * Level-triggered: whatever job woke us, we act on the record as it is now, under a per-rollout lease,
 * so a duplicate, late or retried job is harmless. Apply, verify (the router reads back), then record.
 */

export type ReconcileDeps = {
  store: RolloutStore;
  queue: EffectQueue;
  routers: RouterRegistry;
  log: Logger;
  now: () => number;
  /** What the worker verified (and decided by itself, e.g. hold on drift) goes to the audit trail. */
  audit: AuditLog;
  /** Optional clean-up after a finished rollout (scale the old Deployment to 0). */
  scaleDown?: (namespace: string, deployment: string, cluster?: string) => Promise<string | undefined>;
  /** Services and the canary's Deployment checked before the first write (every router). */
  preflight?: Preflight;
  /** How a refused start's preflight problems and the GitOps notes read (the Slack side's words). */
  slackSide: Pick<SlackSide, "preflightProblems" | "gitops" | "deploy">;
  /** Argo Rollouts: where a person's request to the controller is sent. */
  argo?: ArgoSender;
  /** Who owns what the rollout writes (Argo CD, Flux), checked before the first write; `gitops: pause`. */
  gitops?: GitopsDeps;
  /** `--image`: make the new version's objects and wait for them; `cleanup: delete` and Abort's removal. */
  deploy?: DeployDeps;
};

/** Attempt numbers at which a failing write is announced in the thread (the message always shows it). */
const ANNOUNCE_ATTEMPTS = new Set([1, 5, 20, 100]);

export async function reconcileJob(deps: ReconcileDeps, job: EffectJob, attemptsMade: number): Promise<void> {
  const { store } = deps;
  const parsedId = job.rolloutId;
  const first = await store.get(parsedId);
  if (!first || isTerminal(first)) return;
  await store.withLease(parsedId, "mesh", async () => {
    const r = await store.get(parsedId);
    if (!r || isTerminal(r)) return;
    const log = deps.log.child({ rolloutId: r.id, status: r.status, desired: r.desiredPercent });
    try {
      await step(deps, r);
      if (r.wave?.unreachable) await clearUnreachable(deps, r.id);
    } catch (err) {
      await onFailure(deps, r, err, attemptsMade + 1, log);
    } finally {
      const latest = await store.get(parsedId);
      if (latest) await deps.audit.workerOutcome(r, latest).catch((err: unknown) => log.error({ err }, "could not append to the audit trail"));
      if (latest) await deps.queue.afterUpdate(latest);
    }
  });
}

async function step(deps: ReconcileDeps, r: Rollout): Promise<void> {
  const { store, now } = deps;
  // Flagger moves the traffic and reads the bot's answers at its own calls: there is nothing to send.
  if (r.flagger) return;
  if (r.argo) {
    // The controller moves the traffic; the bot only sends the request a person decided on.
    if (!deps.argo) throw new Error("an Argo Rollouts target needs the Kubernetes API configured");
    return sendArgoRequest({ store, now, argo: deps.argo }, r);
  }
  const router = deps.routers.for(r.target);
  switch (r.status) {
    case "deploying":
      return deployStep(deps, r);
    case "starting":
      return start(deps, router, r);
    case "active":
    case "held": {
      if (r.appliedPercent === r.desiredPercent && !r.resync) return;
      await pauseAsked(deps.gitops, deps.slackSide.gitops, store, router, r, now); // Pause Flux: before the write it makes stick
      // After a person answered drift (resync), what the mesh holds besides the weights is the new baseline.
      const expect =
        r.appliedPercent === null
          ? undefined
          : { canaryPercent: r.appliedPercent, print: r.resync ? undefined : r.meshPrint, ...(r.takeOwnership ? { takeOwnership: true } : {}) };
      const obs = await router.apply(r.target, pair(r), r.desiredPercent, expect);
      verifyPercent(obs, r.desiredPercent);
      await store.update(r.id, (x) => withMeshPrint(markApplied(x, obs.canaryPercent, obs.raw, now()), obs.print));
      return;
    }
    case "finishing": {
      // A wave's cluster before its last: the canary keeps all the traffic, and the wave waits at the gate.
      if (!finishesWave(r)) return finishCluster(deps, r);
      // Only over what the bot last verified (100%): a hand edit since then is drift, never overwritten.
      const obs = await router.finalize(r.target, pair(r), "canary", {
        expect: { canaryPercent: r.appliedPercent ?? 100, print: r.meshPrint, ...(r.takeOwnership ? { takeOwnership: true } : {}) },
      });
      verifyPercent(obs, 100);
      // The clean-up is a courtesy after the mesh is final: its failure is reported, never a reason to retry
      // a finished rollout (the Deployment may have been removed or renamed by hand).
      let cleanupProblem = await scaleDownStable(deps, r.target, r, r.stableWorkload);
      // The old version's objects, once the read-back shows the mesh sends them nothing (verify above).
      if (r.target.cleanup === "delete") cleanupProblem = await removeOld(deps, r);
      // A wave: every earlier cluster is made final and cleaned up only now, when no Abort can send it back.
      const earlier = await finishEarlierClusters(deps, r, (t, seen) => scaleDownStable(deps, t, r, seen));
      await backToGitNote(deps.gitops, deps.slackSide.gitops, store, r, now);
      await takePausesOff(deps.gitops, deps.slackSide.gitops, store, r, now);
      await store.update(r.id, (x) => {
        if (x.status !== "finishing") return x;
        const done = withCleanupProblems(waveCompleted(markCompleted(x, obs.raw, now()), now()), earlier, now());
        return cleanupProblem ? withWarning(done, cleanupProblem, now()) : done;
      });
      return;
    }
    case "aborting": {
      await noteOverwrittenEdit(deps, r);
      // A wave: every touched cluster back to stable, newest first, each verified before the next.
      if (r.wave)
        return revertWave(deps, r, async (x) => {
          await backToGitNote(deps.gitops, deps.slackSide.gitops, store, x, now);
          await takePausesOff(deps.gitops, deps.slackSide.gitops, store, x, now);
        });
      const obs = await router.finalize(r.target, pair(r), "stable", { force: true }); // a person chose Abort: their decision wins over drift
      verifyPercent(obs, 0);
      // What `--image` made goes only now that all traffic is verified back on stable.
      if (r.deploy && r.target.abortCleanup !== "keep") await removeOwn(deps, r, "the abort (all traffic verified back on stable)");
      await backToGitNote(deps.gitops, deps.slackSide.gitops, store, r, now);
      await takePausesOff(deps.gitops, deps.slackSide.gitops, store, r, now);
      await store.update(r.id, (x) => (x.status === "aborting" ? markAborted(x, obs.raw, now()) : x));
      return;
    }
    default:
      return;
  }
}

/**
 * `cleanup: scale-down`: only the Deployment of the stable this rollout shifted away from, as preflight saw it
 * serving the target (its Service selecting it), in the target's own namespace and cluster: nothing a flag
 * could name. The clean-up is a courtesy after the mesh is final: a failure is a line, never a retry.
 */
async function scaleDownStable(deps: ReconcileDeps, target: Rollout["target"], r: Rollout, seen: Rollout["stableWorkload"]): Promise<string | undefined> {
  if (target.cleanup !== "scale-down" || !deps.scaleDown) return undefined;
  const plan = stableWorkloadPlan(target, pair(r));
  if (!plan || !seen || seen.namespace !== plan.namespace || seen.name !== plan.deployment) {
    const what = plan ? `Deployment ${plan.namespace}/${plan.deployment}` : `the Deployment of ${r.stable}`;
    return `did not scale ${what} down: it was not seen serving ${target.name} before the rollout began (${plan ? `its Service ${plan.service}` : "a Service named like it"} must select it)`;
  }
  const { namespace: ns, name } = seen;
  return deps.scaleDown(ns, name, target.cluster).then(
    (note) => note,
    (err: unknown) => `could not scale Deployment ${ns}/${name} to 0: ${err instanceof Error ? err.message : String(err)}`,
  );
}

async function start(deps: ReconcileDeps, router: TrafficRouter, r: Rollout): Promise<void> {
  const { store, now } = deps;
  let stable = r.stable;
  if (!stable) {
    stable = (await router.discoverStable?.(r.target)) ?? "";
    if (!stable) {
      await store.update(r.id, (x) => markRejected(x, "cannot tell which version is stable: pass --from <version>", now()));
      return;
    }
    await store.update(r.id, (x) => withStable(x, stable));
  }
  if (stable === r.canary) {
    await store.update(r.id, (x) => markRejected(x, `\`${r.canary}\` is already the stable version`, now()));
    return;
  }
  const p = { stable, canary: r.canary };
  const problem =
    (deps.preflight && (await preflightRefusal({ preflight: deps.preflight, slackSide: deps.slackSide }, r.target, p))) || (await router.validate(r.target, p));
  if (problem) {
    await store.update(r.id, (x) => (x.status === "starting" ? markRejected(x, problem, now()) : x));
    return;
  }
  // What Finish's scale-down may act on, seen now, before anything moves (src/engine/preflight.ts). A read
  // that fails sees nothing: Finish then scales nothing and says why, rather than the start waiting on it.
  const serving =
    r.target.cleanup === "scale-down" || r.target.cleanup === "delete"
      ? await deps.preflight?.stableServing?.(r.target, p).catch((err: unknown) => {
          deps.log.warn(
            { rolloutId: r.id, err: err instanceof Error ? err.message : String(err) },
            "could not see which Deployment the stable's Service selects",
          );
          return undefined;
        })
      : undefined;
  // Who owns what the rollout writes: an owner that would put the bot's writes back refuses the start.
  const gitops = deps.gitops ? await gitopsStart(deps.gitops, deps.slackSide.gitops, router, r, p) : undefined;
  if (gitops?.refusal) {
    const why = gitops.refusal;
    await store.update(r.id, (x) => (x.status === "starting" ? markRejected(x, why, now()) : x));
    return;
  }
  if (gitops?.baseline.length) {
    const baseline = gitops.baseline;
    await store.update(r.id, (x) => withGitopsBaseline(x, baseline));
  }
  if (deps.gitops && gitops?.pause.length) await setPauses(deps.gitops, deps.slackSide.gitops, store, r, gitops.pause, now);
  let initialRaw = "(no routing object yet)";
  try {
    initialRaw = (await router.observe(r.target, p)).raw;
  } catch (err) {
    if (!(err instanceof RouterError && err.code === "not-found")) throw err;
  }
  let obs: Observed;
  try {
    obs = await router.apply(r.target, p, r.desiredPercent);
  } catch (err) {
    // Owned by another field manager: started at what the mesh holds and held, saying who owns what.
    const latest = err instanceof RouterError && err.code === "owned" ? await store.get(r.id) : undefined;
    if (latest && (await holdOwned(deps, latest, err as RouterError, gitops?.owned ?? []))) return;
    throw err;
  }
  verifyPercent(obs, r.desiredPercent);
  const hint = router.testRequestHint(r.target, p);
  await store.update(r.id, (x) => {
    const seen = serving && x.stable === stable ? { stableWorkload: serving } : {};
    if (x.status !== "starting") return { ...withMeshPrint(markApplied(x, obs.canaryPercent, obs.raw, now()), obs.print), ...seen };
    const started = {
      ...withMeshPrint(markStarted(x, { percent: obs.canaryPercent, raw: obs.raw, initialRaw, ...(hint ? { testRequestHint: hint } : {}) }, now()), obs.print),
      ...seen,
    };
    return gitops?.owned.length ? withGitopsNote(started, gitops.owned.join("\n"), now()) : started;
  });
  // The first success-rate reading right away; it then repeats on the target's interval. In automatic mode one
  // more once a scrape after the write has landed: the interval from it to the next reading is the stage's
  // first clean one, so the stage's evidence starts as early as it can.
  await deps.queue.snapshot(r.id, { refresh: true, now: now() });
  const m = r.target.metrics;
  if (r.auto && m && m.source !== "none") {
    await deps.queue.snapshot(r.id, { refresh: true, now: now(), afterMs: (m.lagSeconds + scrapeSeconds(m)) * 1000 + 250 });
  }
}

async function onFailure(deps: ReconcileDeps, r: Rollout, err: unknown, attempt: number, log: Logger): Promise<void> {
  const { store, now } = deps;
  const message = redactUrlsIn(err instanceof Error ? err.message : String(err));
  const code = err instanceof RouterError ? err.code : err instanceof LockBusy ? "busy" : "unavailable";
  // Typed errors say whether trying again can help; a lease held elsewhere (LockBusy), or an error nobody typed, is retried.
  const retryable = err instanceof RouterError || err instanceof StoreError || err instanceof KubeApiError ? err.transient : true;

  // A wave's cluster that does not answer holds the whole wave and says which since when; the job retries.
  if (await holdUnreachable(deps, r, err)) {
    log.warn({ err, attempt }, "a cluster of the wave does not answer, holding");
    throw err;
  }
  if (r.status === "aborting") {
    // Abort always completes: whatever the error, retry with backoff and keep shouting.
    log.error({ err, attempt }, "abort failed, retrying");
    await store.update(r.id, (x) => withProblem(x, `Abort is retrying (attempt ${attempt}): ${message}`, now(), ANNOUNCE_ATTEMPTS.has(attempt)));
    throw err;
  }
  if (retryable) {
    log.warn({ err, attempt }, "mesh write failed, retrying");
    if (code !== "busy") {
      await store.update(r.id, (x) => withProblem(x, `Retrying (attempt ${attempt}): ${message}`, now(), ANNOUNCE_ATTEMPTS.has(attempt)));
    }
    throw err;
  }
  log.error({ err }, "mesh write refused");
  if (err instanceof RouterError && err.code === "owned" && (await holdOwned(deps, r, err, []))) return;
  if (r.status === "deploying") {
    // Refused by the API (no rights, an invalid copy): the start ends, and whatever was made is removed.
    await store.update(r.id, (x) => markDeployFailed(x, {}, `could not deploy ${r.canary}: ${message}`, now()));
    if (r.target.abortCleanup !== "keep") await removeOwn(deps, r, "the failed deploy");
    return;
  }
  if (r.status === "starting") {
    const latest = await store.get(r.id);
    if (latest) await takePausesOff(deps.gitops, deps.slackSide.gitops, store, latest, now); // a pause set for this start must not outlive it
    await store.update(r.id, (x) => (x.status === "starting" ? markRejected(x, message, now()) : x));
    return;
  }
  if (code === "drift") {
    const found = await observeQuietly(deps, r);
    if (r.status === "finishing") {
      // Back to the last stage, held: Re-apply (then Finish again), Adopt or Abort.
      const what =
        found.percent !== undefined && found.percent !== r.appliedPercent
          ? `someone changed the weights by hand: the mesh sends ${found.percent}% to ${r.canary} (${found.raw}), the rollout had verified ${r.appliedPercent ?? 100}%`
          : message;
      const author = await driftBy(deps.gitops, deps.routers.for(r.target), r);
      const why = `Drift: ${driftWho(deps.slackSide.gitops, what, found, author)}${author?.by.gitops ? "\n" : ". "}Finish did not go ahead: ${r.canary} was not made permanent and nothing was overwritten.`;
      await store.update(r.id, (x) => (x.status === "finishing" ? markFinishDrift(x, { ...found, ...(author ? { by: author.by } : {}) }, why, now()) : x));
      return;
    }
    const author = await driftBy(deps.gitops, deps.routers.for(r.target), r);
    const why = driftReason(deps.slackSide.gitops, message, found, author);
    await store.update(r.id, (x) => markDrift(x, { ...found, ...(author ? { by: author.by } : {}) }, why, now()));
    return;
  }
  await store.update(r.id, (x) => {
    const held = hold(x, { kind: "bot", why: code }, now(), message);
    return held.ok ? held.value : withProblem(x, message, now());
  });
}

/**
 * Another field manager owns what the bot writes (server-side apply refused): held and said, never forced;
 * Re-apply takes it. A start is started at what the mesh holds, with its GitOps lines (`notes`). False when
 * the mesh cannot be read as a split (a start is then rejected as any refused write is).
 */
async function holdOwned(deps: ReconcileDeps, r: Rollout, err: RouterError, notes: string[]): Promise<boolean> {
  const found = await observeQuietly(deps, r);
  if (r.status === "starting" && found.percent === undefined) return false;
  const message = redactUrlsIn(err.message);
  const { owned, why } = await ownedBy(deps.gitops, deps.slackSide.gitops, deps.routers.for(r.target), r, err.detail, message);
  const now = deps.now();
  await deps.store.update(r.id, (x) => {
    if (isTerminal(x) || x.status === "aborting") return x;
    const held = markOwned(x, found, owned, why, now);
    return notes.length && x.status === "starting" ? withGitopsNote(held, notes.join("\n"), now) : held;
  });
  return true;
}

/**
 * What the mesh holds now, as a percent when it is a split of the pair; the router's words otherwise, with
 * `code` saying why it could not be read that way (a RouterError's code, "unknown" for anything else).
 */
export async function observeQuietly(
  deps: Pick<ReconcileDeps, "routers">,
  r: Rollout,
): Promise<{ percent?: number; raw: string; code?: RouterErrorCode | "unknown"; drift?: string }> {
  try {
    const obs = await deps.routers.for(r.target).observe(r.target, pair(r), r.resync ? undefined : r.meshPrint);
    return { percent: obs.canaryPercent, raw: obs.raw, ...(obs.drift ? { drift: obs.drift } : {}) };
  } catch (err) {
    return { raw: redactUrlsIn(err instanceof Error ? err.message : String(err)), code: err instanceof RouterError ? err.code : "unknown" };
  }
}

/** How the note an abort leaves over a hand edit begins; also how a retried abort knows it is there. */
const OVERWRITE_NOTE = "The mesh had been changed by hand";

/**
 * An abort writes over whatever the mesh holds (going back to stable must always complete), but never
 * silently: a hand edit it is about to overwrite is said in the thread, once per abort. The note is stored
 * before the write, so a retried abort finds it and neither repeats it nor takes its own half-done write
 * (the mesh already at 0%) for an edit. What the bot itself wrote is not an edit: the verified percent, or
 * the step that was being written when Abort came. Drift already shown (the person aborted after seeing it)
 * is not repeated.
 */
async function noteOverwrittenEdit(deps: ReconcileDeps, r: Rollout): Promise<void> {
  const verified = r.appliedPercent;
  if (verified === null || overwriteNoted(r)) return;
  const found = await observeQuietly(deps, r);
  // Only a mesh the abort can write over is worth a note: a split of the pair, or one routed elsewhere
  // (drift). Unreadable (an outage, credentials) says nothing about it; a missing or unusable routing
  // object (not-found, invalid) cannot be written over either, and the abort's retry warnings say why.
  if (found.percent === undefined && found.code !== "drift") return;
  const inFlight = r.stepIndex >= 0 ? r.steps[r.stepIndex] : 0;
  if (found.percent !== undefined && (found.percent === 0 || found.percent === verified || found.percent === inFlight)) return;
  if (r.drift && r.drift.observedPercent === found.percent) return;
  const what =
    found.percent !== undefined
      ? `it sent ${found.percent}% to ${r.canary} (${found.raw}), the rollout had verified ${verified}%`
      : `${found.raw} (the rollout had verified ${verified}% to ${r.canary})`;
  const text = `${OVERWRITE_NOTE}: ${what}. The abort writes over it: all traffic goes back to ${r.stable}.`;
  await deps.store.update(r.id, (x) => (x.status === "aborting" && !overwriteNoted(x) ? withWarning(x, text, deps.now()) : x));
}

function overwriteNoted(r: Rollout): boolean {
  for (let i = r.events.length - 1; i >= 0; i--) {
    const e = r.events[i]!;
    if (e.kind === "warning" && e.text?.startsWith(OVERWRITE_NOTE)) return true;
    if (e.kind === "abort-requested") return false;
  }
  return false;
}

function pair(r: Rollout): RoutePair {
  return { stable: r.stable, canary: r.canary };
}

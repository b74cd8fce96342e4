import { autoTooFast } from "../engine/metrics-settings.ts";
import { flaggerCanaryName } from "../engine/flagger.ts";
import { TargetSchema, targetKey, type Target } from "../engine/target.ts";
import { DEFAULT_STEPS } from "../engine/plan.ts";
import { newRollout } from "../engine/rollout.ts";
import { inCluster, planStartWave } from "../engine/wave-rollout.ts";
import { err, ok, type Result } from "../engine/result.ts";
import { fenceAdhoc, fenceAdhocOverlap, fenceCanary, fenceDeclared } from "../engine/fence.ts";
import { withinLimit } from "./rate-limits.ts";
import { deployNames, imageProblem, nextVersion } from "../engine/deploy.ts";
import type { DeployRecord } from "../engine/rollout.ts";
import { canSeeChannel } from "./visibility.ts";
import type { AppDeps, TargetCatalog } from "./deps.ts";
import type { Caller, StartRefusal, StartRequest, Started } from "./start-types.ts";

export type { Caller, StartRefusal, StartRequest, Started, TargetIssue } from "./start-types.ts";

/**
 * The declared target as the file declares it (a flag that would move it elsewhere is refused: the fence,
 * src/engine/fence.ts), or an ad-hoc one assembled from flags where the catalog allows it, inside the
 * policy's namespaces. Pure.
 */
export function resolveTarget(
  catalog: TargetCatalog,
  req: Pick<StartRequest, "target" | "namespace" | "router" | "split" | "from"> & { to?: string },
): Result<Target, StartRefusal> {
  const declared = catalog.targets.get(req.target);
  // Another target's stable is only another's in the same cluster: the same name elsewhere is other pods.
  const sameCluster = (cluster: string | undefined) => [...catalog.targets.values()].filter((t) => t.cluster === cluster);
  if (declared) {
    const fenced = fenceDeclared(declared, req) ?? (req.to !== undefined ? fenceCanary(declared, req.to, sameCluster(declared.cluster)) : undefined);
    return fenced ? err(fenced) : ok(declared);
  }
  // An ad-hoc target lives in the bot's own cluster: `name@cluster` is always a declared target.
  if (!catalog.adhoc || req.target.includes("@")) return err({ code: "unknown-target", target: req.target, known: [...catalog.targets.keys()].sort() });
  const merged = {
    name: req.target,
    ...(req.namespace ? { namespace: req.namespace } : {}),
    ...(req.router ? { router: req.router } : {}),
    ...(req.split ? { smi: { trafficSplit: req.split } } : {}),
  };
  const t = TargetSchema.safeParse(merged);
  if (!t.success)
    return err({
      code: "invalid-target",
      target: req.target,
      issues: t.error.issues.map((i) => ({ message: i.message, ...("params" in i ? { params: i.params } : {}) })),
    });
  const outside = fenceAdhoc(t.data, catalog.policy?.namespaces) ?? fenceAdhocOverlap(t.data, sameCluster(undefined));
  return outside ? err(outside) : ok(t.data);
}

/** The deadline is announced a tenth of the way before it (at most 10 minutes, at least 30 seconds). Pure. */
export function deadlineFor(now: number, ms: number, action: "hold" | "abort"): { at: number; action: "hold" | "abort"; warnAt: number } {
  const at = now + ms;
  return { at, action, warnAt: at - Math.max(30_000, Math.min(10 * 60_000, ms / 10)) };
}

/**
 * Start a rollout: resolve the target, check who may (and where), claim the target, record the rollout in
 * `starting` and enqueue its first step (the worker checks the mesh before anything moves). Audited either
 * way, with `via` naming the surface.
 */
export async function startRollout(
  deps: AppDeps,
  caller: Caller,
  req: StartRequest,
  via: "command" | "modal" = "command",
): Promise<Result<Started, StartRefusal>> {
  const entry = { actor: caller.userId, action: "start", via, target: req.target, channel: caller.channelId };
  const detail = `${req.from ?? "(stable)"} → ${req.to ?? "(next version)"}${req.image ? ` (image ${req.image})` : ""}${req.steps ? `, steps ${req.steps.join(",")}` : ""}`;
  let out: Result<Started, StartRefusal>;
  try {
    out = await begin(deps, caller, req, via);
  } catch (e) {
    await deps.audit.append({ ...entry, at: deps.now(), outcome: "error", reason: e instanceof Error ? e.message : String(e) }).catch(() => undefined);
    throw e;
  }
  await deps.audit
    .append({
      ...entry,
      at: deps.now(),
      detail,
      ...(out.ok
        ? { rolloutId: out.value.rolloutId, outcome: "done", after: out.value.firstPercent }
        : { outcome: "refused", reason: deps.words.start(out.error) }),
    })
    .catch((e: unknown) => deps.log.error({ err: e }, "could not append to the audit trail"));
  return out;
}

async function begin(deps: AppDeps, caller: Caller, req: StartRequest, via: "command" | "modal"): Promise<Result<Started, StartRefusal>> {
  // Counted first: a flood of refused starts costs the bot as much as accepted ones.
  const limited = await withinLimit(deps.limits, "start", caller.userId);
  if (!limited.ok) return limited;
  const resolved = resolveTarget(deps.catalog, req);
  if (!resolved.ok) return resolved;
  const target = resolved.value;
  // `shop`, or `shop@prod-eu` in another cluster: what the record, its id, the policy and the refusals name.
  const key = targetKey(target);
  if (target.router === "argo-rollouts") return err({ code: "controller-target", target: target.name, rollout: target.argoRollouts?.rollout ?? target.name });
  if (target.router === "flagger") return err({ code: "controller-target", target: target.name, rollout: flaggerCanaryName(target), controller: "flagger" });
  if (!deps.routers.has(target.router)) return err({ code: "no-router", router: target.router });
  const steps = req.steps ?? target.steps ?? [...DEFAULT_STEPS];
  const testStage = deps.routers.hasTestStage(target.router);
  // A wave (`clusters:`, or `--clusters` among them): the record's target is the first cluster's.
  const planned = planStartWave(target, req.clusters, testStage);
  if (!planned.ok) return planned;
  const wave = planned.value;
  // The form names its channel (a field a person fills in): the rollout's messages may go only where they can see.
  if (via === "modal" && !(await canSeeChannel(deps, caller.userId, caller.channelId))) return err({ code: "channel-unseen", channel: caller.channelId });
  // Who may start, and where (the policy covers the target's `channels`). A plan whose first step is
  // 100% is also the final step, so it needs the right to finish as well.
  const gate = await deps.access.prepare(caller.userId, "start", key, caller.channelId);
  const decision = gate({ reachesFull: !testStage && steps[0] === 100 });
  if (!decision.ok) return decision;
  const stable = req.from ?? target.stable ?? "";
  if (!stable && (req.image !== undefined || !deps.routers.discoversStable(target.router))) return err({ code: "stable-required", target: key });
  if (stable && stable === req.to) return err({ code: "already-stable", target: key, canary: req.to });
  let canary = req.to;
  let deploy: Omit<DeployRecord, "deadlineAt"> | undefined;
  if (req.image !== undefined) {
    const planned = await planDeploy(deps, target, stable, req.image, req.to);
    if (!planned.ok) return planned;
    canary = planned.value.canary;
    deploy = planned.value.deploy;
  }
  if (canary === undefined) return err({ code: "to-required", target: key });
  // A fast look before a number is taken; the store's claims decide when two starts race.
  const objects = wave ? wave.wave.rows.map((row) => row.cluster) : target.cluster !== undefined ? [target.cluster] : [];
  const busy = (await deps.store.activeFor(key)) ?? (await deps.store.claims.holder(target.name, objects));
  if (busy) return err({ code: "busy", id: busy.id, startedBy: busy.startedBy, percent: busy.appliedPercent, channel: busy.channel });
  const autoMs = req.autoMs ?? (target.auto?.enabled && !req.manual ? target.auto.interval : undefined);
  // A wave's automatic steps read each cluster's metrics in turn (its `prometheusUrl`): every one must have some.
  const measured = wave ? wave.wave.rows.map((row) => inCluster(target, row.cluster)) : [target];
  if (autoMs !== undefined && !measured.every((t) => deps.metrics.for(t)))
    return err({ code: "no-metrics-for-auto", target: key, byFlag: req.autoMs !== undefined });
  const fast = autoMs !== undefined ? autoTooFast(target.name, target.metrics, autoMs) : undefined;
  if (fast) return err(fast);

  const id = await deps.store.nextId(key);
  const now = deps.now();
  const record = newRollout({
    id,
    target: wave?.target ?? target,
    stable,
    canary,
    steps,
    startedBy: caller.userId,
    channel: caller.channelId,
    ...(caller.responseUrl ? { responseUrl: caller.responseUrl } : {}),
    testStage,
    now,
    ...(autoMs !== undefined
      ? { auto: { intervalMs: autoMs, maxWaitMs: target.auto?.maxWait ?? 30 * 60_000, noticeMs: Math.min(target.auto?.notice ?? 60_000, autoMs / 2) } }
      : {}),
    ...(req.deadlineMs !== undefined ? { deadline: deadlineFor(now, req.deadlineMs, target.deadlineAction) } : {}),
    ...(deploy ? { deploy: { ...deploy, deadlineAt: now + deploy.timeoutMs } } : {}),
    ...(wave ? { wave: wave.wave } : {}),
  });
  const created = await deps.store.create(record);
  if (!created.ok) {
    const holder = await deps.store.get(created.error.activeId);
    return err({
      code: "busy",
      id: created.error.activeId,
      ...(holder ? { startedBy: holder.startedBy, channel: holder.channel } : {}),
      percent: holder?.appliedPercent ?? null,
    });
  }
  await deps.queue.afterTransition(created.value);
  const clusters = wave?.wave.rows.map((row) => row.cluster);
  deps.log.info(
    { rolloutId: id, target: key, stable, canary, steps, ...(req.image ? { image: req.image } : {}), ...(clusters ? { clusters } : {}) },
    "rollout requested",
  );
  return ok({
    rolloutId: id,
    stable,
    canary,
    steps,
    ...(deploy ? { image: deploy.image } : {}),
    ...(autoMs !== undefined ? { autoMs } : {}),
    firstPercent: record.desiredPercent,
    ...(clusters ? { clusters } : {}),
  });
}

/**
 * `--image`: the new version's name and objects, fixed now so a process that takes over later makes the same
 * ones. The name is `--to`, else the next free number after the stable's among the namespace's Deployments.
 * Only on a target that opts in (`deploy: true`); the image must be a reference a kubelet can pull.
 */
async function planDeploy(
  deps: AppDeps,
  target: Target,
  stable: string,
  image: string,
  to: string | undefined,
): Promise<Result<{ canary: string; deploy: Omit<DeployRecord, "deadlineAt"> }, StartRefusal>> {
  if (!target.deploy) return err({ code: "deploy-not-enabled", target: target.name });
  const bad = imageProblem(image);
  if (bad) return err(bad);
  if (!deployNames(target, { stable, canary: stable })) return err({ code: "fixed-services", target: target.name });
  let canary = to;
  if (canary === undefined) {
    if (!/\d$/.test(stable)) return err({ code: "version-unnamed", stable });
    if (!deps.deployments) return err({ code: "deploy-cannot-name", target: target.name, why: "this bot cannot list Deployments" });
    const ns = deployNames(target, { stable, canary: stable })!.namespace;
    const listed = await deps.deployments(ns, 5_000);
    if (!listed.ok) return err({ code: "deploy-cannot-name", target: target.name, why: `listing the Deployments in \`${ns}\` failed: ${listed.error.code}` });
    const taken = new Set(listed.value.map((d) => d.name));
    const next = nextVersion(stable, (v) => taken.has(deployNames(target, { stable, canary: v })!.canary.deployment));
    if (!next) return err({ code: "version-unnamed", stable });
    canary = next;
    // A computed name is as much the person's choice as `--to`: it may not reach into another target.
    const fenced = fenceCanary(target, canary, deps.catalog.targets.values());
    if (fenced) return err(fenced);
  }
  const names = deployNames(target, { stable, canary })!;
  return ok({
    canary,
    deploy: {
      image,
      namespace: names.namespace,
      objects: [
        { kind: "Deployment", name: names.canary.deployment },
        { kind: "Service", name: names.canary.service },
      ],
      timeoutMs: target.deployTimeout,
    },
  });
}

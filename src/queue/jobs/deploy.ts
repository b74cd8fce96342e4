import { redactUrlsIn } from "../../engine/urls.ts";
import { claimedOwners } from "../../engine/ownership.ts";
import { deployNames, judgeDeploy, madeByBot, newVersionObjects, type DeployProblem, type K8sObject } from "../../engine/deploy.ts";
import { markDeployed, markDeployFailed, withDeploy, withRemoved, withWarning, type DeployedObject, type Rollout } from "../../engine/rollout.ts";
import { signalsOf } from "../../kube/ownership.ts";
import { KubeApiError } from "../../kube/call.ts";
import type { DeployDeps } from "../../kube/deploy.ts";

export type { DeployDeps } from "../../kube/deploy.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { EffectQueue } from "../queues.ts";
import type { SlackSide } from "../../app/slack-side.ts";

/**
 * `--image` in the worker: while a rollout is `deploying`, make the new version's Deployment and Service
 * (server-side apply of deterministic names: a process that takes over after a crash applies the same objects
 * and creates nothing twice), then look at its pods every `pollMs` until it is up, fails as Kubernetes
 * reports it, or the target's `deployTimeout` passes. Up: the start goes on (preflight, the first write).
 * Failed: the start ends, and what the bot made is removed (`abortCleanup: delete`, the default).
 *
 * Removal, here and after Abort or Finish, reads each object first and removes it only under the uid it read.
 */

type Ctx = {
  store: RolloutStore;
  queue: EffectQueue;
  now: () => number;
  deploy?: DeployDeps | undefined;
  /** How a deploy's problems read (the Slack side's words). */
  slackSide: Pick<SlackSide, "deploy">;
};

export async function deployStep(ctx: Ctx, r: Rollout): Promise<void> {
  const { store, now } = ctx;
  const d = r.deploy;
  if (!d) return;
  const deps = ctx.deploy;
  if (!deps) {
    await store.update(r.id, (x) => markDeployFailed(x, {}, "this bot has no Kubernetes API to deploy the new version with", now()));
    return;
  }
  const deployment = d.objects.find((o) => o.kind === "Deployment")!;
  if (!d.applied) {
    const refused = await applyNewVersion(ctx, deps, r);
    if (refused) {
      await store.update(r.id, (x) => markDeployFailed(x, { refused }, ctx.slackSide.deploy.problem(refused), now()));
      return;
    }
  }
  const facts = await deps.api.facts(d.namespace, deployment.name);
  if (!facts) {
    // Removed by someone while the bot waited: apply it again on the next look.
    const { applied: _a, ...rest } = d;
    await store.update(r.id, (x) => (x.deploy ? { ...x, deploy: rest } : x));
    await ctx.queue.deployPoll(r.id, now() + (deps.pollMs ?? 2_000), now());
    return;
  }
  const verdict = judgeDeploy(facts, now(), d.deadlineAt, d.timeoutMs);
  if (verdict.kind === "waiting") {
    await store.update(r.id, (x) => withDeploy(x, { ready: verdict.ready, desired: verdict.desired }, now()));
    await ctx.queue.deployPoll(r.id, now() + (deps.pollMs ?? 2_000), now());
    return;
  }
  if (verdict.kind === "ready") {
    const text = `${deployment.name} is up: ${verdict.ready} of ${verdict.desired} ready, image ${d.image} (made ${d.objects.map((o) => `${o.kind} ${d.namespace}/${o.name}`).join(" and ")} from ${r.stable})`;
    const latest = await store.update(r.id, (x) => markDeployed(withDeploy(x, { ready: verdict.ready, desired: verdict.desired }, now()), text, now()));
    if (latest.ok && latest.value.rollout.status === "starting") await ctx.queue.reconcile(latest.value.rollout);
    return;
  }
  const why = ctx.slackSide.deploy.failure(verdict.failure, deployment.name);
  const keep = r.target.abortCleanup === "keep";
  await store.update(r.id, (x) => markDeployFailed(x, { failure: verdict.failure }, `${why}: the start ended before any traffic moved`, now()));
  if (!keep) await removeOwn(ctx, r, "the failed deploy");
  else {
    await store.update(r.id, (x) =>
      withWarning(
        x,
        `Left ${ctx.slackSide.deploy.objects(d.objects, d.namespace)} in place for you to look at (\`abortCleanup: keep\`); remove them with \`kubectl -n ${d.namespace} delete deployment,service ${deployment.name}\``,
        now(),
      ),
    );
  }
}

/** Read the stable's objects, copy them, apply the copies. A refusal (data) when they cannot be made; nothing applied then. */
async function applyNewVersion(ctx: Ctx, deps: DeployDeps, r: Rollout): Promise<DeployProblem | undefined> {
  const d = r.deploy!;
  const names = deployNames(r.target, { stable: r.stable, canary: r.canary });
  if (!names) return { code: "fixed-services", target: r.target.name };
  const ns = names.namespace;
  const stableDeployment = await deps.api.read({ kind: "Deployment", namespace: ns, name: names.stable.deployment });
  if (!stableDeployment) return { code: "stable-deployment-missing", namespace: ns, name: names.stable.deployment };
  // A Deployment git deploys gets its new version through git: one the bot made beside it would be outside it.
  const owners = claimedOwners(
    { group: "apps", kind: "Deployment", namespace: ns, name: names.stable.deployment, fields: [] },
    signalsOf(stableDeployment),
    deps.gitops,
  );
  if (owners.length)
    return {
      code: "gitops-owned",
      namespace: ns,
      name: names.stable.deployment,
      owners: owners.map((o) => ({ kind: o.kind, ...(o.name ? { name: o.name } : {}) })),
    };
  const stableService = await deps.api.read({ kind: "Service", namespace: ns, name: names.stable.service });
  if (!stableService) return { code: "stable-service-missing", namespace: ns, name: names.stable.service };
  const made = newVersionObjects({
    rolloutId: r.id,
    fieldManager: deps.fieldManager,
    stableVersion: r.stable,
    version: r.canary,
    image: d.image,
    names,
    settings: { container: r.target.container, versionLabel: r.target.versionLabel ?? "version" },
    stableDeployment,
    stableService,
  });
  if (!made.ok) return made.error;
  const objects: [DeployedObject["kind"], K8sObject][] = [
    ["Deployment", made.value.deployment],
    ...(made.value.service ? [["Service", made.value.service] as [DeployedObject["kind"], K8sObject]] : []),
  ];
  // Never write over an object someone else made under the same name (a `--to` naming an existing version).
  for (const [kind, obj] of objects) {
    const name = String(obj.metadata?.name);
    const existing = await deps.api.read({ kind, namespace: ns, name });
    if (existing && !madeByBot(existing, deps.fieldManager, r.id)) return { code: "canary-not-ours", namespace: ns, name, kind };
  }
  const uids: DeployedObject[] = [];
  for (const [kind, obj] of objects) {
    const out = await deps.api.apply(obj);
    uids.push({ kind, name: String(obj.metadata?.name), ...(typeof out.metadata?.uid === "string" ? { uid: out.metadata.uid } : {}) });
  }
  const container = made.value.container;
  await ctx.store.update(r.id, (x) => withDeploy(x, { objects: uids, container, applied: true }, ctx.now()));
  return undefined;
}

/**
 * Remove what the bot made for this rollout (after a failed deploy, or Abort once traffic is verified back on
 * stable): each object only when it still carries the bot's label and this rollout's annotation, under the uid
 * read just now. A failure to remove is said in the thread, never a reason to keep the rollout open.
 */
export async function removeOwn(ctx: Ctx, r: Rollout, why: string): Promise<void> {
  const d = r.deploy;
  const deps = ctx.deploy;
  if (!d || !deps) return;
  const removed: DeployedObject[] = [];
  const problems: string[] = [];
  for (const o of d.objects) {
    if (d.removed?.some((x) => x.kind === o.kind && x.name === o.name)) continue;
    try {
      const live = await deps.api.read({ kind: o.kind, namespace: d.namespace, name: o.name });
      if (!live || !madeByBot(live, deps.fieldManager, r.id)) continue;
      const uid = String(live.metadata?.uid ?? "");
      if (await deps.api.remove({ kind: o.kind, namespace: d.namespace, name: o.name }, uid)) removed.push({ kind: o.kind, name: o.name, uid });
    } catch (err) {
      problems.push(`could not remove ${o.kind} ${d.namespace}/${o.name}: ${redactUrlsIn(err instanceof Error ? err.message : String(err))}`);
    }
  }
  const now = ctx.now;
  if (removed.length)
    await ctx.store.update(r.id, (x) =>
      withRemoved(x, removed, false, `Removed ${plainObjects(removed, d.namespace)} (made by the bot for this rollout) after ${why}`, now()),
    );
  for (const p of problems) await ctx.store.update(r.id, (x) => withWarning(x, p, now()));
}

/**
 * Finish with `cleanup: delete`: the old version's Deployment and Service, once the mesh was verified to send
 * it nothing. Only the Deployment preflight saw the stable's Service serve (recorded before the first write),
 * in the target's namespace, not owned by a GitOps tool (git would put it back, or prune what it owns by
 * itself); the reason anything is left is returned for the thread.
 */
export async function removeOld(ctx: Ctx, r: Rollout): Promise<string | undefined> {
  const deps = ctx.deploy;
  const names = deployNames(r.target, { stable: r.stable, canary: r.canary });
  if (!deps || !names) return `did not remove ${r.stable}: this bot cannot remove workloads for \`${r.target.name}\``;
  const seen = r.stableWorkload;
  if (!seen || seen.namespace !== names.namespace || seen.name !== names.stable.deployment) {
    return `did not remove Deployment ${names.namespace}/${names.stable.deployment}: it was not seen serving ${r.target.name} before the rollout began (its Service ${names.stable.service} must select it)`;
  }
  const removed: DeployedObject[] = [];
  const left: string[] = [];
  for (const [kind, name] of [
    ["Deployment", names.stable.deployment],
    ["Service", names.stable.service],
  ] as const) {
    try {
      const live = await deps.api.read({ kind, namespace: names.namespace, name });
      if (!live) continue;
      const owners = claimedOwners(
        { group: kind === "Deployment" ? "apps" : "", kind, namespace: names.namespace, name, fields: [] },
        signalsOf(live),
        deps.gitops,
      );
      if (owners.length) {
        left.push(`${kind} ${names.namespace}/${name} is deployed by ${owners.map((o) => o.kind).join(", ")}: remove it from git`);
        continue;
      }
      const uid = String(live.metadata?.uid ?? "");
      if (await deps.api.remove({ kind, namespace: names.namespace, name }, uid)) removed.push({ kind, name, uid });
    } catch (err) {
      left.push(`could not remove ${kind} ${names.namespace}/${name}: ${redactUrlsIn(err instanceof Error ? err.message : String(err))}`);
    }
  }
  const now = ctx.now;
  if (removed.length) {
    await ctx.store.update(r.id, (x) =>
      withRemoved(
        x.deploy ? x : { ...x, deploy: oldOnly(x, names.namespace) },
        removed,
        true,
        `Removed the old version: ${plainObjects(removed, names.namespace)} (the mesh sends it nothing)`,
        now(),
      ),
    );
  }
  return left.length ? left.join("; ") : undefined;
}

/** A record for a rollout started without `--image` whose Finish removed the old version (to keep what was removed). */
function oldOnly(r: Rollout, namespace: string): NonNullable<Rollout["deploy"]> {
  return { image: "", namespace, objects: [], deadlineAt: r.createdAt, timeoutMs: 0 };
}

function plainObjects(objects: DeployedObject[], namespace: string): string {
  return objects.map((o) => `${o.kind} ${namespace}/${o.name}`).join(" and ");
}

/** Whether an error while deploying is worth retrying (the API unreachable or overloaded) rather than ending the start. */
export function deployRetryable(err: unknown): boolean {
  return !(err instanceof KubeApiError) || err.transient;
}

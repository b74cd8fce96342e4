import type { OwnershipVerdict, PausedObject } from "../../engine/ownership.ts";
import { withGitopsNote, withGitopsPaused, withWarning, type Rollout } from "../../engine/rollout.ts";
import { versionServices } from "../../engine/services.ts";
import { kubeNamespace } from "../../engine/target.ts";
import { KubeApiError } from "../../kube/call.ts";
import { gitBaselines, inCluster } from "../../engine/wave-rollout.ts";
import type { GitopsDeps } from "../../kube/ownership.ts";
import { PAUSED_FOR } from "../../kube/gitops-pause.ts";
import {
  backToGit,
  ownerKindOfManager,
  valueAt,
  type DriftAuthor,
  type GitBaseline,
  type OwnedBy,
  type WrittenAt,
  type WrittenObject,
} from "../../engine/ownership.ts";
import type { RoutePair, TrafficRouter } from "../../routers/router.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { GitopsWords } from "../../app/slack-side.ts";

/**
 * The GitOps side of a start and of a rollout's end, in the worker: before the first write, who owns each
 * object the rollout will write (the routing object, and the Deployment a clean-up would scale) and whether
 * that owner would put the bot's writes back (src/engine/ownership.ts judges, src/kube/ownership.ts reads);
 * `gitops: pause` (Flux) set before the first write and taken off before the rollout ends.
 */

export type { GitopsDeps } from "../../kube/ownership.ts";

/**
 * The readers of the rollout's own cluster: a rollout in another cluster never reads or pauses an object of
 * the bot's own. A cluster without readers (none configured for it) gets none, as without Kubernetes access.
 */
export function gitopsIn(g: GitopsDeps | undefined, r: Pick<Rollout, "target">): GitopsDeps | undefined {
  const cluster = r.target.cluster;
  return cluster === undefined || !g ? g : g.clusters?.get(cluster);
}

/** Every object the rollout will write: the router's, and the old Deployment when Finish scales it down. */
export async function objectsWritten(router: TrafficRouter, r: Pick<Rollout, "target">, pair: RoutePair): Promise<WrittenAt[]> {
  const objects = (await router.writtenObjects?.(r.target, pair)) ?? [];
  if (r.target.cleanup === "scale-down") {
    const routed = versionServices(r.target, pair);
    const [namespace, name] = routed ? [routed.namespace, routed.stableWorkload] : [kubeNamespace(r.target), pair.stable];
    objects.push({ group: "apps", kind: "Deployment", plural: "deployments", versions: ["v1"], namespace, name, fields: ["/spec/replicas"] });
  }
  return objects;
}

export type GitopsStart = {
  /** Why the start must not go ahead (private to the person, changes nothing). */
  refusal?: string;
  /** Lines for the thread: owners that leave the bot's fields alone. */
  owned: string[];
  /** Objects to pause (`gitops: pause`, Flux) before the first write. */
  pause: PausedObject[];
  /** GitOps-owned objects and what they hold now (what git holds, as far as the cluster can tell). */
  baseline: GitBaseline[];
};

/** Judge every object the start will write. A read the API cannot answer now throws (the start is retried). */
export async function gitopsStart(all: GitopsDeps, w: GitopsWords, router: TrafficRouter, r: Rollout, pair: RoutePair): Promise<GitopsStart> {
  const out: GitopsStart = { owned: [], pause: [], baseline: [] };
  const g = gitopsIn(all, r);
  if (!g) return out;
  const blocked: OwnershipVerdict[] = [];
  const pauseAsked = r.target.gitops === "pause";
  let argoPause = false;
  for (const obj of await objectsWritten(router, r, pair)) {
    let v: OwnershipVerdict | undefined;
    let raw: unknown;
    try {
      const seen = await g.ownership.inspect(obj);
      v = seen?.verdict;
      raw = seen?.raw;
    } catch (err) {
      if (err instanceof KubeApiError && !err.transient) return { ...out, refusal: `could not check who owns ${w.object(obj)}: ${err.message}` };
      throw err;
    }
    if (!v || v.verdict === "not-owned") continue;
    const owner = v.owners[0]!.owner;
    const apiVersion =
      typeof (raw as { apiVersion?: unknown }).apiVersion === "string" ? (raw as { apiVersion: string }).apiVersion : `${obj.group}/${obj.versions[0]}`;
    out.baseline.push({ object: obj, apiVersion, owner, values: Object.fromEntries(obj.fields.map((f) => [f, valueAt(raw, f)])) });
    // A pause this rollout set before a crash kept it from being recorded is still this rollout's: set again
    // (the same merge patch) and recorded, so it is called a pause for this rollout and taken off at the end.
    const ours = pauseAsked && pausedFor(raw) === r.id && v.owners.every((o) => o.owner.kind === "flux-kustomization");
    if (v.verdict === "ignored" && !ours) {
      out.owned.push(w.ownedButIgnored(v));
      continue;
    }
    const fighting = v.owners.filter((o) => o.verdict !== "ignored");
    // Flux honours `reconcile: disabled` on the object whatever its Kustomization says (or whether the bot may read it).
    if (ours || (pauseAsked && fighting.every((o) => o.owner.kind === "flux-kustomization"))) {
      out.pause.push({
        group: obj.group,
        version: await g.ownership.servedVersion(obj),
        plural: obj.plural,
        kind: obj.kind,
        namespace: obj.namespace,
        name: obj.name,
      });
      continue;
    }
    argoPause ||= pauseAsked && fighting.some((o) => o.owner.kind === "argocd");
    blocked.push(v);
  }
  if (blocked.length) {
    const argo = argoPause
      ? "\n\n`gitops: pause` covers Flux only: pausing Argo CD means editing the Application (its sync policy), which the bot does not do. Add the snippet instead"
      : "";
    return { ...out, refusal: w.ownershipRefusal(blocked) + argo };
  }
  return out;
}

/**
 * Set the pauses: recorded on the rollout first, so a crash between the two still takes them off at the end.
 * Said in the thread (and so in the audit trail).
 */
export async function setPauses(
  all: GitopsDeps,
  w: GitopsWords,
  store: RolloutStore,
  r: Rollout,
  paused: PausedObject[],
  now: () => number,
  why = "gitops: pause.",
): Promise<void> {
  const g = gitopsIn(all, r);
  if (!paused.length || !g) return;
  await store.update(r.id, (x) => withGitopsPaused(x, [...(x.gitopsPaused ?? []), ...paused.filter((p) => !x.gitopsPaused?.some((q) => same(p, q)))]));
  for (const o of paused) await g.pause.pause(o, r.id);
  const text = paused
    .map((o) => `${w.object(o)}: Flux's reconcile is paused for this rollout (\`kustomize.toolkit.fluxcd.io/reconcile: disabled\`)`)
    .join("\n");
  await store.update(r.id, (x) => {
    const noted = withGitopsNote(x, `${why} ${text}. It is taken off when the rollout ends.`, now());
    const { gitopsPauseAsked: _, ...asked } = noted;
    return asked;
  });
}

/**
 * A person pressed "Pause Flux for this rollout" (src/engine/flux-pause.ts): pause Flux on the routing object
 * before the write that takes the bot's weights back, as `gitops: pause` does (recorded first, so the end
 * takes it off whatever happens). Until the pause is set and said the request stays on the record, so a
 * crash in between pauses again (the same patch) on the next pass.
 */
export async function pauseAsked(
  all: GitopsDeps | undefined,
  w: GitopsWords,
  store: RolloutStore,
  router: TrafficRouter,
  r: Rollout,
  now: () => number,
): Promise<void> {
  if (!r.gitopsPauseAsked) return;
  const g = gitopsIn(all, r);
  const objects = g ? ((await router.writtenObjects?.(r.target, { stable: r.stable, canary: r.canary })) ?? []) : [];
  if (!all || !g || !objects.length) {
    // Nothing the bot can pause (no Kubernetes access for this cluster): said, and the write goes on as a Re-apply.
    await store.update(r.id, (x) => {
      const { gitopsPauseAsked: _, ...rest } = x;
      return x.gitopsPauseAsked ? withWarning(rest, "Could not pause Flux: the bot has no Kubernetes access to the routing object here.", now()) : x;
    });
    return;
  }
  const paused: PausedObject[] = [];
  for (const o of objects) {
    paused.push({ group: o.group, version: await g.ownership.servedVersion(o), plural: o.plural, kind: o.kind, namespace: o.namespace, name: o.name });
  }
  await setPauses(all, w, store, r, paused, now, "Pause Flux for this rollout.");
}

/**
 * Take off every pause the rollout set, before it ends. An API that cannot answer now throws (the job is
 * retried, the rollout does not end meanwhile); a refusal that will not change (no right to patch) is said
 * in the thread and the record lets go, so an Abort still completes.
 */
export async function takePausesOff(all: GitopsDeps | undefined, w: GitopsWords, store: RolloutStore, r: Rollout, now: () => number): Promise<void> {
  const g = gitopsIn(all, r);
  const paused = r.gitopsPaused ?? [];
  if (!paused.length) return;
  const lines: string[] = [];
  for (const o of paused) {
    if (!g) {
      lines.push(
        `${w.object(o)}: the bot could not take the Flux pause off (no Kubernetes access configured): remove \`kustomize.toolkit.fluxcd.io/reconcile\` by hand`,
      );
      continue;
    }
    try {
      const how = await g.pause.resume(o, r.id);
      lines.push(
        how === "resumed"
          ? `${w.object(o)}: Flux's reconcile is back on`
          : how === "gone"
            ? `${w.object(o)} is gone: no pause to take off`
            : `${w.object(o)}: its reconcile annotation was changed by someone else meanwhile, left as it is`,
      );
    } catch (err) {
      if (err instanceof KubeApiError && !err.transient) {
        lines.push(`${w.object(o)}: could not take the Flux pause off (${err.message}): remove \`kustomize.toolkit.fluxcd.io/reconcile: disabled\` by hand`);
        continue;
      }
      throw err;
    }
  }
  await store.update(r.id, (x) => {
    const left = withGitopsPaused(x, []);
    const failed = lines.some((l) => l.includes("by hand"));
    return failed ? withWarning(left, lines.join("\n"), now()) : withGitopsNote(left, lines.join("\n"), now());
  });
}

const same = (a: PausedObject, b: PausedObject) => a.group === b.group && a.plural === b.plural && a.namespace === b.namespace && a.name === b.name;

/**
 * Who changed the routing object, for a drift message: the newest other manager of the bot's fields and
 * its GitOps owner. Quiet: a read that fails says nothing about the drift, which is reported anyway.
 */
export async function driftBy(all: GitopsDeps | undefined, router: TrafficRouter, r: Rollout): Promise<{ by: DriftAuthor; object: WrittenObject } | undefined> {
  const g = gitopsIn(all, r);
  if (!g) return undefined;
  try {
    const [obj] = (await router.writtenObjects?.(r.target, { stable: r.stable, canary: r.canary })) ?? [];
    if (!obj) return undefined;
    const by = await g.ownership.author(obj);
    return by ? { by, object: obj } : undefined;
  } catch {
    return undefined;
  }
}

/** The drift sentence with who did it, and for a GitOps revert what helps instead of Re-apply. */
export function driftWords(w: GitopsWords, found: { percent?: number }, author: { by: DriftAuthor; object: WrittenObject } | undefined): string | undefined {
  if (!author) return undefined;
  const split = found.percent !== undefined ? `${100 - found.percent}/${found.percent}` : undefined;
  const who = w.driftAuthor(author.by, split);
  return author.by.gitops ? `${who}. ${w.revertAdvice(author.by, author.object)}` : who;
}

/** What changed and who did it, for a sentence the caller finishes (Finish's drift). */
export function driftWho(w: GitopsWords, what: string, found: { percent?: number }, author: { by: DriftAuthor; object: WrittenObject } | undefined): string {
  if (author?.by.gitops) return driftWords(w, found, author)!;
  return author ? `${what} (last changed by ${w.manager(author.by.manager)}${author.by.time ? ` at ${author.by.time.slice(11, 16)} UTC` : ""})` : what;
}

/** The drift line for the record: a GitOps revert said as one (never as a hand edit), anything else with who and when. */
export function driftReason(w: GitopsWords, what: string, found: { percent?: number }, author: { by: DriftAuthor; object: WrittenObject } | undefined): string {
  if (author?.by.gitops) return `Drift: ${driftWords(w, found, author)}\nNothing was overwritten.`;
  const who = author ? ` Last changed by ${w.manager(author.by.manager)}${author.by.time ? ` at ${author.by.time.slice(11, 16)} UTC` : ""}.` : "";
  return `Drift: ${what}. Nothing was overwritten.${who}`;
}

/**
 * Back to git, once the mesh is final (Finish, Abort): for each GitOps-owned object, the bot's fields as the
 * cluster now holds them, as a patch of its manifest, and whether that differs from what it held at the start.
 * A wave gives one note per cluster it wrote to, each read in that cluster and naming it. A read that fails is
 * said, never guessed.
 */
export async function backToGitNote(all: GitopsDeps | undefined, w: GitopsWords, store: RolloutStore, r: Rollout, now: () => number): Promise<void> {
  for (const { cluster, baseline } of gitBaselines(r)) {
    const g = gitopsIn(all, cluster === undefined ? r : { target: inCluster(r.target, cluster) });
    if (!g || backToGitNoted(r, cluster)) continue;
    const parts: string[] = [];
    for (const b of baseline) {
      try {
        const live = await g.ownership.read(b.object);
        parts.push(live === undefined ? `${w.object(b.object)} is gone: nothing for git to say.` : w.backToGit(b, backToGit(b, live)));
      } catch (err) {
        parts.push(`${w.object(b.object)}: could not read it to say what git must hold (${err instanceof Error ? err.message : String(err)}).`);
      }
    }
    const head = cluster === undefined ? "Back to git." : `Back to git in cluster ${cluster}.`;
    await store.update(r.id, (x) => (backToGitNoted(x, cluster) ? x : withGitopsNote(x, `${head} ${parts.join("\n\n")}`, now(), cluster)));
  }
}

/** Whether the rollout's "back to git" note (for this cluster of a wave) is in the thread already: once each. */
function backToGitNoted(r: Rollout, cluster: string | undefined): boolean {
  return r.events.some((e) => e.kind === "gitops" && e.text?.startsWith("Back to git") && (cluster === undefined || e.cluster === cluster));
}

/**
 * Who owns what the bot's apply was refused on: the managers and fields the API named, with the GitOps
 * owner behind them (read quietly, as for drift; a manager that is a GitOps controller names at least its
 * kind), and the sentence for the thread.
 */
export async function ownedBy(
  g: GitopsDeps | undefined,
  words: GitopsWords,
  router: TrafficRouter,
  r: Rollout,
  detail: unknown,
  message: string,
): Promise<{ owned: OwnedBy; why: string }> {
  const d = (detail ?? {}) as { managers?: unknown; fields?: unknown };
  const managers = Array.isArray(d.managers) ? d.managers.map(String) : [];
  const fields = Array.isArray(d.fields) ? d.fields.map(String) : [];
  const author = await driftBy(g, router, r);
  const known = author?.by.gitops && managers.includes(author.by.manager) ? author.by.gitops.owner : undefined;
  const kind = managers.map(ownerKindOfManager).find((k) => k !== undefined);
  const owner = known ?? (kind ? { kind, via: "manager" as const } : undefined);
  const owned: OwnedBy = { managers, fields, ...(owner ? { owner } : {}) };
  const what = author ? words.object(author.object) : "What the bot writes";
  return { owned, why: `${words.ownedBy(what, owned)}\n(${message})` };
}

/** The rollout a `gitops: pause` annotation names on a read object, if any. */
function pausedFor(raw: unknown): string | undefined {
  const annotations = (raw as { metadata?: { annotations?: Record<string, unknown> } } | undefined)?.metadata?.annotations;
  const id = annotations?.[PAUSED_FOR];
  return typeof id === "string" ? id : undefined;
}

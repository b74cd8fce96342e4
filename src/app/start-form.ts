import { dnsLabelProblem } from "../engine/names.ts";
import { DEFAULT_STEPS } from "../engine/plan.ts";
import { kubeNamespace, type Target } from "../engine/target.ts";
import type { DeploymentListFailure, DeploymentSeen } from "../kube/deployment-list.ts";
import type { AppDeps } from "./deps.ts";

export type { DeploymentListFailure } from "../kube/deployment-list.ts";

/**
 * What the start form shows once a person picked a target: its plan, its automatic interval when it declares
 * automatic mode, and the Deployments of its namespace to offer as the new version (or why there are none).
 * A read only: nothing is written, and the start itself is still judged on submission.
 */

/** A form waits this long for the list; a slower API leaves the person typing the name instead of waiting. */
export const FORM_LIST_TIMEOUT_MS = 3_000;
/** Slack's static_select holds at most 100 options. */
export const MAX_VERSION_CHOICES = 100;

/** Why the form offers no list of versions, as data (the view words it). */
export type NoVersionList = DeploymentListFailure | { code: "no-kube-api" } | { code: "none-found" };

export type PickedTarget = {
  target: Target;
  /** The target's own steps, or the default plan. */
  steps: number[];
  /** The interval of automatic steps, when the target declares automatic mode. */
  autoMs?: number;
  /** Deployments of the target's namespace, newest first, without the stable one; or why there is no list. */
  versions: { ok: true; value: string[] } | { ok: false; error: NoVersionList };
};

/** The declared target picked in the form, with what the form prefills; undefined for a name not declared. */
export async function pickedTarget(deps: AppDeps, targetName: string): Promise<PickedTarget | undefined> {
  const target = deps.catalog.targets.get(targetName);
  if (!target) return undefined;
  return {
    target,
    steps: target.steps ?? [...DEFAULT_STEPS],
    ...(target.auto?.enabled ? { autoMs: target.auto.interval } : {}),
    versions: await versionsFor(deps, target),
  };
}

async function versionsFor(deps: AppDeps, target: Target): Promise<PickedTarget["versions"]> {
  if (!deps.deployments) return { ok: false, error: { code: "no-kube-api" } };
  // A wave's versions are listed in its first cluster, where the plan begins.
  const listed = await deps.deployments(kubeNamespace(target), FORM_LIST_TIMEOUT_MS, target.cluster ?? target.clusters?.[0]);
  if (!listed.ok) {
    deps.log.info({ target: target.name, namespace: kubeNamespace(target), why: listed.error }, "start form: no list of Deployments");
    return listed;
  }
  const names = versionChoices(listed.value, target.stable);
  return names.length ? { ok: true, value: names } : { ok: false, error: { code: "none-found" } };
}

/**
 * The versions worth offering: newest first (a new version is usually the last one deployed; ties by name,
 * higher first, so v10 comes before v9), never the stable one nor a name the start would refuse (longer
 * than a DNS label), at most 100. Pure.
 */
export function versionChoices(seen: readonly DeploymentSeen[], stable: string | undefined, max = MAX_VERSION_CHOICES): string[] {
  const byName = new Intl.Collator("en", { numeric: true });
  return [...new Map(seen.map((d) => [d.name, d])).values()]
    .filter((d) => d.name !== stable && !dnsLabelProblem(d.name))
    .sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0) || byName.compare(b.name, a.name))
    .slice(0, max)
    .map((d) => d.name);
}

/**
 * Reads of the workloads a rollout routes between: Services (that they exist, and their selectors) and
 * Deployments (replicas, generation, availability). Read-only; what the facts mean is decided in
 * src/engine/preflight.ts. A missing object (or namespace) is `undefined`, any other failure a KubeApiError.
 *
 * Finding the Deployments a canary Service selects takes a list of the namespace (a labelSelector filters a
 * Deployment's own labels, not its pod template's). The periodic check runs for every rollout, so the reader
 * remembers the names a list found (per process, bounded) and reads them by name while they still match;
 * a remembered answer expires (CANARY_MEMORY_MS), so a Deployment added behind the Service is found by the
 * next list within that time. A start always lists.
 */
import { LRUCache } from "lru-cache";
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Deployment } from "@kubernetes/client-node";
import { selectedBy, selects, type DeploymentFacts, type PreflightFacts, type PreflightPlan, type ServiceFacts } from "../engine/preflight.ts";
import { KubeApiError, kubeCall } from "./call.ts";

/** How long the Deployments a list found behind a canary Service are trusted without listing again. */
export const CANARY_MEMORY_MS = 5 * 60_000;

type Options = {
  timeoutMs?: number;
  /** How many canary Services' Deployment names are remembered; the least recently used is dropped. */
  rememberedCanaries?: number;
  /** How long a list's answer is used (default CANARY_MEMORY_MS). */
  canaryMemoryMs?: number;
  now?: () => number;
};

export class WorkloadReader {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly known: CanaryNames;
  private readonly now: () => number;

  constructor(
    kubeConfig: KubeConfig,
    private readonly opts: Options = {},
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.known = new CanaryNames(opts.rememberedCanaries ?? 5_000, opts.canaryMemoryMs ?? CANARY_MEMORY_MS);
    this.now = opts.now ?? Date.now;
  }

  async service(namespace: string, name: string): Promise<ServiceFacts | undefined> {
    const svc = await missingIsUndefined(
      kubeCall(`read Service ${namespace}/${name}`, (o) => this.core.readNamespacedService({ namespace, name }, o), this.opts),
    );
    if (!svc) return undefined;
    const selector = svc.spec?.selector;
    return { name, ...(selector && Object.keys(selector).length ? { selector } : {}) };
  }

  async deployment(namespace: string, name: string): Promise<DeploymentFacts | undefined> {
    const d = await missingIsUndefined(
      kubeCall(`read Deployment ${namespace}/${name}`, (o) => this.apps.readNamespacedDeployment({ namespace, name }, o), this.opts),
    );
    return d ? deploymentFacts(d) : undefined;
  }

  /** The names of a namespace's Deployments and when each was created (what the start form offers). */
  async deploymentNames(namespace: string, timeoutMs?: number): Promise<{ name: string; createdAt?: number }[]> {
    const opts = timeoutMs === undefined ? this.opts : { ...this.opts, timeoutMs };
    const list = await missingIsUndefined(kubeCall(`list Deployments in ${namespace}`, (o) => this.apps.listNamespacedDeployment({ namespace }, o), opts));
    return (list?.items ?? []).flatMap((d) => {
      const name = d.metadata?.name;
      if (!name) return [];
      const created = d.metadata?.creationTimestamp ? new Date(d.metadata.creationTimestamp).getTime() : NaN;
      return [{ name, ...(Number.isFinite(created) ? { createdAt: created } : {}) }];
    });
  }

  async deployments(namespace: string): Promise<DeploymentFacts[]> {
    const list = await missingIsUndefined(kubeCall(`list Deployments in ${namespace}`, (o) => this.apps.listNamespacedDeployment({ namespace }, o), this.opts));
    return (list?.items ?? []).map(deploymentFacts);
  }

  /** Everything the plan names: each Service, then the canary's Deployments (by selector, else by name). */
  async preflightFacts(plan: PreflightPlan): Promise<PreflightFacts> {
    const services = new Map<string, ServiceFacts>();
    for (const s of plan.services) {
      if (services.has(s.name)) continue;
      const found = await this.service(plan.namespace, s.name);
      if (found) services.set(s.name, found);
    }
    return { plan, services, canary: await this.canaryDeployments(plan, services) };
  }

  /**
   * The canary's Deployments: those its Service selects, else the one named like the canary. Those it selects
   * are found by a list, or with `remembered` by reading the names the last list found (see the top).
   */
  async canaryDeployments(plan: PreflightPlan, services: Map<string, ServiceFacts>, opts: { remembered?: boolean } = {}): Promise<PreflightFacts["canary"]> {
    const service = plan.canary.selectorFrom;
    const selector = service ? services.get(service)?.selector : undefined;
    if (service && selector) {
      const known = opts.remembered ? await this.rememberedCanary(plan.namespace, service, selector) : undefined;
      const selected = known ?? (await this.listCanary(plan.namespace, service, selector));
      if (selected.length) return { via: "selector", deployments: selected };
    }
    const named = await this.deployment(plan.namespace, plan.canary.name);
    return { via: "name", deployments: named ? [named] : [] };
  }

  /** The remembered Deployments read by name; undefined (and forgotten) when one is gone or no longer selected. */
  private async rememberedCanary(namespace: string, service: string, selector: Record<string, string>): Promise<DeploymentFacts[] | undefined> {
    const names = this.known.get(namespace, service, selector, this.now());
    if (!names) return undefined;
    const found = await Promise.all(names.map((name) => this.deployment(namespace, name)));
    const still = found.filter((d): d is DeploymentFacts => d !== undefined && selects(selector, d.podLabels));
    if (still.length === names.length) return still;
    this.known.forget(namespace, service);
    return undefined;
  }

  /** The namespace's Deployments the selector picks, remembered when there are any. */
  private async listCanary(namespace: string, service: string, selector: Record<string, string>): Promise<DeploymentFacts[]> {
    const selected = selectedBy(await this.deployments(namespace), selector);
    const names = selected.map((d) => d.name);
    if (names.length) this.known.remember(namespace, service, selector, names, this.now());
    else this.known.forget(namespace, service);
    return selected;
  }
}

function deploymentFacts(d: V1Deployment): DeploymentFacts {
  return {
    name: d.metadata?.name ?? "",
    // The API server defaults spec.replicas to 1; an absent value means the same.
    replicas: d.spec?.replicas ?? 1,
    ...(d.metadata?.generation !== undefined ? { generation: d.metadata.generation } : {}),
    ...(d.status?.observedGeneration !== undefined ? { observedGeneration: d.status.observedGeneration } : {}),
    availableReplicas: d.status?.availableReplicas ?? 0,
    podLabels: d.spec?.template?.metadata?.labels ?? {},
  };
}

async function missingIsUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof KubeApiError && err.code === 404 && !err.resourceNotServed) return undefined;
    throw err;
  }
}

type Remembered = { selector: string; names: string[]; listedAt: number };

/**
 * (namespace, canary Service) -> the Deployment names its selector matched at the last list, least recently
 * used dropped past `max` so the process's memory stays bounded. An entry is used only for the same selector
 * and for `ttlMs` after the list.
 */
class CanaryNames {
  private readonly entries: LRUCache<string, Remembered>;

  constructor(
    max: number,
    private readonly ttlMs: number,
  ) {
    this.entries = new LRUCache({ max });
  }

  get(namespace: string, service: string, selector: Record<string, string>, now: number): string[] | undefined {
    const key = `${namespace}/${service}`;
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    // On the injected clock, not the cache's own TTL, so tests can move time.
    if (entry.selector !== selectorKey(selector) || now - entry.listedAt >= this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.names;
  }

  remember(namespace: string, service: string, selector: Record<string, string>, names: string[], now: number): void {
    this.entries.set(`${namespace}/${service}`, { selector: selectorKey(selector), names, listedAt: now });
  }

  forget(namespace: string, service: string): void {
    this.entries.delete(`${namespace}/${service}`);
  }
}

/** The same text for the same selector whatever the order of its keys. */
function selectorKey(selector: Record<string, string>): string {
  return JSON.stringify(Object.entries(selector).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Which versions of which API groups the cluster serves, read from `/apis` (the APIGroupList) and trusted
 * for a short while: discovery is per cluster, not per call, and meshes serve different versions of the
 * same CRD (SMI TrafficSplit, Gateway API HTTPRoute), so a router must ask before it reads or writes.
 */
import { ApisApi, type KubeConfig } from "@kubernetes/client-node";
import { KubeApiError, kubeCall } from "./call.ts";
import { toRouterError } from "./errors.ts";

export type DiscoveryOptions = { timeoutMs: number; ttlMs?: number; now?: () => number };

export class ApiDiscovery {
  private readonly apis: ApisApi;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private cache: { groups: Map<string, Set<string>>; at: number } | undefined;

  constructor(
    kubeConfig: KubeConfig,
    private readonly opts: DiscoveryOptions,
  ) {
    this.apis = kubeConfig.makeApiClient(ApisApi);
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * The versions of `group` the cluster serves (empty when the group is absent). A missing group is simply
   * absent from /apis, never a 404 to tell apart from an outage.
   */
  async served(group: string): Promise<Set<string>> {
    if (!this.cache || this.now() - this.cache.at >= this.ttlMs) {
      let list;
      try {
        list = await kubeCall("discover API groups", (o) => this.apis.getAPIVersions({}, o), { timeoutMs: this.opts.timeoutMs });
      } catch (err) {
        throw err instanceof KubeApiError ? toRouterError(err) : err;
      }
      const groups = new Map(list.groups.map((g) => [g.name, new Set(g.versions.map((v) => v.version))]));
      this.cache = { groups, at: this.now() };
    }
    return this.cache.groups.get(group) ?? new Set();
  }

  /** The first of `known` (listed in order of preference) the cluster serves for `group`, if any. */
  async pick<V extends string>(group: string, known: readonly V[]): Promise<V | undefined> {
    const served = await this.served(group);
    return known.find((v) => served.has(v));
  }

  /** Forget what was read (a resource URL answered 404: the CRD changed), so the next call asks again. */
  forget(): void {
    this.cache = undefined;
  }
}

import { kubeNamespace, type Target } from "./target.ts";

/**
 * Which Kubernetes Services carry a rollout's two versions, as its router names them. One mapping, used by
 * the routers when they write and by preflight when it checks that the Services exist, so the two can never
 * look at different objects. Pure.
 */

export type Pair = { stable: string; canary: string };

/**
 * Where a rollout's traffic goes: the two Services, in the namespace their references resolve in, and the
 * names the Deployments are looked for by (the canary's when its Service selects none; the stable one's for
 * `cleanup: scale-down`): the version under the target's naming template (`web-{version}` + `v2` ->
 * `web-v2`), never a fixed `canaryService` name.
 */
export type VersionServices = { namespace: string; stable: string; canary: string; canaryWorkload: string; stableWorkload: string };

type GatewayNames = { service?: string | undefined; stableService?: string | undefined; canaryService?: string | undefined };

/** Service name for a version: the `{version}` template, e.g. `web-{version}` + `v2` -> `web-v2`. */
export function serviceFor(template: string, version: string): string {
  return template.split("{version}").join(version);
}

/** A Gateway target's Services: explicit `stableService`/`canaryService`, else the `service` template. */
export function gatewayServices(settings: GatewayNames | undefined, pair: Pair): { stable: string; canary: string } {
  const template = settings?.service ?? "{version}";
  return {
    stable: settings?.stableService ?? serviceFor(template, pair.stable),
    canary: settings?.canaryService ?? serviceFor(template, pair.canary),
  };
}

/** The namespace of a Gateway target's HTTPRoute; its backendRefs (no namespace of their own) resolve there. */
export function gatewayNamespace(target: Pick<Target, "namespace" | "gateway">): string {
  return target.gateway?.namespace ?? kubeNamespace(target);
}

/**
 * The Services a rollout routes between. SMI backends are Services named by the versions; a Gateway
 * target's follow its `gateway:` settings, in the route's namespace. namerd routes to dtab names, which need
 * not be Services: undefined.
 */
export function versionServices(target: Pick<Target, "namespace" | "router" | "gateway">, pair: Pair): VersionServices | undefined {
  if (target.router === "namerd") return undefined;
  if (target.router === "gateway") {
    const template = target.gateway?.service ?? "{version}";
    return {
      namespace: gatewayNamespace(target),
      ...gatewayServices(target.gateway, pair),
      canaryWorkload: serviceFor(template, pair.canary),
      stableWorkload: serviceFor(template, pair.stable),
    };
  }
  return { namespace: kubeNamespace(target), stable: pair.stable, canary: pair.canary, canaryWorkload: pair.canary, stableWorkload: pair.stable };
}

/**
 * A failed Kubernetes API call (KubeApiError) in the terms routers and workers decide on: RouterError's
 * codes, whose `transient` flag says whether retrying later can help.
 */
import { RouterError } from "../engine/route.ts";
import type { KubeApiError } from "./call.ts";

export function toRouterError(err: KubeApiError): RouterError {
  const f = err.failure;
  if (f.kind === "timeout") return new RouterError("unavailable", `Kubernetes API did not answer (${err.what}): ${f.message}`, err);
  if (f.kind === "network") return new RouterError("unavailable", `could not reach the Kubernetes API (${err.what}): ${f.message}`, err);
  const code = f.code;
  const said = `${code} ${f.reason}: ${f.message}`;
  if (err.transient) return new RouterError("unavailable", `Kubernetes API failed to ${err.what}: ${said}`, err);
  if (err.namespaceMissing) return new RouterError("not-found", `namespace ${f.status?.details?.name ?? "?"} does not exist (${err.what})`, err);
  if (code === 404) {
    // A URL that is not served (the CRD was removed or lost a version since discovery) is worth retrying
    // after rediscovery; a named object that is missing is not.
    if (err.resourceNotServed) return new RouterError("unavailable", `${err.what}: the API is no longer served as discovered; will rediscover`, err);
    return new RouterError("not-found", `${err.what}: ${f.message}`, err);
  }
  const owned = err.fieldConflict;
  if (owned) return new RouterError("owned", `${err.what}: ${f.message}`, owned);
  if (code === 409) return new RouterError("conflict", `${err.what}: ${f.message}`, err);
  if (code === 401 || code === 403) return new RouterError("rejected", `the bot's Kubernetes credentials may not ${err.what}: ${said}`, err);
  return new RouterError("rejected", `Kubernetes refused to ${err.what}: ${f.message}`, err);
}

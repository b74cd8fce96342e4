/**
 * What the routers share with the adapters beside and below them (the Kubernetes helpers they build on, the
 * metrics sources that read the same pair of versions), kept here so those import no router.
 */

/** The pair of versions a router (or a metrics source) is bound to when it is asked to act for one rollout. */
export type RoutePair = { stable: string; canary: string };

export type RouterErrorCode =
  | "not-found" // routing object or namespace missing
  | "invalid" // the mesh object cannot carry this rollout (backends do not include the services...)
  | "conflict" // version conflict that did not resolve after retries
  | "drift" // someone else changed what we own
  | "owned" // server-side apply refused: another field manager owns what we write (detail: { managers, fields })
  | "unavailable" // network error / 5xx / timeout: transient, retry
  | "rejected"; // 4xx the API will keep giving (bad request)

/** A router's failure, typed: the worker decides on `code` and retries a `transient` one. */
export class RouterError extends Error {
  constructor(
    readonly code: RouterErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = "RouterError";
  }
  get transient(): boolean {
    return this.code === "unavailable" || this.code === "conflict";
  }
}

/**
 * One Kubernetes API call as a router makes it: with its deadline, failures as RouterError, a URL that is
 * no longer served making discovery ask again, and (when asked) a missing object read as `undefined`.
 */
import { KubeApiError, kubeCall } from "./call.ts";
import type { ApiDiscovery } from "./discovery.ts";
import { toRouterError } from "./errors.ts";

export type RequestOptions = { timeoutMs: number; contentType?: string; discovery?: ApiDiscovery };

type Send<T> = Parameters<typeof kubeCall<T>>[1];

export function kubeRequest<T>(what: string, send: Send<T>, opts: RequestOptions): Promise<T>;
export function kubeRequest<T>(what: string, send: Send<T>, opts: RequestOptions & { missingIsUndefined: true }): Promise<T | undefined>;
export async function kubeRequest<T>(what: string, send: Send<T>, opts: RequestOptions & { missingIsUndefined?: boolean }): Promise<T | undefined> {
  try {
    return await kubeCall(what, send, { timeoutMs: opts.timeoutMs, ...(opts.contentType ? { contentType: opts.contentType } : {}) });
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    if (err.resourceNotServed)
      opts.discovery?.forget(); // the CRD changed: rediscover next time
    else if (err.code === 404 && !err.namespaceMissing && opts.missingIsUndefined) return undefined;
    throw toRouterError(err);
  }
}

/**
 * One place that turns a @kubernetes/client-node call into something a worker can rely on: a deadline
 * (a hung API server must not hang a worker), an optional Content-Type (patches in client-node 1.x need
 * it set by middleware), and failures reduced to what callers decide on: an API Status, or "could not
 * talk to the API at all".
 */
import { ApiException, Observable, type ConfigurationOptions, type ObservableMiddleware } from "@kubernetes/client-node";
import { z } from "zod";
import { redactUrlsIn } from "../engine/urls.ts";

/**
 * Deadline of one API request when the caller names none: ROLLOUT_KUBE_TIMEOUT_SECONDS' default. The
 * configured value is parsed once in main and handed down (buildRouters), never read here.
 */
export const DEFAULT_KUBE_TIMEOUT_MS = 10_000;

/** The `Status` object the API server answers errors with (only the fields we use). */
const StatusSchema = z.looseObject({
  kind: z.literal("Status"),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().optional(),
  details: z
    .looseObject({
      name: z.string().optional(),
      group: z.string().optional(),
      kind: z.string().optional(),
      causes: z.array(z.looseObject({ type: z.string().optional(), field: z.string().optional(), message: z.string().optional() })).optional(),
    })
    .optional(),
});

export type KubeStatus = z.infer<typeof StatusSchema>;

export type KubeFailure =
  /** The API server answered with an error status. */
  | { kind: "status"; code: number; reason: string; message: string; status?: KubeStatus }
  /** No answer within the deadline. */
  | { kind: "timeout"; message: string }
  /** Connection refused/reset, DNS, TLS, or an answer that is not the API's. */
  | { kind: "network"; message: string };

export class KubeApiError extends Error {
  constructor(
    /** What we were doing, e.g. `GET TrafficSplit shop/web`. */
    readonly what: string,
    readonly failure: KubeFailure,
  ) {
    super(`${what}: ${failure.message}`);
    this.name = "KubeApiError";
  }

  get code(): number | undefined {
    return this.failure.kind === "status" ? this.failure.code : undefined;
  }

  get reason(): string | undefined {
    return this.failure.kind === "status" ? this.failure.reason : undefined;
  }

  /** Worth retrying later: no answer, or the server said it is overloaded or broken. */
  get transient(): boolean {
    const code = this.code;
    return code === undefined || code >= 500 || code === 429;
  }

  /** A 404 that names a missing namespace rather than the object itself. */
  get namespaceMissing(): boolean {
    return this.code === 404 && this.failure.kind === "status" && this.failure.status?.details?.kind === "namespaces";
  }

  /**
   * A server-side apply refused because other managers own fields it sends with other values (409 with
   * `FieldManagerConflict` causes): who they are and which fields. A 409 without such causes is a stale
   * resourceVersion (or AlreadyExists), never this.
   */
  get fieldConflict(): { managers: string[]; fields: string[] } | undefined {
    if (this.code !== 409 || this.failure.kind !== "status") return undefined;
    const causes = (this.failure.status?.details?.causes ?? []).filter((c) => c.type === "FieldManagerConflict");
    if (!causes.length) return undefined;
    // The cause's message is `conflict with "<manager>"` plus ` with subresource ...` / ` using <apiVersion> ...`.
    const managers = causes.map((c) => /^conflict with "([^"]+)"/.exec(c.message ?? "")?.[1]).filter((m): m is string => m !== undefined);
    return { managers: [...new Set(managers)], fields: [...new Set(causes.map((c) => c.field ?? "").filter(Boolean))] };
  }

  /** A 404 for the URL itself (group/version/resource not served), not for a named object. */
  get resourceNotServed(): boolean {
    return this.code === 404 && this.failure.kind === "status" && this.failure.status?.details?.name === undefined;
  }
}

function middleware(pre: (ctx: Parameters<ObservableMiddleware["pre"]>[0]) => void): ObservableMiddleware {
  return {
    pre: (ctx) => {
      pre(ctx);
      return new Observable(Promise.resolve(ctx));
    },
    post: (res) => new Observable(Promise.resolve(res)),
  };
}

/** Per-call options: a fresh AbortSignal deadline and, for patches, the patch media type. */
export function callOptions(timeoutMs: number, contentType?: string): ConfigurationOptions {
  const list: ObservableMiddleware[] = [middleware((ctx) => ctx.setSignal(AbortSignal.timeout(timeoutMs)))];
  if (contentType) list.push(middleware((ctx) => ctx.setHeaderParam("Content-Type", contentType)));
  return { middleware: list, middlewareMergeStrategy: "append" };
}

function parseStatus(body: unknown): KubeStatus | undefined {
  let value = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const parsed = StatusSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** Reduce whatever the client threw to a KubeFailure. */
export function describeFailure(err: unknown, timeoutMs: number): KubeFailure {
  if (err instanceof ApiException) {
    const code = err.code;
    const status = parseStatus(err.body);
    const reason = status?.reason ?? `HTTP ${code}`;
    const text = typeof err.body === "string" && !status ? err.body.trim().slice(0, 200) : "";
    const message = status?.message ?? (text || `the API answered HTTP ${code}`);
    return { kind: "status", code, reason, message, status };
  }
  const e = err as { name?: string; type?: string; message?: string; code?: string } | undefined;
  if (e?.name === "AbortError" || e?.type === "aborted" || e?.name === "TimeoutError") {
    return { kind: "timeout", message: `no answer within ${Math.round(timeoutMs / 100) / 10} s` };
  }
  // The client's network errors name the request's URL; it is shown in Slack and logged (src/engine/urls.ts).
  return { kind: "network", message: redactUrlsIn(e?.message ?? String(err)) };
}

/**
 * Run one client call with a deadline; failures come out as KubeApiError.
 * `call` receives the per-call options to pass as the client method's last argument.
 */
export async function kubeCall<T>(
  what: string,
  call: (options: ConfigurationOptions) => Promise<T>,
  opts: { timeoutMs?: number; contentType?: string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_KUBE_TIMEOUT_MS;
  try {
    return await call(callOptions(timeoutMs, opts.contentType));
  } catch (err) {
    throw new KubeApiError(what, describeFailure(err, timeoutMs));
  }
}

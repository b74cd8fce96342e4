import { z } from "zod";
import { redactUrl } from "../engine/urls.ts";
import type { PrometheusQueries } from "../engine/metrics-settings.ts";
import { kubeNamespace, type Target } from "../engine/target.ts";
import type { RoutePair } from "../routers/router.ts";
import { MetricsError, type Sample, type Snapshot, type SuccessRateSource } from "./source.ts";

/**
 * Success rates from Prometheus, one version (Deployment / backend) at a time, as counts over the
 * window: `sum(increase(...[window]))`. Counts rather than ratios, because the verdict weighs how
 * much evidence there is, not only the rate.
 *
 * Every query of one snapshot is evaluated at the same `time`, so stable and canary cover the
 * same seconds.
 */

export type PrometheusPreset = "linkerd2" | "nginx" | "istio";

/**
 * Queries per mesh (sources: Flagger's observers, the NGINX Service Mesh metrics guide; see
 * PROTOCOLS.md §6). All three count a request as successful unless it answered 5xx, so a canary
 * is not blamed for clients' 4xx and the three meshes judge alike.
 */
export const PRESETS: Record<PrometheusPreset, PrometheusQueries> = {
  // Linkerd2 proxy, inbound side of the version's pods. `classification` is "failure" for 5xx
  // (and gRPC errors); Flagger likewise counts classification!="failure" as success. The
  // direction filter keeps out the calls the version itself makes to its dependencies.
  linkerd2: {
    requests: `sum(increase(response_total{namespace="{namespace}", deployment="{version}", direction="inbound"}[{window}]))`,
    successes: `sum(increase(response_total{namespace="{namespace}", deployment="{version}", direction="inbound", classification!="failure"}[{window}]))`,
    p99: `histogram_quantile(0.99, sum by (le) (rate(response_latency_ms_bucket{namespace="{namespace}", deployment="{version}", direction="inbound"}[{window}])))`,
  },
  // NGINX Service Mesh sidecars. `nginxplus_upstream_server_responses` is reported by the sidecar
  // that *sends* the request; requests to the version carry dst_namespace / dst_deployment (the
  // guide's "destination labels"). Selecting on plain `deployment` would instead pick the calls
  // the version makes to others. The guide's own success ratio counts only 1xx|2xx; we count 3xx
  // and 4xx as success too, like the other meshes (a 404 is the client's error, not the canary's).
  nginx: {
    requests: `sum(increase(nginxplus_upstream_server_responses{dst_namespace="{namespace}", dst_deployment="{version}"}[{window}]))`,
    successes: `sum(increase(nginxplus_upstream_server_responses{dst_namespace="{namespace}", dst_deployment="{version}", code=~"1xx|2xx|3xx|4xx"}[{window}]))`,
    p99: `histogram_quantile(0.99, sum by (le) (rate(nginxplus_upstream_server_response_latency_ms_bucket{dst_namespace="{namespace}", dst_deployment="{version}"}[{window}])))`,
  },
  // Istio, as the destination workload's proxy reports it.
  istio: {
    requests: `sum(increase(istio_requests_total{reporter="destination", destination_workload_namespace="{namespace}", destination_workload="{version}"}[{window}]))`,
    successes: `sum(increase(istio_requests_total{reporter="destination", destination_workload_namespace="{namespace}", destination_workload="{version}", response_code!~"5.*"}[{window}]))`,
    p99: `histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination", destination_workload_namespace="{namespace}", destination_workload="{version}"}[{window}])))`,
  },
};

export type QueryVars = { namespace: string; service: string; version: string; windowSeconds: number };

/** Fill a template's placeholders. Values are DNS-1123 names; escaped anyway, as PromQL strings. */
export function renderQuery(template: string, vars: QueryVars): string {
  const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  const values: Record<string, string> = {
    namespace: esc(vars.namespace),
    service: esc(vars.service),
    version: esc(vars.version),
    backend: esc(vars.version),
    window: `${Math.round(vars.windowSeconds)}s`,
  };
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => values[name] ?? whole);
}

// --- The HTTP API envelope (docs/querying/api.md) ---------------------------------------------

const valuePair = z.tuple([z.number(), z.string()]);
const envelopeSchema = z.discriminatedUnion("status", [
  z.object({
    status: z.literal("success"),
    data: z.discriminatedUnion("resultType", [
      z.object({ resultType: z.literal("vector"), result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: valuePair })) }),
      z.object({ resultType: z.literal("scalar"), result: valuePair }),
      z.object({ resultType: z.literal("matrix"), result: z.array(z.unknown()) }),
      z.object({ resultType: z.literal("string"), result: z.unknown() }),
    ]),
    warnings: z.array(z.string()).optional(),
  }),
  z.object({
    status: z.literal("error"),
    errorType: z.string(),
    error: z.string(),
    warnings: z.array(z.string()).optional(),
  }),
]);

/** What an instant query gave: a number, or nothing (empty vector, NaN: no traffic to speak of). */
export type QueryValue = { value: number } | { empty: true };

const ERROR_WORDS: Record<string, string> = {
  bad_data: "rejected the query",
  execution: "could not run the query",
  timeout: "timed out running the query",
  canceled: "canceled the query",
  internal: "failed internally running the query",
  unavailable: "is unavailable",
  not_found: "does not know the query endpoint",
};

export type PrometheusSourceOptions = {
  /** Base URL, e.g. http://prometheus.monitoring:9090 (a path prefix such as /prometheus is kept). */
  url: string;
  queries: PrometheusQueries;
  /** Per HTTP request; Prometheus is also told to give up a little earlier. */
  timeoutMs?: number;
  /** The bearer token to send, asked before each query (a token file may be rotated). */
  bearerToken?: () => Promise<string>;
};

export class PrometheusSource implements SuccessRateSource {
  readonly kind = "prometheus";
  /** Base URL without a trailing slash. */
  readonly url: string;
  private readonly timeoutMs: number;

  constructor(private readonly opts: PrometheusSourceOptions) {
    this.url = opts.url.replace(/\/+$/, "");
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  async snapshot(target: Target, pair: RoutePair, windowSeconds: number): Promise<Snapshot> {
    const at = Date.now();
    const [stable, canary] = await Promise.all([this.sample(target, pair.stable, windowSeconds, at), this.sample(target, pair.canary, windowSeconds, at)]);
    return { stable, canary, windowSeconds, at };
  }

  /** One version's sample at time `at` (ms). */
  async sample(target: Target, version: string, windowSeconds: number, at: number): Promise<Sample> {
    const vars: QueryVars = { namespace: kubeNamespace(target), service: target.name, version, windowSeconds };
    const q = this.opts.queries;
    const [requests, successes, p99] = await Promise.all([
      this.query(renderQuery(q.requests, vars), at),
      this.query(renderQuery(q.successes, vars), at),
      q.p99 ? this.query(renderQuery(q.p99, vars), at) : Promise.resolve<QueryValue>({ empty: true }),
    ]);
    if ("empty" in requests) return { noTraffic: true };
    // increase() extrapolates to the window's edges, so counts come back fractional: round them.
    const total = Math.round(requests.value);
    if (total <= 0) return { noTraffic: true };
    // No success series at all means none succeeded (Linkerd only creates the series on the first
    // success): zero, not "no traffic".
    const ok = "empty" in successes ? 0 : Math.min(total, Math.max(0, Math.round(successes.value)));
    return { requests: total, successes: ok, ...("value" in p99 ? { p99Ms: p99.value } : {}) };
  }

  /** Run one instant query at `atMs`; resolves to its single value, or `empty`. Throws MetricsError. */
  async query(promql: string, atMs: number = Date.now()): Promise<QueryValue> {
    const url = redactUrl(this.url);
    const where = `Prometheus at ${url}`;
    const token = this.opts.bearerToken ? await this.opts.bearerToken() : undefined;
    const form = new URLSearchParams({
      query: promql,
      time: (atMs / 1000).toFixed(3),
      // Let Prometheus stop first, so a slow query comes back as its own timeout error.
      timeout: `${Math.max(1, Math.floor((this.timeoutMs * 0.8) / 1000))}s`,
    });
    let res: Response;
    try {
      res = await fetch(`${this.url}/api/v1/query`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: form,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new MetricsError(`${where} did not answer (${networkReason(err, this.timeoutMs)})`, { url, query: promql, cause: err });
    }
    const text = await res.text().catch(() => "");
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new MetricsError(`${where} answered HTTP ${res.status} that is not JSON: ${snippet(text)}`, { url, query: promql, status: res.status });
    }
    const parsed = envelopeSchema.safeParse(json);
    if (!parsed.success) {
      throw new MetricsError(`${where} answered HTTP ${res.status} in an unexpected shape: ${snippet(text)}`, {
        url,
        query: promql,
        status: res.status,
        issues: parsed.error.issues,
      });
    }
    const body = parsed.data;
    if (body.status === "error") {
      const verb = ERROR_WORDS[body.errorType] ?? `answered ${body.errorType}`;
      throw new MetricsError(`${where} ${verb}: ${body.error} (query: ${promql})`, {
        url,
        query: promql,
        status: res.status,
        errorType: body.errorType,
      });
    }
    const data = body.data;
    if (data.resultType === "scalar") return toValue(data.result[1]);
    if (data.resultType !== "vector") {
      throw new MetricsError(`${where} returned a ${data.resultType} for (${promql}); the query must give one number (an instant vector)`, {
        url,
        query: promql,
      });
    }
    if (data.result.length === 0) return { empty: true };
    if (data.result.length > 1) {
      // A custom template without sum(): adding the series up might double count, so say so.
      throw new MetricsError(`${where} returned ${data.result.length} series for (${promql}); wrap the query in sum(...) so it gives one number`, {
        url,
        query: promql,
      });
    }
    return toValue(data.result[0]!.value[1]);
  }
}

function toValue(s: string): QueryValue {
  const v = Number(s); // Prometheus writes "NaN", "+Inf", "-Inf" for the specials.
  return Number.isFinite(v) ? { value: v } : { empty: true };
}

function snippet(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > 200 ? `${t.slice(0, 200)}...` : t || "(empty body)";
}

/** undici's "fetch failed" hides the useful part (ECONNREFUSED, ENOTFOUND) in `cause`. */
export function networkReason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error ? (err.cause as unknown) : undefined;
  if (cause instanceof Error) {
    if ("errors" in cause && Array.isArray(cause.errors) && cause.errors[0] instanceof Error) return cause.errors[0].message;
    return cause.message || String((cause as { code?: unknown }).code ?? cause.name);
  }
  return err instanceof Error ? err.message : String(err);
}

import { z } from "zod";
import { redactUrl } from "../engine/urls.ts";
import { sameBoundary, type PrometheusQueries } from "../engine/metrics-settings.ts";
import { kubeNamespace, type Target } from "../engine/target.ts";
import type { RoutePair } from "../engine/route.ts";
import { combineParts, splitParts, type Row } from "./combined-query.ts";
import { MetricsError, type CounterReading, type SeriesCounters, type SuccessRateSource } from "./source.ts";

/**
 * Success rates from Prometheus, as raw cumulative counters: every series of one version (a pod, a label set)
 * as an instant query at `now - lag`, with the time each series was last scraped (`timestamp()`). The evidence
 * takes exact differences between readings (engine/evidence.ts); nothing here goes through increase(), whose
 * results are extrapolated to the window's edges (1.3-2× the requests that happened) and never tile time.
 *
 * A reading is one instant query (combined-query.ts): every part of both versions evaluated at the same `time`,
 * so stable and canary are read at the same moment, in one HTTP request.
 */

export type PrometheusPreset = "linkerd2" | "nginx" | "istio";

/**
 * Counter selectors per mesh (sources: Flagger's observers, the NGINX Service Mesh metrics guide; see
 * PROTOCOLS.md §6). All three count a request as successful unless it answered 5xx, so a canary
 * is not blamed for clients' 4xx and the three meshes judge alike. `successes` selects a subset of the
 * `requests` series (the same label sets), so each series' success count pairs with its request count.
 */
export const PRESETS: Record<PrometheusPreset, PrometheusQueries> = {
  // Linkerd2 proxy, inbound side of the version's pods. `classification` is "failure" for 5xx
  // (and gRPC errors); Flagger likewise counts classification!="failure" as success. The
  // direction filter keeps out the calls the version itself makes to its dependencies.
  linkerd2: {
    requests: `response_total{namespace="{namespace}", deployment="{version}", direction="inbound"}`,
    successes: `response_total{namespace="{namespace}", deployment="{version}", direction="inbound", classification!="failure"}`,
    p99: `histogram_quantile(0.99, sum by (le) (rate(response_latency_ms_bucket{namespace="{namespace}", deployment="{version}", direction="inbound"}[{window}])))`,
    latencyBuckets: `response_latency_ms_bucket{namespace="{namespace}", deployment="{version}", direction="inbound"}`,
  },
  // NGINX Service Mesh sidecars. `nginxplus_upstream_server_responses` is reported by the sidecar
  // that *sends* the request; requests to the version carry dst_namespace / dst_deployment (the
  // guide's "destination labels"). Selecting on plain `deployment` would instead pick the calls
  // the version makes to others. The guide's own success ratio counts only 1xx|2xx; we count 3xx
  // and 4xx as success too, like the other meshes (a 404 is the client's error, not the canary's).
  nginx: {
    requests: `nginxplus_upstream_server_responses{dst_namespace="{namespace}", dst_deployment="{version}"}`,
    successes: `nginxplus_upstream_server_responses{dst_namespace="{namespace}", dst_deployment="{version}", code=~"1xx|2xx|3xx|4xx"}`,
    p99: `histogram_quantile(0.99, sum by (le) (rate(nginxplus_upstream_server_response_latency_ms_bucket{dst_namespace="{namespace}", dst_deployment="{version}"}[{window}])))`,
    latencyBuckets: `nginxplus_upstream_server_response_latency_ms_bucket{dst_namespace="{namespace}", dst_deployment="{version}"}`,
  },
  // Istio, as the destination workload's proxy reports it.
  istio: {
    requests: `istio_requests_total{reporter="destination", destination_workload_namespace="{namespace}", destination_workload="{version}"}`,
    successes: `istio_requests_total{reporter="destination", destination_workload_namespace="{namespace}", destination_workload="{version}", response_code!~"5.*"}`,
    p99: `histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination", destination_workload_namespace="{namespace}", destination_workload="{version}"}[{window}])))`,
    latencyBuckets: `istio_request_duration_milliseconds_bucket{reporter="destination", destination_workload_namespace="{namespace}", destination_workload="{version}"}`,
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
  /** Read the counters this long before now (ms), so that every scrape of that moment has landed. */
  lagMs?: number;
  /** The p99's window (s). */
  windowSeconds?: number;
  /** Per HTTP request; Prometheus is also told to give up a little earlier. */
  timeoutMs?: number;
  /** The bearer token to send, asked before each query (a token file may be rotated). */
  bearerToken?: () => Promise<string>;
  /** The latency gate's threshold (ms): read the histogram's bucket at it and `+Inf` with the counters. */
  latencyThresholdMs?: number;
};

/** One query of a reading: its marker in the combined query, the PromQL, and what it is called in messages. */
type Ask = { id: string; promql: string; what: string; version: string };
/** Each ask's answer by id: every series, its value as Prometheus wrote it. */
type Answers = Map<string, Row[]>;
/** The queries of one thing read and how their answers make it. */
type Plan<T> = { asks: Ask[]; read(answers: Answers): T };
type Answer = { status: "success"; rows: Row[] } | { status: "error"; errorType: string; error: string; httpStatus: number };

export class PrometheusSource implements SuccessRateSource {
  readonly kind = "prometheus";
  /** Base URL without a trailing slash. */
  readonly url: string;
  private readonly timeoutMs: number;
  /**
   * Set once the templates were refused as one query but answered one by one (a template giving a scalar,
   * which label_replace does not take): from then on this source asks each part separately, as before issue 24.
   */
  private separately = false;

  constructor(private readonly opts: PrometheusSourceOptions) {
    this.url = opts.url.replace(/\/+$/, "");
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Both versions' counters, p99s and (with the latency gate) histograms, in one instant query at `now - lag`. */
  async counters(target: Target, pair: RoutePair, now: number): Promise<CounterReading> {
    const at = now - (this.opts.lagMs ?? 0);
    const threshold = this.opts.latencyThresholdMs;
    const stablePlan = this.seriesPlan(target, pair.stable, "stable", at);
    const canaryPlan = this.seriesPlan(target, pair.canary, "canary", at);
    const gate =
      threshold !== undefined
        ? [this.histogramPlan(target, pair.stable, "stable", at, threshold), this.histogramPlan(target, pair.canary, "canary", at, threshold)]
        : undefined;
    const answers = await this.ask([...stablePlan.asks, ...canaryPlan.asks, ...(gate ?? []).flatMap((p) => p.asks)], at);
    const stable = stablePlan.read(answers);
    const canary = canaryPlan.read(answers);
    const p99 = { ...(stable.p99Ms !== undefined ? { stable: stable.p99Ms } : {}), ...(canary.p99Ms !== undefined ? { canary: canary.p99Ms } : {}) };
    return {
      at,
      stable: stable.counters,
      canary: canary.counters,
      ...(Object.keys(p99).length ? { p99Ms: p99 } : {}),
      ...(gate ? { latency: { stable: gate[0]!.read(answers), canary: gate[1]!.read(answers) } } : {}),
    };
  }

  /** One version's counters at `at` (ms): every series, with the time Prometheus last scraped it. */
  async series(target: Target, version: string, at: number): Promise<{ counters: SeriesCounters; p99Ms?: number }> {
    const plan = this.seriesPlan(target, version, "version", at);
    return plan.read(await this.ask(plan.asks, at));
  }

  private vars(target: Target, version: string): QueryVars {
    return { namespace: kubeNamespace(target), service: target.name, version, windowSeconds: this.opts.windowSeconds ?? 60 };
  }

  /** `requests`, when each was scraped, `successes` and the p99 of one version; `side` keeps the two versions' parts apart. */
  private seriesPlan(target: Target, version: string, side: string, at: number): Plan<{ counters: SeriesCounters; p99Ms?: number }> {
    const vars = this.vars(target, version);
    const q = this.opts.queries;
    const requests = renderQuery(q.requests, vars);
    const p99 = q.p99 ? renderQuery(q.p99, vars) : undefined;
    const ask = (name: string, what: string, promql: string): Ask => ({ id: `${side}.${name}`, promql, what, version });
    const asks = [
      ask("requests", "requests", requests),
      ask("scraped", "timestamp(requests)", `timestamp(${requests})`),
      ask("successes", "successes", renderQuery(q.successes, vars)),
      ...(p99 !== undefined ? [ask("p99", "p99", p99)] : []),
    ];
    return {
      asks,
      read: (answers) => {
        const counters = seriesCounters(finite(answers, asks[0]!), finite(answers, asks[1]!), finite(answers, asks[2]!), at);
        const value = p99 !== undefined ? this.single(answers.get(asks[3]!.id) ?? [], p99) : { empty: true as const };
        return { counters, ...("value" in value ? { p99Ms: value.value } : {}) };
      },
    };
  }

  /**
   * One version's latency histogram at `at` (ms), per series (its labels without `le`): `requests` from the
   * `+Inf` bucket, `successes` from the bucket at exactly `thresholdMs` (the requests no slower), so the
   * evidence counts slow requests as it counts errors. A histogram without that boundary is refused, never
   * interpolated.
   */
  private histogramPlan(target: Target, version: string, side: string, at: number, thresholdMs: number): Plan<SeriesCounters> {
    const template = this.opts.queries.latencyBuckets;
    if (!template) throw new MetricsError("the latency gate needs queries.latencyBuckets (the histogram's _bucket series)", { url: redactUrl(this.url) });
    const q = renderQuery(template, this.vars(target, version));
    const asks: Ask[] = [
      { id: `${side}.buckets`, promql: q, what: "latency buckets", version },
      { id: `${side}.bucketsScraped`, promql: `timestamp(${q})`, what: "timestamp(latency buckets)", version },
    ];
    return { asks, read: (answers) => histogramCounters(finite(answers, asks[0]!), finite(answers, asks[1]!), at, thresholdMs, q, redactUrl(this.url)) };
  }

  /** A p99's single value, or `empty`: a query giving several series is refused (adding them up might double count). */
  private single(rows: Row[], promql: string): QueryValue {
    if (rows.length === 0) return { empty: true };
    if (rows.length > 1) {
      throw new MetricsError(
        `Prometheus at ${redactUrl(this.url)} returned ${rows.length} series for (${promql}); wrap the query in sum(...) so it gives one number`,
        { url: redactUrl(this.url), query: promql },
      );
    }
    return toValue(rows[0]!.value);
  }

  /**
   * Every ask answered, as one instant query (combined-query.ts) unless this source's templates cannot be
   * combined. Refused as one (bad_data, execution), the parts are asked one by one: a part that is itself wrong
   * then fails with Prometheus's own message about it, naming its query as before; if all of them answer, the
   * templates cannot be combined (a scalar part) and this source keeps asking them one by one.
   */
  private async ask(asks: Ask[], at: number): Promise<Answers> {
    if (this.separately || asks.length < 2) return this.askEach(asks, at);
    const promql = combineParts(asks);
    const answer = await this.post(promql, at, describe(asks));
    if (answer.status === "error") {
      if (answer.errorType !== "bad_data" && answer.errorType !== "execution") throw this.refused(answer, promql, describe(asks));
      const answers = await this.askEach(asks, at);
      this.separately = true;
      return answers;
    }
    const parts = splitParts(
      answer.rows,
      asks.map((a) => a.id),
    );
    if (!parts.ok) {
      const url = redactUrl(this.url);
      throw new MetricsError(`Prometheus at ${url} answered a series that is none of the query's parts: ${snippet(JSON.stringify(parts.error.stray.metric))}`, {
        url,
        query: promql,
      });
    }
    return parts.value;
  }

  /** Each ask as its own query, all at once; the first failure names its query. */
  private async askEach(asks: Ask[], at: number): Promise<Answers> {
    const rows = await Promise.all(
      asks.map(async (a) => {
        const answer = await this.post(a.promql, at, a.promql);
        if (answer.status === "error") throw this.refused(answer, a.promql, a.promql);
        return answer.rows;
      }),
    );
    return new Map(asks.map((a, i) => [a.id, rows[i]!]));
  }

  private refused(answer: Extract<Answer, { status: "error" }>, promql: string, named: string): MetricsError {
    const url = redactUrl(this.url);
    const verb = ERROR_WORDS[answer.errorType] ?? `answered ${answer.errorType}`;
    return new MetricsError(`Prometheus at ${url} ${verb}: ${answer.error} (query: ${named})`, {
      url,
      query: promql,
      status: answer.httpStatus,
      errorType: answer.errorType,
    });
  }

  /**
   * POST one instant query at `atMs`: its series (a scalar as one series without labels), or Prometheus's
   * error. Throws MetricsError when no Prometheus answer came back; `named` is what messages call the query.
   */
  private async post(promql: string, atMs: number, named: string): Promise<Answer> {
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
    if (body.status === "error") return { status: "error", errorType: body.errorType, error: body.error, httpStatus: res.status };
    const data = body.data;
    if (data.resultType === "scalar") return { status: "success", rows: [{ metric: {}, value: data.result[1] }] };
    if (data.resultType === "vector") return { status: "success", rows: data.result.map((r) => ({ metric: r.metric, value: r.value[1] })) };
    throw new MetricsError(`${where} returned a ${data.resultType} for (${named}); the query must give an instant vector`, {
      url,
      query: promql,
    });
  }
}

/** What messages call a combined query: its parts and versions, e.g. "requests, successes, p99 of web-v1 and web-v2 as one query". */
function describe(asks: readonly Ask[]): string {
  const whats = [...new Set(asks.map((a) => a.what))].join(", ");
  const versions = [...new Set(asks.map((a) => a.version))].join(" and ");
  return `${whats} of ${versions} as one query`;
}

type Series = { metric: Record<string, string>; value: number };

/** One ask's series with a finite value (NaN, ±Inf: nothing to count). */
function finite(answers: Answers, ask: Ask): Series[] {
  return (answers.get(ask.id) ?? []).flatMap((r) => {
    const v = toValue(r.value);
    return "value" in v ? [{ metric: r.metric, value: v.value }] : [];
  });
}

/** One version's counters from its `requests`, their `timestamp()`s and `successes` (the same label sets, filtered). */
function seriesCounters(requests: Series[], stamps: Series[], successes: Series[], at: number): SeriesCounters {
  const ok = new Map(successes.map((x) => [seriesKey(x.metric), x.value]));
  const when = new Map(stamps.map((x) => [seriesKey(x.metric), x.value * 1000]));
  const counters: SeriesCounters = {};
  for (const x of requests) {
    const key = seriesKey(x.metric);
    // No success series for a label set means none of its requests succeeded (a failure-only series).
    const group = processOf(x.metric);
    counters[key] = { requests: x.value, successes: ok.get(key) ?? 0, at: when.get(key) ?? at, ...(group ? { group } : {}) };
  }
  return counters;
}

/** One version's histogram counters (requests: `+Inf`; successes: the bucket at `thresholdMs`). Throws MetricsError without that bucket. */
function histogramCounters(buckets: Series[], stamps: Series[], at: number, thresholdMs: number, query: string, url: string): SeriesCounters {
  const when = new Map(stamps.map((x) => [seriesKey(x.metric), x.value * 1000]));
  const groups = new Map<string, { all?: number; fast?: number; at: number; bounds: number[]; group: string | undefined }>();
  for (const x of buckets) {
    const { le, ...labels } = x.metric;
    if (le === undefined) continue;
    const key = seriesKey(labels);
    const g = groups.get(key) ?? { at: when.get(seriesKey(x.metric)) ?? at, bounds: [], group: processOf(labels) };
    const bound = le === "+Inf" ? Infinity : Number(le); // "500" and "500.0" alike.
    if (bound === Infinity) g.all = x.value;
    else if (Number.isFinite(bound)) {
      g.bounds.push(bound);
      if (sameBoundary(bound, thresholdMs)) g.fast = x.value;
    }
    groups.set(key, g);
  }
  const counters: SeriesCounters = {};
  for (const [key, g] of groups) {
    if (g.all === undefined) continue;
    if (g.fast === undefined) {
      const bounds = [...new Set(g.bounds)].sort((a, b) => a - b);
      throw new MetricsError(
        `the latency histogram (${query}) has no bucket at ${thresholdMs} ms, so slow requests cannot be counted exactly; set latency.thresholdMs to one of its boundaries: ${bounds.join(", ")}`,
        { url, query },
      );
    }
    counters[key] = { requests: g.all, successes: g.fast, at: g.at, ...(g.group ? { group: g.group } : {}) };
  }
  return counters;
}

/**
 * The process that counts a series, whose counters all reset together when it restarts: its `pod` (the
 * meshes' proxies and Prometheus' Kubernetes discovery label it), else the scrape target (`job`, `instance`);
 * none for a series with neither (a recording rule's), which is then judged alone.
 */
export function processOf(metric: Record<string, string>): string | undefined {
  if (metric.pod) return seriesKey({ namespace: metric.namespace ?? "", pod: metric.pod });
  if (metric.instance) return seriesKey({ job: metric.job ?? "", instance: metric.instance });
  return undefined;
}

/** A series' identity: its label set, hashed (FNV-1a, 2×32 bits) so records stay small. */
export function seriesKey(metric: Record<string, string>): string {
  const text = Object.keys(metric)
    .filter((k) => k !== "__name__")
    .sort()
    .map((k) => `${k}=${metric[k]}`)
    .join(",");
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    a = Math.imul(a ^ text.charCodeAt(i), 0x01000193) >>> 0;
    b = Math.imul(b ^ text.charCodeAt(text.length - 1 - i), 0x01000193) >>> 0;
  }
  return a.toString(36) + b.toString(36);
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

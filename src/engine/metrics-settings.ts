import { z } from "zod";
import { credentialFreeUrl } from "./urls.ts";

/**
 * Where a target's success rates come from and how the bot judges them. Declared per target
 * (`metrics:` in the targets file). Engine code: zod only, so config and the verdict share it.
 *
 * Query templates are PromQL with placeholders, replaced before each query:
 *   {namespace}  the target's namespace
 *   {service}    the target's name (the apex service)
 *   {version}    the Deployment / backend being measured (stable or canary); {backend} is an alias
 *   {window}     the window as a PromQL duration, e.g. `60s` (only in the p99 query, which is shown, not judged)
 * `requests` and `successes` select raw cumulative counters (one series per pod and label set): the bot
 * takes exact differences between its readings itself, so they never go through increase() or rate().
 */

export const METRICS_PLACEHOLDERS = ["namespace", "service", "version", "backend", "window"] as const;

/** Placeholders found in a template that are not ones we fill in (a typo would reach Prometheus as text). */
export function unknownPlaceholders(template: string): string[] {
  const known = new Set<string>(METRICS_PLACEHOLDERS);
  return [...template.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!).filter((name) => !known.has(name));
}

/** Range functions over a window: their results are extrapolated (increase() reports 1.3-2× the requests). */
const RANGE_FUNCTIONS = /\b(increase|rate|irate|delta|idelta|[a-z_]+_over_time)\s*\(|\[\s*\{window\}\s*\]/;

const template = (what: string, counter = true) =>
  z
    .string()
    .min(1)
    .superRefine((t, ctx) => {
      if (counter && RANGE_FUNCTIONS.test(t)) {
        ctx.addIssue({
          code: "custom",
          message: `${what} must select the raw counters, e.g. response_total{deployment="{version}"}: the bot takes exact differences between readings itself; drop increase()/rate() and [{window}]`,
        });
      }
      const unknown = unknownPlaceholders(t);
      if (unknown.length) {
        ctx.addIssue({
          code: "custom",
          message: `${what} uses unknown placeholder(s) ${unknown.map((u) => `{${u}}`).join(", ")}; known: ${METRICS_PLACEHOLDERS.map((p) => `{${p}}`).join(", ")}`,
        });
      }
      // Without the version the stable and canary queries would be the same query.
      if (!t.includes("{version}") && !t.includes("{backend}")) {
        ctx.addIssue({ code: "custom", message: `${what} must select one version with {version} (or {backend})` });
      }
    });

export const PrometheusQueriesSchema = z.strictObject({
  /** Cumulative request counters of one version, one series per pod/label set, e.g. response_total{deployment="{version}"}. */
  requests: template("queries.requests"),
  /** The subset of those series counting successes (the same label sets, filtered). */
  successes: template("queries.successes"),
  /** p99 latency in milliseconds (optional; shown, not judged; may use [{window}]). */
  p99: template("queries.p99", false).optional(),
  /**
   * The latency histogram's raw cumulative `_bucket` series of one version, in milliseconds, every `le`
   * (the bot picks the bucket at `latency.thresholdMs` and `+Inf` itself), e.g.
   * response_latency_ms_bucket{deployment="{version}"}. Needed for the latency gate with custom queries.
   */
  latencyBuckets: template("queries.latencyBuckets").optional(),
});

/**
 * Bucket boundaries (ms) of the presets' latency histograms, where the mesh documents them: linkerd2-proxy's
 * response_latency_ms and Istio's default istio_request_duration_milliseconds. NGINX Service Mesh does not
 * document its boundaries: its threshold is checked against the `le` labels Prometheus returns, at each reading.
 */
export const PRESET_LATENCY_BUCKETS_MS: Record<"linkerd2" | "istio", readonly number[]> = {
  linkerd2: [1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000],
  istio: [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000],
};

/**
 * The latency gate: a request slower than `thresholdMs` is "slow", and the canary's share of slow requests is
 * judged against stable's by the same anytime-valid ratio test as errors (verdict.ts). Counts come from the
 * histogram bucket at exactly `thresholdMs` (no interpolation: a threshold between boundaries is refused).
 */
export const LatencyGateSchema = z.strictObject({
  thresholdMs: z.number().positive(),
  /** Canary requests in the histogram before the gate may call the canary slower: a guard against a few slow first requests (cold caches). */
  minRequests: z.number().int().min(1).default(100),
});

export const MetricsSettingsSchema = z
  .strictObject({
    /** `none` turns snapshots off for this target (the stage message then shows no numbers). */
    source: z.enum(["prometheus", "linkerd1", "none"]).default("prometheus"),
    /** Prometheus base URL; falls back to the bot-wide PROMETHEUS_URL. */
    prometheusUrl: credentialFreeUrl("give a bearer token with `prometheusBearerTokenFile` (a file the bot reads before each query)").optional(),
    /**
     * A file holding a bearer token for this target's Prometheus (sent as `Authorization: Bearer`), read before
     * each query so a rotated token is picked up; e.g. a mounted Secret. Without it, PROMETHEUS_BEARER_TOKEN(_FILE)
     * applies when the target uses the bot-wide PROMETHEUS_URL.
     */
    prometheusBearerTokenFile: z.string().min(1).optional(),
    /** Ready-made queries for a mesh's proxy metrics. */
    preset: z.enum(["linkerd2", "nginx", "istio"]).optional(),
    /** Custom query templates, instead of a preset. */
    queries: PrometheusQueriesSchema.optional(),
    /** Linkerd 1 admin endpoint, e.g. http://l5d.linkerd:9990 (metrics.json is read from it). */
    linkerd1AdminUrl: credentialFreeUrl(
      "Linkerd's admin endpoint takes no credentials; keep it reachable only inside the cluster (docs/security.md)",
    ).optional(),
    /** Linkerd 1 router label whose clients carry the traffic (linkerd's default label is the protocol). */
    linkerd1Router: z
      .string()
      .min(1)
      .regex(/^[^\s/]+$/, "must be a router label without '/' or spaces")
      .default("http"),
    /** Bound client id of one version, without the leading '/'; placeholders as above. */
    linkerd1ClientId: z
      .string()
      .min(1)
      .refine((s) => !s.startsWith("/"), "drop the leading '/': metrics.json keys omit it")
      .refine((s) => s.includes("{version}") || s.includes("{backend}"), "must contain {version}")
      .refine((s) => unknownPlaceholders(s).length === 0, "uses an unknown placeholder")
      .default("#/io.l5d.k8s/{namespace}/http/{version}"),
    /** The window of the p99 shown beside the counts (a Prometheus rate needs two scrapes in it). */
    windowSeconds: z.number().int().min(5).max(3600).default(60),
    /** How often the bot reads the counters: every reading is folded into the evidence, tiling time exactly. */
    refreshSeconds: z.number().int().min(5).max(3600).default(30),
    /**
     * How often Prometheus scrapes the proxies (its `scrape_interval`): a reading sooner than a scrape has
     * nothing new. 15 s, a common setting (Prometheus' own default is 60 s: say so here if yours is).
     * For Linkerd 1 the admin endpoint is read directly: 1.
     */
    scrapeIntervalSeconds: z.number().int().min(1).max(600).optional(),
    /**
     * How far behind now the counters are read, so that every scrape of the moment read has landed
     * (remote write, federation, a slow scrape). 0 for a Prometheus scraping the proxies itself.
     */
    lagSeconds: z.number().int().min(0).max(600).default(0),
    /**
     * Floor for the canary's success rate: below it (with `confidence`) the canary is worse whatever
     * stable does; and the canary is only called healthy once it is confidently above it.
     * 0 turns the floor off. 0.95: far below a normal service, so it catches a broken canary without
     * false alarms on a service that lives at 98-99%; the comparison with stable catches subtler regressions.
     */
    minSuccessRate: z.number().min(0).lt(1).default(0.95),
    /** Canary requests needed before any verdict: fewer and the message says how many more are needed. */
    minRequests: z.number().int().min(1).default(50),
    /**
     * Confidence of every claim (worse than stable, below or above the floor, healthy). The tests are
     * anytime-valid: the chance that a canary failing no more than stable is ever called worse, however often
     * the bot looks over the whole rollout, is at most 1 - confidence.
     */
    confidence: z.number().min(0.5).max(0.9999).default(0.99),
    /**
     * The regression the evidence must be able to catch before a step is taken: a canary failing
     * `maxErrorRatio` times as often as stable and at least `maxErrorIncrease` more (2 and 0.01: twice the
     * errors and one more failed request in a hundred). A step is taken once a canary that bad would have been
     * called worse with probability `power`, and nothing says this one is. See docs/automatic-mode.md for why these.
     */
    maxErrorRatio: z
      .number()
      .gt(1, "maxErrorRatio must be above 1 (2 means: be able to catch a canary failing twice as often as stable)")
      .max(50, "maxErrorRatio must be at most 50")
      .default(2),
    maxErrorIncrease: z
      .number()
      .gt(0, "maxErrorIncrease must be above 0 (0.01 is one point of success rate)")
      .lt(1, "maxErrorIncrease must be below 1")
      .default(0.01),
    /**
     * Chance that a regression of that size would have been caught by the time a step is taken. 0.5: more
     * likely than not; the canary stays watched at every reading after the step, and at 20 req/s to the canary
     * 2-minute steps are then taken on time (0.8 needs about 60% more traffic per step).
     */
    power: z.number().min(0.5).max(0.99).default(0.5),
    /**
     * Sticky routes (session affinity, a few clients with their own error rates) break the per-request
     * assumption of the ratio test: `session` judges them by the floor alone (no ratio aborts), which is honest
     * for such routes; `request` (the default) assumes each request is routed on its own.
     */
    routing: z.enum(["request", "session"]).default("request"),
    /** The latency gate (off unless given): e.g. `latency: { thresholdMs: 500 }`. */
    latency: LatencyGateSchema.optional(),
  })
  .superRefine((m, ctx) => {
    if (m.source === "prometheus") {
      if (!m.preset && !m.queries) {
        ctx.addIssue({
          code: "custom",
          path: ["preset"],
          message: "prometheus metrics need a `preset` (linkerd2, nginx, istio) or custom `queries` (requests, successes)",
        });
      }
      if (m.preset && m.queries) {
        ctx.addIssue({ code: "custom", path: ["queries"], message: "give either `preset` or `queries`, not both" });
      }
    }
    const scrape = scrapeSeconds(m);
    if (m.source !== "none" && m.refreshSeconds < scrape) {
      ctx.addIssue({
        code: "custom",
        path: ["refreshSeconds"],
        message: `refreshSeconds ${m.refreshSeconds} is shorter than a scrape (scrapeIntervalSeconds ${scrape}): a reading would find nothing new; read every ${scrape} s or more, or declare the real scrapeIntervalSeconds`,
      });
    }
    if (m.source === "prometheus" && m.windowSeconds < 2 * scrape) {
      ctx.addIssue({
        code: "custom",
        path: ["windowSeconds"],
        message: `windowSeconds ${m.windowSeconds} holds fewer than two scrapes (scrapeIntervalSeconds ${scrape}): Prometheus would answer nothing for the p99; use ${2 * scrape} or more`,
      });
    }
    if (m.latency) latencyIssues(m, m.latency.thresholdMs).forEach((message) => ctx.addIssue({ code: "custom", path: ["latency", "thresholdMs"], message }));
    if (m.source === "linkerd1" && !m.linkerd1AdminUrl) {
      ctx.addIssue({
        code: "custom",
        path: ["linkerd1AdminUrl"],
        message: "linkerd1 metrics need `linkerd1AdminUrl` (the admin port, e.g. http://l5d.linkerd:9990)",
      });
    }
  });

export type MetricsSettings = z.infer<typeof MetricsSettingsSchema>;

/** Why this source cannot run the latency gate at this threshold (empty when it can). */
function latencyIssues(
  m: { source: string; preset?: "linkerd2" | "nginx" | "istio" | undefined; queries?: PrometheusQueries | undefined },
  thresholdMs: number,
): string[] {
  if (m.source === "linkerd1") {
    return [
      "the latency gate needs counts of requests over the threshold, and Linkerd 1's admin metrics.json gives request_latency_ms only as percentiles (p50 to p9999, min, max, avg) over its last minute, with no bucket counts; drop `latency` for this target, or read Linkerd 1's latencies through Prometheus with custom `queries.latencyBuckets`",
    ];
  }
  if (m.source !== "prometheus") return [];
  if (m.queries && !m.queries.latencyBuckets) {
    return ["the latency gate with custom queries needs `queries.latencyBuckets` (the raw _bucket series of one version, in ms)"];
  }
  if (m.preset === "linkerd2" || m.preset === "istio") {
    const bounds = PRESET_LATENCY_BUCKETS_MS[m.preset];
    if (!bounds.some((b) => sameBoundary(b, thresholdMs))) {
      const below = [...bounds].reverse().find((b) => b < thresholdMs);
      const above = bounds.find((b) => b > thresholdMs);
      const near = [below, above].filter((b) => b !== undefined).join(" or ");
      return [
        `thresholdMs ${thresholdMs} is not a bucket boundary of the ${m.preset} latency histogram, so slow requests could not be counted exactly; use ${near} (boundaries: ${bounds.join(", ")})`,
      ];
    }
  }
  return [];
}

/** A bucket's `le` equals the threshold (floats written as text: 500, 500.0, 5e2). */
export function sameBoundary(le: number, thresholdMs: number): boolean {
  return Math.abs(le - thresholdMs) <= 1e-9 * Math.max(1, thresholdMs);
}

/** Prometheus' scrape interval as declared (15 s unless said), or 1 s for a Linkerd 1 admin read directly. */
export function scrapeSeconds(m: Pick<MetricsSettings, "source" | "scrapeIntervalSeconds">): number {
  return m.scrapeIntervalSeconds ?? (m.source === "linkerd1" ? 1 : 15);
}

/**
 * The shortest time after a weight change before a reading can count: the write is read back, a sample is
 * taken after it (up to a scrape and the lag later), and the next reading finds a newer one. Evidence from
 * earlier stages carries over, but an automatic interval shorter than this leaves every stage without any of
 * its own: refused at start.
 */
export function minEvidenceSeconds(m: Pick<MetricsSettings, "source" | "scrapeIntervalSeconds" | "lagSeconds" | "refreshSeconds">): number {
  const scrape = scrapeSeconds(m);
  return m.lagSeconds + scrape + Math.max(scrape, m.refreshSeconds);
}

/** Refuse automatic steps every `intervalMs` when no stage could rest on a reading of its own; undefined when fine. */
export function autoTooFast(
  target: string,
  m: MetricsSettings | undefined,
  intervalMs: number,
):
  | { code: "auto-too-fast"; target: string; intervalMs: number; minSeconds: number; refreshSeconds: number; scrapeSeconds: number; lagSeconds: number }
  | undefined {
  if (!m || m.source === "none") return undefined;
  const minSeconds = minEvidenceSeconds(m);
  if (intervalMs >= minSeconds * 1000) return undefined;
  return { code: "auto-too-fast", target, intervalMs, minSeconds, refreshSeconds: m.refreshSeconds, scrapeSeconds: scrapeSeconds(m), lagSeconds: m.lagSeconds };
}

export type MetricsSettingsInput = z.input<typeof MetricsSettingsSchema>;
export type PrometheusQueries = z.infer<typeof PrometheusQueriesSchema>;
/** What the verdict needs; the rest is for the sources. */
export type VerdictSettings = Pick<MetricsSettings, "minSuccessRate" | "minRequests" | "confidence" | "maxErrorRatio" | "maxErrorIncrease"> &
  Partial<Pick<MetricsSettings, "power" | "routing" | "latency">>;

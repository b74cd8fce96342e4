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
 *   {window}     the window as a PromQL duration, e.g. `60s` (write `[{window}]`)
 * Label values are inserted as they are: they are DNS-1123 names, which need no escaping.
 */

export const METRICS_PLACEHOLDERS = ["namespace", "service", "version", "backend", "window"] as const;

/** Placeholders found in a template that are not ones we fill in (a typo would reach Prometheus as text). */
export function unknownPlaceholders(template: string): string[] {
  const known = new Set<string>(METRICS_PLACEHOLDERS);
  return [...template.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!).filter((name) => !known.has(name));
}

const template = (what: string) =>
  z
    .string()
    .min(1)
    .superRefine((t, ctx) => {
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
  /** Count of requests to one version over the window, e.g. sum(increase(...[{window}])). */
  requests: template("queries.requests"),
  /** Count of successful requests to one version over the window. */
  successes: template("queries.successes"),
  /** p99 latency in milliseconds (optional; shown, not judged). */
  p99: template("queries.p99").optional(),
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
      "Linkerd's admin endpoint takes no credentials; keep it reachable only inside the cluster (README: Security)",
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
    /** Requests are counted over this many seconds before now; also the shortest interval the verdict folds in. */
    windowSeconds: z.number().int().min(5).max(3600).default(60),
    /** How often the stage message's snapshot is refreshed. */
    refreshSeconds: z.number().int().min(5).max(3600).default(30),
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
     * Tolerance for "healthy": the canary is healthy once the evidence rules out that its error rate is more
     * than `maxErrorRatio` times stable's, or (for services with too few errors to measure a ratio) that it
     * exceeds stable's by more than `maxErrorIncrease` (0.002 = 0.2 points of success rate).
     */
    maxErrorRatio: z
      .number()
      .gt(1, "maxErrorRatio must be above 1 (1.5 tolerates half as many errors again as stable)")
      .max(50, "maxErrorRatio must be at most 50")
      .default(1.5),
    maxErrorIncrease: z
      .number()
      .gt(0, "maxErrorIncrease must be above 0 (0.002 is 0.2 points of success rate)")
      .lt(1, "maxErrorIncrease must be below 1")
      .default(0.002),
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
    if (m.source === "linkerd1" && !m.linkerd1AdminUrl) {
      ctx.addIssue({
        code: "custom",
        path: ["linkerd1AdminUrl"],
        message: "linkerd1 metrics need `linkerd1AdminUrl` (the admin port, e.g. http://l5d.linkerd:9990)",
      });
    }
  });

export type MetricsSettings = z.infer<typeof MetricsSettingsSchema>;
export type MetricsSettingsInput = z.input<typeof MetricsSettingsSchema>;
export type PrometheusQueries = z.infer<typeof PrometheusQueriesSchema>;
/** What the verdict needs; the rest is for the sources. */
export type VerdictSettings = Pick<MetricsSettings, "minSuccessRate" | "minRequests" | "confidence" | "maxErrorRatio" | "maxErrorIncrease">;

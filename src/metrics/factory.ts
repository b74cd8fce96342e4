import type { MetricsSettings } from "../engine/metrics-settings.ts";
import { Linkerd1AdminSource } from "./linkerd1.ts";
import { PRESETS, PrometheusSource } from "./prometheus.ts";
import { MetricsError, type SuccessRateSource } from "./source.ts";
import { readFile } from "node:fs/promises";

export type MetricsDeps = {
  /** Bot-wide Prometheus (PROMETHEUS_URL), used when a target does not name its own. */
  defaultPrometheusUrl?: string;
  /** The bearer token for the bot-wide Prometheus (PROMETHEUS_BEARER_TOKEN, or read from PROMETHEUS_BEARER_TOKEN_FILE). */
  defaultPrometheusToken?: { value: string } | { file: string };
  timeoutMs?: number;
};

/**
 * The source a target's `metrics:` settings describe, or undefined when the target has none
 * (no block, or `source: none`): the stage message then carries no snapshot.
 * Throws for settings that cannot work (Prometheus with no URL anywhere), so it fails at startup.
 */
export function createSuccessRateSource(settings: MetricsSettings | undefined, deps: MetricsDeps): SuccessRateSource | undefined {
  if (!settings || settings.source === "none") return undefined;
  const timeout = deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {};
  switch (settings.source) {
    case "prometheus": {
      const url = settings.prometheusUrl ?? deps.defaultPrometheusUrl;
      if (!url) throw new Error("metrics source is prometheus but no URL is set: give `metrics.prometheusUrl` or PROMETHEUS_URL");
      const queries = settings.queries ?? (settings.preset ? PRESETS[settings.preset] : undefined);
      // The settings schema already insists on one of them; this keeps a hand-built object honest.
      if (!queries) throw new Error("prometheus metrics need a `preset` (linkerd2, nginx, istio) or custom `queries`");
      // A target's own Prometheus gets only its own token: the bot-wide one never goes to another server.
      const token = settings.prometheusUrl
        ? settings.prometheusBearerTokenFile
          ? { file: settings.prometheusBearerTokenFile }
          : undefined
        : deps.defaultPrometheusToken;
      return new PrometheusSource({
        url,
        queries,
        lagMs: settings.lagSeconds * 1000,
        ...(settings.latency ? { latencyThresholdMs: settings.latency.thresholdMs } : {}),
        windowSeconds: settings.windowSeconds,
        ...timeout,
        ...(token ? { bearerToken: bearerToken(token) } : {}),
      });
    }
    case "linkerd1": {
      if (!settings.linkerd1AdminUrl) throw new Error("linkerd1 metrics need `linkerd1AdminUrl`");
      return new Linkerd1AdminSource({
        adminUrl: settings.linkerd1AdminUrl,
        router: settings.linkerd1Router,
        clientId: settings.linkerd1ClientId,
        ...timeout,
      });
    }
  }
}

/** The token as given, or read from its file before each query (a mounted Secret is rotated in place). */
function bearerToken(from: { value: string } | { file: string }): () => Promise<string> {
  if ("value" in from) return async () => from.value;
  return async () => {
    try {
      return (await readFile(from.file, "utf8")).trim();
    } catch (e) {
      throw new MetricsError(`cannot read the Prometheus bearer token file ${from.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        file: from.file,
      });
    }
  };
}

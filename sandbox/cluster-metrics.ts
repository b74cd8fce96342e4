import type { Logger } from "pino";
import { startLinkerd1Admin } from "./peers/linkerd1-admin.ts";
import { startMeshMetrics } from "./peers/mesh-metrics.ts";
import { startPrometheus, type PrometheusServer } from "./peers/prometheus.ts";
import type { MetricsChoice } from "./seed.ts";
import type { Sinks } from "./traffic.ts";

/**
 * One cluster's metrics, as its mesh would have them: an exporter of the simulated requests, a Linkerd 1 admin
 * endpoint and, given a Prometheus binary, a Prometheus of the cluster's own scraping the exporter. Each
 * cluster gets its own, so the same Deployment name in two clusters is two sets of series, as it is for real.
 */
export type ClusterMetrics = {
  /** Where the traffic simulator reports this cluster's requests. */
  sinks: Sinks;
  /** How the bot reads this cluster's success rates. */
  metrics: MetricsChoice;
  /** The same, in words for the page: "prometheus (url)" or "linkerd1 admin (url)". */
  source: string;
  close(): Promise<void>;
};

export async function startClusterMetrics(opts: { prometheusBinary?: string; log: Logger; cluster?: string }): Promise<ClusterMetrics> {
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const mesh = await startMeshMetrics();
    closers.push(() => mesh.stop());
    const linkerd1 = await startLinkerd1Admin();
    closers.push(() => linkerd1.stop());
    let prometheus: PrometheusServer | undefined;
    if (opts.prometheusBinary) {
      try {
        prometheus = await startPrometheus({ scrapeTargets: [mesh.hostPort], scrapeIntervalSeconds: 1, binary: opts.prometheusBinary });
        closers.push(() => prometheus!.stop());
      } catch (err) {
        opts.log.warn(
          { err: (err as Error).message, ...(opts.cluster ? { cluster: opts.cluster } : {}) },
          "prometheus did not start; the sandbox reads Linkerd 1's admin endpoint instead",
        );
      }
    }
    return {
      sinks: { mesh, linkerd1 },
      metrics: prometheus ? { kind: "prometheus", url: prometheus.url } : { kind: "linkerd1", adminUrl: linkerd1.url },
      source: prometheus ? `prometheus (${prometheus.url})` : `linkerd1 admin (${linkerd1.url})`,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

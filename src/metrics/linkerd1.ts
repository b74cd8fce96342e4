import { z } from "zod";
import { redactUrl } from "../engine/urls.ts";
import { kubeNamespace, type Target } from "../engine/target.ts";
import type { RoutePair } from "../engine/route.ts";
import { networkReason } from "./prometheus.ts";
import { MetricsError, type CounterReading, type SeriesCounters, type SuccessRateSource } from "./source.ts";

/**
 * Success rates from a Linkerd 1 router's admin endpoint (`/admin/metrics.json`, PROTOCOLS.md §3). Its
 * counters are cumulative since the process started: each reading hands them over as they are (one series per
 * matching client id, sampled now), and the evidence takes the differences against the values it kept from
 * the reading before (engine/evidence.ts), never "the value a window ago". A counter that went down (linkerd
 * restarted) is a reset there: that series' difference is dropped.
 */

export type Linkerd1AdminSourceOptions = {
  /** Admin base URL, e.g. http://l5d.linkerd:9990 */
  adminUrl: string;
  /** Router label, the `<router>` in rt/<router>/client/... */
  router: string;
  /** Client id template without the leading '/', e.g. `#/io.l5d.k8s/{namespace}/http/{version}`. */
  clientId: string;
  timeoutMs?: number;
};

export type Counters = { success: number; failures: number };

// metrics.json is a flat object of numbers; histograms arrive flattened (`.../latency_ms.p99`).
const metricsJsonSchema = z.record(z.string(), z.unknown());

export class Linkerd1AdminSource implements SuccessRateSource {
  readonly kind = "linkerd1";
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly opts: Linkerd1AdminSourceOptions) {
    this.base = opts.adminUrl.replace(/\/+$/, "");
    this.timeoutMs = opts.timeoutMs ?? 5_000;
  }

  clientIdFor(target: Target, version: string): string {
    return this.opts.clientId
      .replaceAll("{namespace}", kubeNamespace(target))
      .replaceAll("{service}", target.name)
      .replaceAll("{version}", version)
      .replaceAll("{backend}", version);
  }

  async counters(target: Target, pair: RoutePair, now: number): Promise<CounterReading> {
    const metrics = await this.fetchMetrics();
    // Read now: the admin answers its live counters, there is no scrape to wait for.
    const at = Math.max(now, Date.now());
    const side = (version: string): SeriesCounters => {
      const out: SeriesCounters = {};
      for (const [id, c] of clientCounters(metrics, this.opts.router, this.clientIdFor(target, version))) {
        out[id] = { requests: c.success + c.failures, successes: c.success, at };
      }
      return out;
    };
    const p99 = (version: string) => p99Of(metrics, this.opts.router, this.clientIdFor(target, version));
    const sp = p99(pair.stable);
    const cp = p99(pair.canary);
    return {
      at,
      stable: side(pair.stable),
      canary: side(pair.canary),
      ...(sp !== undefined || cp !== undefined ? { p99Ms: { ...(sp !== undefined ? { stable: sp } : {}), ...(cp !== undefined ? { canary: cp } : {}) } } : {}),
    };
  }

  private async fetchMetrics(): Promise<Record<string, unknown>> {
    const shown = redactUrl(`${this.base}/admin/metrics.json`);
    const where = `Linkerd admin at ${redactUrl(this.base)}`;
    let res: Response;
    try {
      res = await fetch(`${this.base}/admin/metrics.json`, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new MetricsError(`${where} did not answer (${networkReason(err, this.timeoutMs)})`, { url: shown, cause: err });
    }
    const text = await res.text().catch(() => "");
    if (!res.ok)
      throw new MetricsError(`${where} answered HTTP ${res.status} for /admin/metrics.json`, { url: shown, status: res.status, body: text.slice(0, 500) });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new MetricsError(`${where} sent /admin/metrics.json that is not JSON`, { url: shown, body: text.slice(0, 500) });
    }
    const parsed = metricsJsonSchema.safeParse(json);
    if (!parsed.success) throw new MetricsError(`${where} sent /admin/metrics.json that is not a flat object`, { url: shown });
    return parsed.data;
  }
}

/**
 * The success/failures counters of one client in metrics.json. Keys keep the '/' of the id, so
 * they are matched whole, never split. When the exact id is absent, clients whose id ends in
 * `/<id>` are summed: transformers (io.l5d.k8s.daemonset, localnode) prefix the bound id with
 * `%/<transformer>/...`, and each such client carries part of the version's traffic.
 */
export function readCounters(metrics: Record<string, unknown>, router: string, clientId: string): Counters | undefined {
  const all = clientCounters(metrics, router, clientId);
  if (all.size === 0) return undefined;
  const sum: Counters = { success: 0, failures: 0 };
  for (const c of all.values()) {
    sum.success += c.success;
    sum.failures += c.failures;
  }
  return sum;
}

/** Every client carrying the version's traffic, by its full id: the exact id, else the transformer-prefixed ones. */
export function clientCounters(metrics: Record<string, unknown>, router: string, clientId: string): Map<string, Counters> {
  const prefix = `rt/${router}/client/`;
  const exact = (what: string) => metrics[`${prefix}${clientId}/${what}`];
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
  const s = num(exact("success"));
  const f = num(exact("failures"));
  if (s !== undefined || f !== undefined) return new Map([[clientId, { success: s ?? 0, failures: f ?? 0 }]]);

  const found = new Map<string, Counters>();
  for (const [k, v] of Object.entries(metrics)) {
    if (!k.startsWith(prefix)) continue;
    const what = k.endsWith("/success") ? "success" : k.endsWith("/failures") ? "failures" : undefined;
    const n = num(v);
    if (!what || n === undefined) continue;
    const id = k.slice(prefix.length, k.length - what.length - 1);
    if (!id.endsWith(`/${clientId}`)) continue;
    const c = found.get(id) ?? { success: 0, failures: 0 };
    c[what] += n;
    found.set(id, c);
  }
  return found;
}

/** The client's p99 latency (ms) as linkerd's own histogram summary reports it, for the message. */
function p99Of(metrics: Record<string, unknown>, router: string, clientId: string): number | undefined {
  const v = metrics[`rt/${router}/client/${clientId}/request_latency_ms.p99`];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

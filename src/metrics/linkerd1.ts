import type { RedisClient } from "../store/redis-connection.ts";
import { z } from "zod";
import { redactUrl } from "../engine/urls.ts";
import { kubeNamespace, type Target } from "../engine/target.ts";
import type { RoutePair } from "../routers/router.ts";
import { networkReason } from "./prometheus.ts";
import { MetricsError, type Sample, type Snapshot, type SuccessRateSource } from "./source.ts";

/**
 * Success rates from a Linkerd 1 router's admin endpoint (`/admin/metrics.json`, PROTOCOLS.md §3).
 * Its counters are cumulative since the process started, so a rate needs two readings. The
 * readings live in Redis, not in this process: whichever bot replica polls next computes the
 * delta, and a restart loses nothing.
 *
 * Each poll appends a reading (time, success, failures) to a sorted set per (target, version). The
 * delta is taken against the newest reading at least `windowSeconds` old, or the oldest one when
 * the history is shorter than the window (so the second poll already gives a rate). Appending
 * instead of overwriting one "previous" value means two replicas polling at once cannot shorten
 * each other's window. A counter going backwards (linkerd restarted) drops the history.
 */

export type Linkerd1AdminSourceOptions = {
  /** Admin base URL, e.g. http://l5d.linkerd:9990 */
  adminUrl: string;
  /** Router label, the `<router>` in rt/<router>/client/... */
  router: string;
  /** Client id template without the leading '/', e.g. `#/io.l5d.k8s/{namespace}/http/{version}`. */
  clientId: string;
  redis: RedisClient;
  /** Prefix for this source's Redis keys (tests pass a random one). */
  keyPrefix: string;
  timeoutMs?: number;
};

export type Counters = { success: number; failures: number };
type Reading = Counters & { at: number };

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

  async snapshot(target: Target, pair: RoutePair, windowSeconds: number): Promise<Snapshot> {
    const metrics = await this.fetchMetrics();
    const at = Date.now();
    const [stable, canary] = await Promise.all([
      this.advance(target, pair.stable, metrics, at, windowSeconds),
      this.advance(target, pair.canary, metrics, at, windowSeconds),
    ]);
    // Report the span actually covered: on the first polls it is shorter than asked for (0 when
    // there is no baseline yet).
    const covered = Math.max(stable.coveredSeconds, canary.coveredSeconds);
    return { stable: stable.sample, canary: canary.sample, windowSeconds: covered, at };
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

  private key(target: Target, version: string): string {
    return `${this.opts.keyPrefix}:linkerd1:${kubeNamespace(target)}/${target.name}:${version}`;
  }

  /** Record this poll's reading for one version and return the delta against the baseline. */
  private async advance(
    target: Target,
    version: string,
    metrics: Record<string, unknown>,
    at: number,
    windowSeconds: number,
  ): Promise<{ sample: Sample; coveredSeconds: number }> {
    const now = readCounters(metrics, this.opts.router, this.clientIdFor(target, version));
    if (!now) return { sample: { noTraffic: true }, coveredSeconds: 0 }; // the client does not exist (yet)
    const key = this.key(target, version);
    const redis = this.opts.redis;
    const cutoff = at - windowSeconds * 1000;
    // Newest reading at least a window old; else the oldest there is.
    let [raw] = await redis.zrevrangebyscore(key, cutoff, "-inf", "LIMIT", 0, 1);
    if (raw === undefined) [raw] = await redis.zrange(key, 0, 0);
    const before = raw === undefined ? undefined : parseReading(raw);

    const reset = before !== undefined && (now.success < before.success || now.failures < before.failures);
    // Keep what the longest window we are asked for needs, plus slack; the TTL forgets idle targets.
    const keepMs = Math.max(windowSeconds * 3, 600) * 1000;
    const tx = redis.multi();
    if (reset) tx.del(key);
    tx.zadd(key, at, JSON.stringify({ at, success: now.success, failures: now.failures } satisfies Reading));
    tx.zremrangebyscore(key, "-inf", at - keepMs);
    tx.pexpire(key, keepMs * 2);
    await tx.exec();

    if (!before || reset) return { sample: { noTraffic: true }, coveredSeconds: 0 };
    const success = now.success - before.success;
    const failures = now.failures - before.failures;
    const coveredSeconds = Math.max(0, Math.round((at - before.at) / 100) / 10);
    if (success + failures <= 0) return { sample: { noTraffic: true }, coveredSeconds };
    return { sample: { requests: success + failures, successes: success }, coveredSeconds };
  }
}

function parseReading(raw: string): Reading | undefined {
  try {
    const r = JSON.parse(raw) as Partial<Reading>;
    if (typeof r.at === "number" && typeof r.success === "number" && typeof r.failures === "number") return r as Reading;
  } catch {
    /* a reading we cannot read is no baseline */
  }
  return undefined;
}

/**
 * The success/failures counters of one client in metrics.json. Keys keep the '/' of the id, so
 * they are matched whole, never split. When the exact id is absent, clients whose id ends in
 * `/<id>` are summed: transformers (io.l5d.k8s.daemonset, localnode) prefix the bound id with
 * `%/<transformer>/...`, and each such client carries part of the version's traffic.
 */
export function readCounters(metrics: Record<string, unknown>, router: string, clientId: string): Counters | undefined {
  const prefix = `rt/${router}/client/`;
  const exact = (what: string) => metrics[`${prefix}${clientId}/${what}`];
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
  const s = num(exact("success"));
  const f = num(exact("failures"));
  if (s !== undefined || f !== undefined) return { success: s ?? 0, failures: f ?? 0 };

  let found = false;
  const sum: Counters = { success: 0, failures: 0 };
  for (const [k, v] of Object.entries(metrics)) {
    if (!k.startsWith(prefix)) continue;
    const what = k.endsWith("/success") ? "success" : k.endsWith("/failures") ? "failures" : undefined;
    const n = num(v);
    if (!what || n === undefined) continue;
    const id = k.slice(prefix.length, k.length - what.length - 1);
    if (!id.endsWith(`/${clientId}`)) continue;
    found = true;
    sum[what] += n;
  }
  return found ? sum : undefined;
}

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A stand-in for a mesh's proxies as Prometheus sees them after Kubernetes relabelling: one
 * `/metrics` page (Prometheus text format 0.0.4) with the series the presets query, for any
 * workloads the test sets traffic on.
 *
 * Counters are a pure function of elapsed time (rps x seconds, split by the error rates), folded
 * at every setTraffic, so each scrape sees cumulative integers and the expected numbers over a
 * window are simply rate x window. Three meshes are rendered side by side, each with a decoy
 * that a wrongly scoped query would pick up:
 *  - Linkerd2: `response_total` / `response_latency_ms_bucket`, direction="inbound" on the
 *    workload's pods; decoy: its direction="outbound" calls to a failing dependency `db`.
 *  - NGINX Service Mesh: `nginxplus_upstream_server_responses{code="2xx"...}` and
 *    `..._response_latency_ms_bucket` reported by the caller (`frontend`) with dst_namespace /
 *    dst_deployment; decoy: the workload's own outgoing calls to `db` (deployment=<workload>, all 5xx).
 *  - Istio: `istio_requests_total` / `istio_request_duration_milliseconds_bucket` with
 *    reporter="destination"; decoy: the same requests as reporter="source" counted twice.
 */

export type Traffic = {
  namespace?: string; // default "default"
  deployment: string;
  rps: number;
  /** Fraction of requests answered 5xx (failures). */
  errorRate: number;
  /** Fraction answered 4xx: the client's fault, success for every preset. */
  clientErrorRate?: number;
  latencyMs?: number; // default 10
  /** A slower tail: these fractions of the requests take these latencies (ms); the rest take `latencyMs`. */
  latencyTail?: Array<{ ms: number; fraction: number }>;
  /**
   * A uniform [0, 1) generator (seeded, for replay): each request then fails independently with probability
   * `errorRate`, as real traffic does, instead of exactly `errorRate` of them. For tests of the verdict's
   * error guarantees, which are about chance.
   */
  random?: () => number;
};

export type MeshMetrics = {
  /** Base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  /** host:port, for a scrape config. */
  hostPort: string;
  setTraffic(t: Traffic): void;
  /** Cumulative counts so far (what a perfect window over all time would show). */
  totals(namespace: string, deployment: string): { requests: number; failures: number; clientErrors: number };
  stop(): Promise<void>;
};

// Linkerd2's proxy buckets (ms); used for all three meshes, which is enough for a p99.
export const LATENCY_BUCKETS_MS = [1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000];
/** Rate of the decoy dependency calls, all failing. */
const DECOY_RPS = 50;

type Workload = {
  namespace: string;
  deployment: string;
  traffic: Required<Omit<Traffic, "namespace" | "deployment" | "random">>;
  since: number; // ms, when `traffic` took effect
  /** Fractional counts accumulated before `since`. */
  base: { requests: number; failures: number; clientErrors: number; decoy: number };
  /** Per latency (ms) -> requests observed at that latency before `since`. */
  latencies: Map<number, number>;
  random?: () => number;
  /** With `random`: whole requests drawn so far, and how many of them failed. */
  drawn: { requests: number; failures: number };
};

/** `n` more requests: the tail's fractions at their latencies, the rest at `ms`. */
function addLatencies(before: Map<number, number>, ms: number, tail: ReadonlyArray<{ ms: number; fraction: number }>, n: number): Map<number, number> {
  const out = new Map(before);
  const add = (at: number, k: number) => out.set(at, (out.get(at) ?? 0) + k);
  add(ms, n * (1 - tail.reduce((a, x) => a + x.fraction, 0)));
  for (const x of tail) add(x.ms, n * x.fraction);
  return out;
}

export async function startMeshMetrics(opts: { now?: () => number } = {}): Promise<MeshMetrics> {
  const now = opts.now ?? Date.now;
  const workloads = new Map<string, Workload>();
  const keyOf = (ns: string, d: string) => `${ns}/${d}`;

  const current = (w: Workload, t = now()) => {
    const secs = Math.max(0, (t - w.since) / 1000);
    const n = w.traffic.rps * secs;
    return {
      requests: w.base.requests + n,
      failures: w.random ? draw(w, w.base.requests + n) : w.base.failures + n * w.traffic.errorRate,
      clientErrors: w.base.clientErrors + n * w.traffic.clientErrorRate,
      decoy: w.base.decoy + DECOY_RPS * secs,
      latencies: addLatencies(w.latencies, w.traffic.latencyMs, w.traffic.latencyTail, n),
    };
  };

  /** Cumulative failures with each new whole request failing at random (counters only ever grow). */
  const draw = (w: Workload, requests: number): number => {
    for (const whole = Math.floor(requests); w.drawn.requests < whole; w.drawn.requests++) {
      if (w.random!() < w.traffic.errorRate) w.drawn.failures++;
    }
    return w.drawn.failures;
  };

  const setTraffic = (t: Traffic) => {
    const namespace = t.namespace ?? "default";
    const traffic = {
      rps: t.rps,
      errorRate: t.errorRate,
      clientErrorRate: t.clientErrorRate ?? 0,
      latencyMs: t.latencyMs ?? 10,
      latencyTail: t.latencyTail ?? [],
    };
    if (traffic.errorRate + traffic.clientErrorRate > 1) throw new Error("errorRate + clientErrorRate must be at most 1");
    if (traffic.latencyTail.reduce((a, x) => a + x.fraction, 0) > 1) throw new Error("latencyTail fractions must add up to at most 1");
    const at = now();
    const prev = workloads.get(keyOf(namespace, t.deployment));
    if (!prev) {
      workloads.set(keyOf(namespace, t.deployment), {
        namespace,
        deployment: t.deployment,
        traffic,
        since: at,
        base: { requests: 0, failures: 0, clientErrors: 0, decoy: 0 },
        latencies: new Map(),
        ...(t.random ? { random: t.random } : {}),
        drawn: { requests: 0, failures: 0 },
      });
      return;
    }
    const c = current(prev, at);
    prev.base = { requests: c.requests, failures: c.failures, clientErrors: c.clientErrors, decoy: c.decoy };
    prev.latencies = c.latencies;
    prev.traffic = traffic;
    prev.since = at;
  };

  const render = (): string => {
    const lines: string[] = [];
    const t = now();
    const type = (name: string, kind: "counter" | "histogram") => lines.push(`# TYPE ${name} ${kind}`);
    const all = [...workloads.values()].map((w) => ({ w, c: current(w, t) }));
    const fl = Math.floor;
    const lbl = (o: Record<string, string>) =>
      `{${Object.entries(o)
        .map(([k, v]) => `${k}="${v}"`)
        .join(",")}}`;
    const histogram = (name: string, labels: Record<string, string>, latencies: Map<number, number>) => {
      let count = 0;
      let sum = 0;
      for (const [ms, c] of latencies) {
        count += fl(c);
        sum += fl(c) * ms;
      }
      for (const le of LATENCY_BUCKETS_MS) {
        let inBucket = 0;
        for (const [ms, c] of latencies) if (ms <= le) inBucket += fl(c);
        lines.push(`${name}_bucket${lbl({ ...labels, le: String(le) })} ${inBucket}`);
      }
      lines.push(`${name}_bucket${lbl({ ...labels, le: "+Inf" })} ${count}`);
      lines.push(`${name}_sum${lbl(labels)} ${sum}`);
      lines.push(`${name}_count${lbl(labels)} ${count}`);
    };
    const split = (c: ReturnType<typeof current>) => {
      const failures = fl(c.failures);
      const clientErrors = fl(c.clientErrors);
      return { ok2xx: fl(c.requests) - failures - clientErrors, c4xx: clientErrors, c5xx: failures };
    };

    // Linkerd2
    type("response_total", "counter");
    for (const { w, c } of all) {
      const s = split(c);
      const base = { namespace: w.namespace, deployment: w.deployment, pod: `${w.deployment}-5d8f7c-abcde`, direction: "inbound", tls: "true" };
      // Linkerd creates a series on the first response of its kind: no 5xx yet, no failure series.
      if (s.ok2xx > 0) lines.push(`response_total${lbl({ ...base, status_code: "200", classification: "success" })} ${s.ok2xx}`);
      if (s.c4xx > 0) lines.push(`response_total${lbl({ ...base, status_code: "404", classification: "success" })} ${s.c4xx}`);
      if (s.c5xx > 0) lines.push(`response_total${lbl({ ...base, status_code: "500", classification: "failure" })} ${s.c5xx}`);
      lines.push(
        `response_total${lbl({ ...base, direction: "outbound", dst_namespace: w.namespace, dst_deployment: "db", status_code: "503", classification: "failure" })} ${fl(c.decoy)}`,
      );
    }
    type("response_latency_ms", "histogram");
    for (const { w, c } of all) {
      histogram(
        "response_latency_ms",
        { namespace: w.namespace, deployment: w.deployment, pod: `${w.deployment}-5d8f7c-abcde`, direction: "inbound" },
        c.latencies,
      );
    }

    // NGINX Service Mesh: reported by the caller's sidecar, with destination labels.
    type("nginxplus_upstream_server_responses", "counter");
    for (const { w, c } of all) {
      const s = split(c);
      const caller = {
        namespace: w.namespace,
        deployment: "frontend",
        pod: "frontend-7c9d-xyz12",
        upstream: `${w.deployment}.${w.namespace}.svc.cluster.local:80`,
        server: "10.0.0.12:8080",
        dst_namespace: w.namespace,
        dst_deployment: w.deployment,
        dst_service: w.deployment,
        dst_pod: `${w.deployment}-5d8f7c-abcde`,
      };
      // NGINX Plus keeps every code class from the start.
      lines.push(`nginxplus_upstream_server_responses${lbl({ ...caller, code: "1xx" })} 0`);
      lines.push(`nginxplus_upstream_server_responses${lbl({ ...caller, code: "2xx" })} ${s.ok2xx}`);
      lines.push(`nginxplus_upstream_server_responses${lbl({ ...caller, code: "3xx" })} 0`);
      lines.push(`nginxplus_upstream_server_responses${lbl({ ...caller, code: "4xx" })} ${s.c4xx}`);
      lines.push(`nginxplus_upstream_server_responses${lbl({ ...caller, code: "5xx" })} ${s.c5xx}`);
      const own = {
        namespace: w.namespace,
        deployment: w.deployment,
        pod: `${w.deployment}-5d8f7c-abcde`,
        upstream: `db.${w.namespace}.svc.cluster.local:5432`,
        server: "10.0.0.99:5432",
        dst_namespace: w.namespace,
        dst_deployment: "db",
        dst_service: "db",
        dst_pod: "db-0",
      };
      lines.push(`nginxplus_upstream_server_responses${lbl({ ...own, code: "2xx" })} 0`);
      lines.push(`nginxplus_upstream_server_responses${lbl({ ...own, code: "5xx" })} ${fl(c.decoy)}`);
    }
    type("nginxplus_upstream_server_response_latency_ms", "histogram");
    for (const { w, c } of all) {
      histogram(
        "nginxplus_upstream_server_response_latency_ms",
        { namespace: w.namespace, deployment: "frontend", dst_namespace: w.namespace, dst_deployment: w.deployment, code: "200" },
        c.latencies,
      );
    }

    // Istio
    type("istio_requests_total", "counter");
    for (const { w, c } of all) {
      const s = split(c);
      for (const reporter of ["destination", "source"]) {
        const base = {
          reporter,
          source_workload: "frontend",
          source_workload_namespace: w.namespace,
          destination_workload: w.deployment,
          destination_workload_namespace: w.namespace,
          destination_service: `${w.deployment}.${w.namespace}.svc.cluster.local`,
        };
        if (s.ok2xx > 0) lines.push(`istio_requests_total${lbl({ ...base, response_code: "200" })} ${s.ok2xx}`);
        if (s.c4xx > 0) lines.push(`istio_requests_total${lbl({ ...base, response_code: "404" })} ${s.c4xx}`);
        if (s.c5xx > 0) lines.push(`istio_requests_total${lbl({ ...base, response_code: "503" })} ${s.c5xx}`);
      }
    }
    type("istio_request_duration_milliseconds", "histogram");
    for (const { w, c } of all) {
      histogram(
        "istio_request_duration_milliseconds",
        { reporter: "destination", destination_workload: w.deployment, destination_workload_namespace: w.namespace },
        c.latencies,
      );
    }
    return `${lines.join("\n")}\n`;
  };

  const server: Server = createServer((req, res) => {
    if (req.method === "GET" && req.url?.split("?")[0] === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
      res.end(render());
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    setTraffic,
    totals(namespace, deployment) {
      const w = workloads.get(keyOf(namespace, deployment));
      if (!w) return { requests: 0, failures: 0, clientErrors: 0 };
      const c = current(w);
      return { requests: Math.floor(c.requests), failures: Math.floor(c.failures), clientErrors: Math.floor(c.clientErrors) };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

import { describe, expect, it } from "vitest";
import type { Linkerd1Admin } from "../../sandbox/peers/linkerd1-admin.ts";
import type { MeshMetrics, Traffic } from "../../sandbox/peers/mesh-metrics.ts";
import { TrafficSimulator } from "../../sandbox/traffic.ts";

/** Sinks that record what the simulator reports (the real peers are exercised by the sandbox's browser test). */
function sinks() {
  const rates = new Map<string, Traffic>();
  const clients = new Map<string, { success: number; failures?: number }>();
  const mesh = { setTraffic: (t: Traffic) => rates.set(t.deployment, t) } as unknown as MeshMetrics;
  const linkerd1 = { setClient: (_r: string, id: string, c: { success: number; failures?: number }) => clients.set(id, c) } as unknown as Linkerd1Admin;
  return { rates, clients, mesh, linkerd1 };
}

function simulator(shares: () => Map<string, number>) {
  const s = sinks();
  let now = 0;
  const sim = new TrafficSimulator(
    { mesh: s.mesh, linkerd1: s.linkerd1, linkerd1Router: "http", linkerd1ClientId: (ns, v) => `${ns}/${v}`, tickMs: 1000, historyLength: 3, now: () => now },
    [{ name: "svc", namespace: "ns", versions: ["v1", "v2"], canary: "v2", rps: 100, shares }],
  );
  return { ...s, sim, advance: (ms: number) => (now += ms) };
}

describe("the traffic simulator", () => {
  it("splits the requests by the mesh's current weights and counts them where the bot reads them", () => {
    let shares = new Map([
      ["v1", 0.9],
      ["v2", 0.1],
    ]);
    const t = simulator(() => shares);
    t.sim.tick();
    expect(t.rates.get("v1")).toMatchObject({ namespace: "ns", rps: 90, errorRate: 0 });
    expect(t.rates.get("v2")).toMatchObject({ rps: 10, errorRate: 0 });
    t.advance(10_000);
    t.sim.control("svc", { errorRate: 0.2 });
    expect(t.clients.get("ns/v2")).toEqual({ success: 100, failures: 0 });
    shares = new Map([
      ["v1", 0.2],
      ["v2", 0.8],
    ]);
    t.advance(10_000);
    t.sim.tick();
    // 10 s at 80 rps with 20% failing, on top of the first 100 successes.
    expect(t.clients.get("ns/v2")).toEqual({ success: 740, failures: 160 });
    expect(t.clients.get("ns/v1")).toEqual({ success: 1100, failures: 0 });
    const view = t.sim.view("svc")!;
    expect(view.shares).toEqual({ v1: 0.2, v2: 0.8 });
    expect(view.history.v2!.map((s) => s.successRate)).toEqual([1, 0.8, 0.8]);
  });

  it("keeps a bounded history and forgets the canary's faults on reset", () => {
    const t = simulator(() => new Map([["v2", 1]]));
    t.sim.control("svc", { errorRate: 0.5, latencyMs: 900, rps: 40 });
    for (let i = 0; i < 5; i++) t.sim.tick();
    expect(t.sim.view("svc")!.history.v2).toHaveLength(3);
    t.sim.reset();
    expect(t.sim.view("svc")).toMatchObject({ rps: 100, canaryControls: { errorRate: 0, latencyMs: 12 } });
    expect(t.sim.view("svc")!.history.v2).toHaveLength(1);
  });

  it("refuses a bad control with a reason and changes nothing", () => {
    const t = simulator(() => new Map([["v1", 1]]));
    expect(t.sim.control("svc", { errorRate: 1.5, rps: 10 })).toBe("error rate must be a number from 0 to 1");
    expect(t.sim.control("svc", { rps: Number.NaN })).toBe("requests per second must be a number from 0 to 2000");
    expect(t.sim.control("nope", { rps: 10 })).toBe('there is no target "nope"');
    expect(t.sim.view("svc")).toMatchObject({ rps: 100, canaryControls: { errorRate: 0 } });
  });

  it("reports a target in another cluster to that cluster's exporters only", () => {
    const own = sinks();
    const eu = sinks();
    const sim = new TrafficSimulator(
      {
        mesh: own.mesh,
        linkerd1: own.linkerd1,
        linkerd1Router: "http",
        linkerd1ClientId: (ns, v) => `${ns}/${v}`,
        tickMs: 1000,
        historyLength: 3,
        now: () => 0,
      },
      [
        { name: "svc", namespace: "ns", versions: ["v1", "v2"], canary: "v2", rps: 100, shares: () => new Map([["v1", 1]]) },
        { name: "svc@prod-eu", namespace: "ns", versions: ["v1", "v2"], canary: "v2", rps: 50, shares: () => new Map([["v2", 1]]), sinks: eu },
      ],
    );
    sim.tick();
    // The same namespace and Deployment names in both clusters, each cluster's series its own.
    expect(own.rates.get("v1")).toMatchObject({ rps: 100 });
    expect(own.rates.get("v2")).toMatchObject({ rps: 0 });
    expect(eu.rates.get("v2")).toMatchObject({ rps: 50 });
    expect(eu.rates.get("v1")).toMatchObject({ rps: 0 });
    expect(sim.view("svc@prod-eu")!.shares).toEqual({ v1: 0, v2: 1 });
  });
});

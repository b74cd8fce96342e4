/**
 * SmiRouter against the local Kubernetes API peer, through a kubeconfig file and the real client-node,
 * for each mesh's TrafficSplit version. What is asserted is what a person would see in the cluster
 * (the TrafficSplit's weights) and what the bot would report (observe, errors), plus how many writes it took.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { loadKubeConfig } from "../../src/kube/config.ts";
import { SmiRouter } from "../../src/routers/smi.ts";
import { RouterError, type RoutePair } from "../../src/routers/router.ts";
import { TargetSchema, type Target, type TargetInput } from "../../src/engine/target.ts";
import { startKubeApiPeer, type KubeApiPeer, type KubeObject, type SmiFlavour } from "../../sandbox/peers/kube-api.ts";

const pair: RoutePair = { stable: "web-v1", canary: "web-v2" };

/** A namespace of its own per test, so tests sharing a peer never see each other's splits. */
const freshNamespace = () => `t-${randomBytes(3).toString("hex")}`;

function target(namespace: string, extra: Partial<TargetInput> = {}): Target {
  return TargetSchema.parse({ name: "web", namespace, router: "smi", ...extra });
}

function router(peer: KubeApiPeer, timeoutMs?: number): SmiRouter {
  return new SmiRouter({ kubeConfig: loadKubeConfig(peer.kubeconfigPath), timeoutMs });
}

function splitObject(
  apiVersion: string,
  name: string,
  backends: { service: string; weight: number | string }[],
  extra: Record<string, unknown> = {},
): KubeObject {
  return { apiVersion, kind: "TrafficSplit", metadata: { name }, spec: { service: "web", backends, ...extra } };
}

const backendsOf = (obj: KubeObject | undefined) => (obj?.spec as { backends: unknown[] } | undefined)?.backends;

async function rejection(p: Promise<unknown>): Promise<RouterError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RouterError);
  return err as RouterError;
}

const FLAVOURS: { flavour: SmiFlavour; version: string; w: (n: number) => number | string }[] = [
  { flavour: "linkerd", version: "v1alpha1", w: (n) => String(n) },
  { flavour: "nginx", version: "v1alpha3", w: (n) => n },
  { flavour: "sdk", version: "v1alpha4", w: (n) => n },
];

describe.each(FLAVOURS)("SmiRouter on a $flavour cluster (TrafficSplit $version)", ({ flavour, version, w }) => {
  const apiVersion = `split.smi-spec.io/${version}`;
  let peer: KubeApiPeer;
  let ns: string;

  beforeAll(async () => {
    peer = await startKubeApiPeer({ smiFlavour: flavour });
  });
  afterAll(async () => {
    await peer.close();
  });
  beforeEach(() => {
    peer.reset();
    ns = freshNamespace();
  });

  it("creates the missing split at 90/10, then moves it to 20/80 and 0/100 with one write each", async () => {
    const r = router(peer);
    const t = target(ns);
    expect(await r.validate(t, pair)).toBeUndefined();

    const first = await r.apply(t, pair, 10);
    expect(first).toMatchObject({ canaryPercent: 10, raw: `web-v1 ${w(90)} / web-v2 ${w(10)}` });
    const created = peer.get("trafficsplits", ns, "web");
    expect(created?.spec).toEqual({
      service: "web",
      backends: [
        { service: "web-v1", weight: w(90) },
        { service: "web-v2", weight: w(10) },
      ],
    });
    expect(first.version).toBe(created?.metadata?.resourceVersion);
    expect(peer.mutations("trafficsplits", ns, "web").map((m) => m.method)).toEqual(["PATCH"]);

    const second = await r.apply(t, pair, 80, { canaryPercent: 10 });
    expect(second.canaryPercent).toBe(80);
    expect(backendsOf(peer.get("trafficsplits", ns, "web"))).toEqual([
      { service: "web-v1", weight: w(20) },
      { service: "web-v2", weight: w(80) },
    ]);
    expect(Number(second.version)).toBeGreaterThan(Number(first.version));

    const third = await r.apply(t, pair, 100, { canaryPercent: 80 });
    expect(third).toMatchObject({ canaryPercent: 100, raw: `web-v1 ${w(0)} / web-v2 ${w(100)}` });
    expect(peer.mutations("trafficsplits", ns, "web").map((m) => `${m.method} ${m.status}`)).toEqual(["PATCH 201", "PATCH 200", "PATCH 200"]);
    expect(await r.observe(t, pair)).toEqual(third);
  });

  it("writes nothing when the split already routes the requested percent", async () => {
    const r = router(peer);
    const t = target(ns);
    peer.seed(
      "trafficsplits",
      ns,
      splitObject(apiVersion, "web", [
        { service: "web-v1", weight: w(50) },
        { service: "web-v2", weight: w(50) },
      ]),
    );
    const before = peer.get("trafficsplits", ns, "web")!.metadata!.resourceVersion;
    const result = await r.apply(t, pair, 50, { canaryPercent: 50 });
    expect(result).toEqual({ canaryPercent: 50, version: before, raw: `web-v1 ${w(50)} / web-v2 ${w(50)}` });
    expect(peer.mutations("trafficsplits")).toEqual([]);
  });

  it("finds the split by its apex service, zeroes backends outside the rollout and keeps labels and matches", async () => {
    const r = router(peer);
    const matches = [{ kind: "HTTPRouteGroup", name: "canary-header" }];
    peer.seed("trafficsplits", ns, {
      ...splitObject(
        apiVersion,
        "web-split",
        [
          { service: "web-v1", weight: w(100) },
          { service: "web-v0", weight: w(0) },
        ],
        { matches },
      ),
      metadata: { name: "web-split", labels: { team: "shop" } },
    });
    peer.seed("trafficsplits", ns, {
      ...splitObject(apiVersion, "api-split", [{ service: "api-v1", weight: w(1) }]),
      spec: { service: "api", backends: [{ service: "api-v1", weight: w(1) }] },
    });
    const result = await r.apply(target(ns), pair, 30);
    expect(result.canaryPercent).toBe(30);
    const split = peer.get("trafficsplits", ns, "web-split")!;
    expect(split.metadata?.labels).toEqual({ team: "shop" });
    // v1alpha1 has no matches field: the API server pruned it when the split was created.
    expect((split.spec as { matches?: unknown }).matches).toEqual(version === "v1alpha1" ? undefined : matches);
    expect(backendsOf(split)).toEqual([
      { service: "web-v1", weight: w(70) },
      { service: "web-v0", weight: w(0) },
      { service: "web-v2", weight: w(30) },
    ]);
    expect(peer.get("trafficsplits", ns, "web")).toBeUndefined();
  });

  it("finalizes onto the winner and keeps the object", async () => {
    const r = router(peer);
    const t = target(ns, { smi: { trafficSplit: "web-ts" } });
    await r.apply(t, pair, 50);
    expect((await r.finalize(t, pair, "canary")).raw).toBe(`web-v1 ${w(0)} / web-v2 ${w(100)}`);
    expect((await r.finalize(t, pair, "stable")).canaryPercent).toBe(0);
    expect(backendsOf(peer.get("trafficsplits", ns, "web-ts"))).toEqual([
      { service: "web-v1", weight: w(100) },
      { service: "web-v2", weight: w(0) },
    ]);
    expect(r.testRequestHint()).toBeUndefined();
  });

  it("retries a 409 caused by a hand edit that kept the weights, and keeps that edit", async () => {
    const r = router(peer);
    const t = target(ns);
    await r.apply(t, pair, 10);
    peer.reset();
    // Someone labels the split between the router's read and its write.
    peer.onNext({ method: "PATCH", pathIncludes: `/namespaces/${ns}/trafficsplits/web` }, () => {
      peer.edit("trafficsplits", ns, "web", (o) => {
        o.metadata!.labels = { ...(o.metadata!.labels as object), owner: "sre" };
      });
    });
    const result = await r.apply(t, pair, 50, { canaryPercent: 10 });
    expect(result.canaryPercent).toBe(50);
    expect(peer.mutations("trafficsplits", ns, "web").map((m) => m.status)).toEqual([409, 200]);
    const split = peer.get("trafficsplits", ns, "web")!;
    expect(split.metadata?.labels).toMatchObject({ owner: "sre" });
    expect(backendsOf(split)).toEqual([
      { service: "web-v1", weight: w(50) },
      { service: "web-v2", weight: w(50) },
    ]);
  });

  it("reports drift instead of overwriting weights someone else changed", async () => {
    const r = router(peer);
    const t = target(ns);
    await r.apply(t, pair, 10);
    peer.edit("trafficsplits", ns, "web", (o) => {
      (o.spec as { backends: unknown[] }).backends = [
        { service: "web-v1", weight: w(60) },
        { service: "web-v2", weight: w(40) },
      ];
    });
    peer.reset();
    const err = await rejection(r.apply(t, pair, 50, { canaryPercent: 10 }));
    expect(err.code).toBe("drift");
    expect(err.message).toContain("expected 10% canary");
    expect(err.message).toContain(`web-v1 ${w(60)} / web-v2 ${w(40)}`);
    expect(peer.mutations("trafficsplits")).toEqual([]);
    expect(backendsOf(peer.get("trafficsplits", ns, "web"))).toEqual([
      { service: "web-v1", weight: w(60) },
      { service: "web-v2", weight: w(40) },
    ]);
  });

  it("reports drift when a conflicting write changed the weights between read and write", async () => {
    const r = router(peer);
    const t = target(ns);
    await r.apply(t, pair, 10);
    peer.reset();
    peer.onNext({ method: "PATCH" }, () => {
      peer.edit("trafficsplits", ns, "web", (o) => {
        (o.spec as { backends: unknown[] }).backends = [
          { service: "web-v1", weight: w(100) },
          { service: "web-v2", weight: w(0) },
        ];
      });
    });
    const err = await rejection(r.apply(t, pair, 50));
    expect(err.code).toBe("drift");
    expect(err.message).toMatch(/expected 10% canary, found web-v1 100 \/ web-v2 0 \(0% canary\)/);
    expect(peer.mutations("trafficsplits", ns, "web").map((m) => m.status)).toEqual([409]);
  });

  it("finalize refuses weight on a backend outside the rollout unless forced (a person chose Abort)", async () => {
    const r = router(peer);
    const t = target(ns);
    await r.apply(t, pair, 10);
    peer.edit("trafficsplits", ns, "web", (o) => {
      (o.spec as { backends: unknown[] }).backends = [
        { service: "web-v1", weight: w(50) },
        { service: "web-v2", weight: w(0) },
        { service: "web-hotfix", weight: w(50) },
      ];
    });
    peer.reset();
    const err = await rejection(r.finalize(t, pair, "stable"));
    expect(err.code).toBe("drift");
    expect(err.message).toContain(`expected a split between web-v1 and web-v2, found web-v1 ${w(50)} / web-v2 ${w(0)} / web-hotfix ${w(50)}`);
    expect(peer.mutations("trafficsplits")).toEqual([]);

    const back = await r.finalize(t, pair, "stable", { force: true });
    expect(back.canaryPercent).toBe(0);
    expect(backendsOf(peer.get("trafficsplits", ns, "web"))).toEqual([
      { service: "web-v1", weight: w(100) },
      { service: "web-v2", weight: w(0) },
      { service: "web-hotfix", weight: w(0) },
    ]);
    expect(peer.mutations("trafficsplits", ns, "web").map((m) => `${m.method} ${m.status}`)).toEqual(["PATCH 200"]);
  });

  it("finalize with expect (Finish) refuses weights other than the verified ones and writes nothing", async () => {
    const r = router(peer);
    const t = target(ns);
    await r.apply(t, pair, 100);
    peer.edit("trafficsplits", ns, "web", (o) => {
      (o.spec as { backends: unknown[] }).backends = [
        { service: "web-v1", weight: w(50) },
        { service: "web-v2", weight: w(50) },
      ];
    });
    peer.reset();
    const err = await rejection(r.finalize(t, pair, "canary", { expect: { canaryPercent: 100 } }));
    expect(err.code).toBe("drift");
    expect(err.message).toContain(`expected 100% canary, found web-v1 ${w(50)} / web-v2 ${w(50)} (50% canary)`);
    expect(peer.mutations("trafficsplits")).toEqual([]);
    expect(backendsOf(peer.get("trafficsplits", ns, "web"))).toEqual([
      { service: "web-v1", weight: w(50) },
      { service: "web-v2", weight: w(50) },
    ]);

    // The hand edit made kubectl-edit the owner of spec.backends: the bot's apply is refused naming it,
    // nothing written; only a person's Re-apply takes the field (force=true).
    peer.reset();
    const owned = await rejection(r.apply(t, pair, 100, { canaryPercent: 50 }));
    expect(owned).toMatchObject({ code: "owned", transient: false, detail: { managers: ["kubectl-edit"], fields: [".spec.backends"] } });
    expect(owned.message).toContain('conflict with "kubectl-edit"');
    expect(backendsOf(peer.get("trafficsplits", ns, "web"))).toEqual([
      { service: "web-v1", weight: w(50) },
      { service: "web-v2", weight: w(50) },
    ]);
    expect(peer.mutations("trafficsplits").map((m) => `${m.status} ${new URLSearchParams(m.query).get("force")}`)).toEqual(["409 false"]);
    // Re-applied: Finish finds what it expects (nothing left to write) and reports it.
    await r.apply(t, pair, 100, { canaryPercent: 50, takeOwnership: true });
    expect(peer.mutations("trafficsplits").map((m) => `${m.status} ${new URLSearchParams(m.query).get("force")}`)).toEqual(["409 false", "200 true"]);
    expect(
      (peer.get("trafficsplits", ns, "web")!.metadata!.managedFields as { manager: string }[]).map((e) => e.manager).filter((m) => m === "kubectl-edit"),
    ).toEqual([]);
    peer.reset();
    const done = await r.finalize(t, pair, "canary", { expect: { canaryPercent: 100 } });
    expect(done).toMatchObject({ canaryPercent: 100, raw: `web-v1 ${w(0)} / web-v2 ${w(100)}` });
    expect(peer.mutations("trafficsplits")).toEqual([]);
    // A deleted split is drift too: Finish does not re-create it.
    peer.remove("trafficsplits", ns, "web");
    expect((await rejection(r.finalize(t, pair, "canary", { expect: { canaryPercent: 100 } }))).code).toBe("drift");
    expect(peer.mutations("trafficsplits")).toEqual([]);
  });

  it("forced finalize retries a 409 even when the weights changed in between, with the newer resourceVersion", async () => {
    const r = router(peer);
    const t = target(ns);
    await r.apply(t, pair, 10);
    peer.reset();
    peer.onNext({ method: "PATCH" }, () => {
      peer.edit("trafficsplits", ns, "web", (o) => {
        (o.spec as { backends: unknown[] }).backends = [
          { service: "web-v1", weight: w(30) },
          { service: "web-v2", weight: w(70) },
        ];
      });
    });
    const back = await r.finalize(t, pair, "stable", { force: true });
    expect(back.canaryPercent).toBe(0);
    expect(peer.mutations("trafficsplits", ns, "web").map((m) => m.status)).toEqual([409, 200]);
    expect(backendsOf(peer.get("trafficsplits", ns, "web"))).toEqual([
      { service: "web-v1", weight: w(100) },
      { service: "web-v2", weight: w(0) },
    ]);
    // Unforced, the same race is drift.
    await r.apply(t, pair, 10, { canaryPercent: 0 });
    peer.reset();
    peer.onNext({ method: "PATCH" }, () => {
      peer.edit("trafficsplits", ns, "web", (o) => {
        (o.spec as { backends: unknown[] }).backends = [
          { service: "web-v1", weight: w(30) },
          { service: "web-v2", weight: w(70) },
        ];
      });
    });
    expect((await rejection(r.finalize(t, pair, "stable"))).code).toBe("drift");
    expect(peer.mutations("trafficsplits", ns, "web").map((m) => m.status)).toEqual([409]);
  });

  it("reports drift when the split read back after the write is not what was written", async () => {
    const r = router(peer);
    const t = target(ns);
    await r.apply(t, pair, 10);
    // A controller (or person) rewrites the split right after our write, before the read-back (the GET
    // after the PATCH: the split is also read by name before the write).
    peer.onNext({ method: "PATCH" }, () =>
      peer.onNext({ method: "GET", pathIncludes: `/namespaces/${ns}/trafficsplits/web` }, () => {
        peer.edit("trafficsplits", ns, "web", (o) => {
          (o.spec as { backends: unknown[] }).backends = [
            { service: "web-v1", weight: w(100) },
            { service: "web-v2", weight: w(0) },
          ];
        });
      }),
    );
    const err = await rejection(r.apply(t, pair, 40, { canaryPercent: 10 }));
    expect(err.code).toBe("drift");
    expect(err.message).toBe(`TrafficSplit ${ns}/web does not hold what the bot wrote: wanted 40% canary, read back web-v1 ${w(100)} / web-v2 ${w(0)}`);
  });

  it("gives up with a transient 'conflict' after a storm of 409s", async () => {
    const r = router(peer);
    const t = target(ns);
    await r.apply(t, pair, 10);
    peer.reset();
    peer.failNext({ method: "PATCH", status: 409, times: 50 });
    const err = await rejection(r.apply(t, pair, 20, { canaryPercent: 10 }));
    expect(err).toMatchObject({ code: "conflict", transient: true });
    expect(peer.mutations("trafficsplits", ns, "web")).toHaveLength(5);
    expect(backendsOf(peer.get("trafficsplits", ns, "web"))).toEqual([
      { service: "web-v1", weight: w(90) },
      { service: "web-v2", weight: w(10) },
    ]);
  });

  it("discovers the stable as the one backend that carries all traffic", async () => {
    const r = router(peer);
    const t = target(ns);
    expect(await r.discoverStable(t)).toBeUndefined();
    peer.seed(
      "trafficsplits",
      ns,
      splitObject(apiVersion, "web", [
        { service: "web-v7", weight: w(100) },
        { service: "web-v6", weight: w(0) },
      ]),
    );
    expect(await r.discoverStable(t)).toBe("web-v7");
    peer.edit("trafficsplits", ns, "web", (o) => {
      (o.spec as { backends: unknown[] }).backends = [
        { service: "web-v7", weight: w(50) },
        { service: "web-v8", weight: w(50) },
      ];
    });
    expect(await r.discoverStable(t)).toBeUndefined();
  });

  it("turns 5xx answers, dropped connections and a hung API into transient 'unavailable' errors", async () => {
    const t = target(ns);
    const r = router(peer, 300);
    await r.apply(t, pair, 10);

    peer.failNext({ method: "PATCH", status: 503 });
    const unavailable = await rejection(r.apply(t, pair, 20));
    expect(unavailable).toMatchObject({ code: "unavailable", transient: true });
    expect(unavailable.message).toContain("503 ServiceUnavailable");

    peer.failNext({ method: "GET", pathIncludes: "/trafficsplits", reset: true });
    expect((await rejection(r.apply(t, pair, 20))).code).toBe("unavailable");

    peer.failNext({ method: "GET", pathIncludes: "/trafficsplits", delayMs: 5_000 });
    const started = Date.now();
    const hung = await rejection(r.observe(t, pair));
    expect(hung.code).toBe("unavailable");
    expect(hung.message).toContain("did not answer");
    expect(Date.now() - started).toBeLessThan(3_000);

    // Once the API is back, the same call goes through: nothing was left half-done.
    expect((await r.apply(t, pair, 20, { canaryPercent: 10 })).canaryPercent).toBe(20);
  });

  it("reports the API's message when it refuses a write (422 -> rejected)", async () => {
    const r = router(peer);
    peer.failNext({ method: "PATCH", status: 422, message: 'TrafficSplit.split.smi-spec.io "web" is invalid: denied by policy' });
    const err = await rejection(r.apply(target(ns), pair, 10));
    expect(err).toMatchObject({ code: "rejected", transient: false });
    expect(err.message).toContain("denied by policy");
  });

  it("validate() names what is wrong with an existing split", async () => {
    const r = router(peer);
    peer.seed(
      "trafficsplits",
      ns,
      splitObject(apiVersion, "web-ts", [
        { service: "web-v1", weight: w(90) },
        { service: "web-v3", weight: w(10) },
      ]),
    );
    expect(await r.validate(target(ns), { stable: "web-v1", canary: "web-v2" })).toBe(
      `TrafficSplit ${ns}/web-ts sends traffic to web-v1, web-v3: it has no backend web-v2; web-v3 is not part of this rollout (web-v1 -> web-v2)`,
    );
    expect(await r.validate(target(ns), { stable: "web-v2", canary: "web-v3" })).toBe(
      `TrafficSplit ${ns}/web-ts sends traffic to web-v1, web-v3: it has no backend web-v2; web-v1 is not part of this rollout (web-v2 -> web-v3)`,
    );
    // Any two of its backends may be rolled between, as long as nothing else gets traffic.
    expect(await r.validate(target(ns), { stable: "web-v1", canary: "web-v3" })).toBeUndefined();
    expect(await r.validate(target(ns), { stable: "web-v1", canary: "web-v1" })).toBe("stable and canary are both web-v1");

    peer.seed(
      "trafficsplits",
      ns,
      splitObject(apiVersion, "web-ts-2", [
        { service: "web-v1", weight: w(1) },
        { service: "web-v2", weight: w(0) },
      ]),
    );
    const ambiguous = await r.validate(target(ns), pair);
    expect(ambiguous).toBe(`TrafficSplits ${ns}/web-ts and ${ns}/web-ts-2 both split service web: name the one to use in the target's smi.trafficSplit`);
    expect((await rejection(r.apply(target(ns), pair, 10))).code).toBe("invalid");
    expect(await r.validate(target(ns, { smi: { trafficSplit: "web-ts-2" } }), pair)).toBeUndefined();
  });

  it("validate() and apply() refuse to take over a split of the apex's name that splits another service", async () => {
    const r = router(peer);
    peer.seed("trafficsplits", ns, {
      ...splitObject(apiVersion, "web", []),
      spec: {
        service: "web-internal",
        backends: [
          { service: "web-v1", weight: w(1) },
          { service: "web-v2", weight: w(0) },
        ],
      },
    });
    const message = `TrafficSplit ${ns}/web splits service web-internal, not web: set the target's smi.apexService or smi.trafficSplit`;
    expect(await r.validate(target(ns), pair)).toBe(message);
    expect(await rejection(r.apply(target(ns), pair, 10))).toMatchObject({ code: "invalid", message });
    expect(peer.mutations("trafficsplits")).toEqual([]);
    expect(await r.validate(target(ns, { smi: { apexService: "web-internal" } }), pair)).toBeUndefined();
  });

  it("observe() on a split that does not exist yet says so", async () => {
    const err = await rejection(router(peer).observe(target(ns), pair));
    expect(err.code).toBe("not-found");
    expect(err.message).toContain(`TrafficSplit ${ns}/web does not exist`);
  });

  it("asks the cluster which versions it serves once, not on every call", async () => {
    const r = router(peer);
    const t = target(ns);
    await r.apply(t, pair, 10);
    await r.apply(t, pair, 20);
    await r.observe(t, pair);
    expect(peer.requests.filter((q) => q.path === "/apis")).toHaveLength(1);
    expect(peer.requests.filter((q) => q.resource === "trafficsplits").every((q) => q.path.includes(`/${version}/`))).toBe(true);
  });
});

describe("SmiRouter and v1alpha1 quantities", () => {
  it.each(["linkerd", "linkerd-smi"] as const)("%s: a split seeded with 900m/100m observes as 10%% and is rewritten in whole numbers", async (flavour) => {
    const peer = await startKubeApiPeer({ smiFlavour: flavour });
    try {
      const r = router(peer);
      peer.seed(
        "trafficsplits",
        "shop",
        splitObject("split.smi-spec.io/v1alpha1", "web", [
          { service: "web-v1", weight: "900m" },
          { service: "web-v2", weight: "100m" },
        ]),
      );
      const t = target("shop");
      expect(await r.observe(t, pair)).toMatchObject({ canaryPercent: 10, raw: "web-v1 900m / web-v2 100m" });
      expect(await r.validate(t, pair)).toBeUndefined();
      await r.apply(t, pair, 25, { canaryPercent: 10 });
      // linkerd serves only v1alpha1 (quantity strings); linkerd-smi also serves v1alpha2, which the router prefers.
      const expected = flavour === "linkerd" ? ["75", "25"] : [75, 25];
      expect(backendsOf(peer.get("trafficsplits", "shop", "web"))).toEqual([
        { service: "web-v1", weight: expected[0] },
        { service: "web-v2", weight: expected[1] },
      ]);
      expect(peer.mutations("trafficsplits").every((m) => m.path.includes(flavour === "linkerd" ? "/v1alpha1/" : "/v1alpha2/"))).toBe(true);

      // Mixed units are relative to each other: 1 and 250m is 80/20.
      peer.seed(
        "trafficsplits",
        "mixed",
        splitObject("split.smi-spec.io/v1alpha1", "web", [
          { service: "web-v1", weight: 1 },
          { service: "web-v2", weight: "250m" },
        ]),
      );
      expect((await r.observe(target("mixed"), pair)).canaryPercent).toBe(20);
    } finally {
      await peer.close();
    }
  });
});

describe("SmiRouter on clusters it cannot use", () => {
  it("says no SMI mesh is installed when split.smi-spec.io is not served", async () => {
    const peer = await startKubeApiPeer({ smiFlavour: "none" });
    try {
      const r = router(peer);
      const message = "this cluster serves no split.smi-spec.io TrafficSplit API (is an SMI mesh installed?)";
      expect(await r.validate(target("shop"), pair)).toBe(message);
      const err = await rejection(r.apply(target("shop"), pair, 10));
      expect(err).toMatchObject({ code: "not-found", message });
    } finally {
      await peer.close();
    }
  });

  it("reports a namespace that does not exist, in validate() and apply()", async () => {
    const peer = await startKubeApiPeer({ smiFlavour: "sdk", namespaces: ["default"] });
    try {
      const r = router(peer);
      expect(await r.validate(target("ghost"), pair)).toBe(
        "TrafficSplit ghost/web does not exist and cannot be created: namespace ghost does not exist (check creating TrafficSplit ghost/web)",
      );
      expect(peer.mutations("trafficsplits")).toEqual([]); // the check is a dry run
      const err = await rejection(r.apply(target("ghost"), pair, 10));
      expect(err.code).toBe("not-found");
      expect(err.message).toContain("namespace ghost does not exist");
      expect(await r.validate(target("default"), pair)).toBeUndefined();
    } finally {
      await peer.close();
    }
  });
});

describe("SmiRouter remembers which split serves an apex", () => {
  const apiVersion = "split.smi-spec.io/v1alpha4";
  let peer: KubeApiPeer;
  let ns: string;

  beforeAll(async () => {
    peer = await startKubeApiPeer({ smiFlavour: "sdk" });
  });
  afterAll(async () => {
    await peer.close();
  });
  beforeEach(() => {
    peer.reset();
    ns = freshNamespace();
  });

  /** The TrafficSplit reads the peer saw, in order: "LIST" for the namespace, "GET <name>" for one split. */
  const splitReads = () =>
    peer.requests.filter((r) => r.method === "GET" && r.resource === "trafficsplits").map((r) => (r.name === undefined ? "LIST" : `GET ${r.name}`));
  const lists = () => splitReads().filter((r) => r === "LIST").length;

  const seedSplit = (namespace: string, name: string, stable: number, service = "web") =>
    peer.seed("trafficsplits", namespace, {
      ...splitObject(apiVersion, name, [
        { service: "web-v1", weight: stable },
        { service: "web-v2", weight: 100 - stable },
      ]),
      spec: {
        service,
        backends: [
          { service: "web-v1", weight: stable },
          { service: "web-v2", weight: 100 - stable },
        ],
      },
    });

  it("lists once at the start; checks, an advance and Finish then read the split by name", async () => {
    const r = router(peer);
    const t = target(ns);
    // Other apexes' splits in the same namespace: what made every list expensive.
    for (let i = 0; i < 20; i++) seedSplit(ns, `other-${i}`, 100, `other-${i}`);
    seedSplit(ns, "web-split", 100);

    expect(await r.validate(t, pair)).toBeUndefined();
    expect(splitReads()).toEqual(["LIST"]);
    peer.reset();

    await r.apply(t, pair, 10);
    expect((await r.observe(t, pair)).canaryPercent).toBe(10);
    expect((await r.observe(t, pair)).canaryPercent).toBe(10);
    expect(await r.discoverStable(t)).toBeUndefined();
    await r.apply(t, pair, 50, { canaryPercent: 10 });
    expect((await r.finalize(t, pair, "canary", { expect: { canaryPercent: 50 } })).canaryPercent).toBe(100);

    expect(lists()).toBe(0);
    expect(new Set(splitReads())).toEqual(new Set(["GET web-split"]));
    expect(peer.mutations("trafficsplits").map((m) => `${m.method} ${m.name}`)).toEqual(["PATCH web-split", "PATCH web-split", "PATCH web-split"]);

    // The next start lists again, whatever is remembered.
    await r.validate(t, pair);
    expect(lists()).toBe(1);
  });

  it("remembers the split it created under the apex's name", async () => {
    const r = router(peer);
    const t = target(ns);
    expect(await r.validate(t, pair)).toBeUndefined();
    await r.apply(t, pair, 10);
    expect(lists()).toBe(1); // the start's check; the first apply takes its word that there is none
    peer.reset();
    await r.observe(t, pair);
    await r.apply(t, pair, 30, { canaryPercent: 10 });
    expect(lists()).toBe(0);
    expect(peer.mutations("trafficsplits").map((m) => `${m.method} ${m.name}`)).toEqual(["PATCH web"]);
  });

  it("finds a split deleted and re-created by hand under another name, and reports a repurposed one as today", async () => {
    const r = router(peer);
    const t = target(ns);
    seedSplit(ns, "web-split", 100);
    await r.apply(t, pair, 10);

    peer.remove("trafficsplits", ns, "web-split");
    seedSplit(ns, "web-split-2", 90);
    peer.reset();
    expect((await r.observe(t, pair)).canaryPercent).toBe(10);
    expect(splitReads()).toEqual(["GET web-split", "LIST"]);
    peer.reset();
    await r.apply(t, pair, 50, { canaryPercent: 10 });
    expect(lists()).toBe(0);
    expect(backendsOf(peer.get("trafficsplits", ns, "web-split-2"))).toEqual([
      { service: "web-v1", weight: 50 },
      { service: "web-v2", weight: 50 },
    ]);

    // Now it splits another service: for this apex there is no split any more, as a list alone would say.
    peer.edit("trafficsplits", ns, "web-split-2", (o) => {
      (o.spec as { service: string }).service = "web-old";
    });
    const gone = await rejection(r.observe(t, pair));
    expect(gone).toMatchObject({ code: "not-found", message: `TrafficSplit ${ns}/web does not exist (the first apply creates it)` });
    const drift = await rejection(r.apply(t, pair, 60, { canaryPercent: 50 }));
    expect(drift).toMatchObject({ code: "drift", message: `TrafficSplit ${ns}/web is gone: it was deleted after the bot set it to 50% canary` });
    expect(peer.mutations("trafficsplits", ns, "web")).toEqual([]);
  });

  it("reports two splits claiming the apex when the remembered one is gone, and at every start", async () => {
    const r = router(peer);
    const t = target(ns);
    seedSplit(ns, "web-split", 100);
    await r.apply(t, pair, 10);
    peer.reset();

    // A second split for the same apex: the next start's check lists and refuses.
    seedSplit(ns, "web-split-b", 100);
    const both = `TrafficSplits ${ns}/web-split and ${ns}/web-split-b both split service web: name the one to use in the target's smi.trafficSplit`;
    expect(await r.validate(t, pair)).toBe(both);
    expect(await rejection(r.observe(t, pair))).toMatchObject({ code: "invalid", message: both });

    // Remembered again once one is left, then that one is deleted while two others claim the apex.
    peer.remove("trafficsplits", ns, "web-split-b");
    expect((await r.observe(t, pair)).canaryPercent).toBe(10);
    peer.remove("trafficsplits", ns, "web-split");
    seedSplit(ns, "web-split-c", 90);
    seedSplit(ns, "web-split-d", 90);
    const err = await rejection(r.apply(t, pair, 50, { canaryPercent: 10 }));
    expect(err).toMatchObject({
      code: "invalid",
      message: `TrafficSplits ${ns}/web-split-c and ${ns}/web-split-d both split service web: name the one to use in the target's smi.trafficSplit`,
    });
    expect(peer.mutations("trafficsplits").filter((m) => m.status < 300)).toEqual([]);
  });

  it("a start without a split lists once: the owners' check, the initial observe and the first apply take the list's word", async () => {
    const r = router(peer);
    const t = target(ns);
    for (let i = 0; i < 20; i++) seedSplit(ns, `other-${i}`, 100, `other-${i}`);
    // What the worker's start does, in its order.
    expect(await r.validate(t, pair)).toBeUndefined();
    expect(await r.writtenObjects(t)).toEqual([]);
    expect(await rejection(r.observe(t, pair))).toMatchObject({ code: "not-found" });
    expect((await r.apply(t, pair, 10)).canaryPercent).toBe(10);
    const asked = peer.requests.filter((q) => q.resource === "trafficsplits").map((q) => `${q.method} ${q.name ?? "(list)"}`);
    expect(asked).toEqual(["GET (list)", "POST web", "PATCH web", "GET web"]); // list, dry-run create, create by apply, read back
    expect(backendsOf(peer.get("trafficsplits", ns, "web"))).toEqual([
      { service: "web-v1", weight: 90 },
      { service: "web-v2", weight: 10 },
    ]);
  });

  it("a split made by hand after that list is seen by the first call past recentListMs, and written there", async () => {
    let now = 1_000_000;
    const r = new SmiRouter({ kubeConfig: loadKubeConfig(peer.kubeconfigPath), recentListMs: 2_000, now: () => now });
    const t = target(ns);
    expect(await r.validate(t, pair)).toBeUndefined();
    seedSplit(ns, "web-by-hand", 100);
    now += 1_999;
    // Within the bound the list's word stands (as it did between a list and the write it led to).
    expect(await rejection(r.observe(t, pair))).toMatchObject({ code: "not-found" });
    now += 1;
    expect((await r.observe(t, pair)).canaryPercent).toBe(0);
    await r.apply(t, pair, 10);
    expect(peer.get("trafficsplits", ns, "web")).toBeUndefined();
    expect(backendsOf(peer.get("trafficsplits", ns, "web-by-hand"))).toEqual([
      { service: "web-v1", weight: 90 },
      { service: "web-v2", weight: 10 },
    ]);
  });

  it("a split the bot writes is never answered 'none' from an older list, for its apex or its name", async () => {
    const r = router(peer);
    // `api` names its split `web`: once the bot has created it, `web`'s start must find it in the way, not write over it.
    const web = target(ns);
    const api = target(ns, { name: "api", smi: { trafficSplit: "web" } });
    const apiPair = { stable: "api-v1", canary: "api-v2" };
    expect(await r.validate(web, pair)).toBeUndefined();
    await r.apply(api, apiPair, 10);
    const refused = await rejection(r.apply(web, pair, 10));
    expect(refused).toMatchObject({ code: "invalid" });
    expect(refused.message).toContain(`TrafficSplit ${ns}/web splits service api, not web`);
    expect((peer.get("trafficsplits", ns, "web")?.spec as { service: string }).service).toBe("api");
    expect(backendsOf(peer.get("trafficsplits", ns, "web"))).toEqual([
      { service: "api-v1", weight: 90 },
      { service: "api-v2", weight: 10 },
    ]);
  });

  it("a discovery of the stable lists for itself, whatever a list just said", async () => {
    const r = router(peer);
    const t = target(ns);
    expect(await r.validate(t, pair)).toBeUndefined();
    seedSplit(ns, "web-split", 100);
    expect(await r.discoverStable(t)).toBe("web-v1");
  });

  it("keeps at most rememberedSplits names, dropping the least recently used", async () => {
    const r = new SmiRouter({ kubeConfig: loadKubeConfig(peer.kubeconfigPath), rememberedSplits: 2 });
    const [a, b, c] = [freshNamespace(), freshNamespace(), freshNamespace()];
    for (const namespace of [a, b, c]) seedSplit(namespace, "web-ts", 90);
    await r.observe(target(a), pair);
    await r.observe(target(b), pair);
    await r.observe(target(a), pair); // a used last: b is the one to drop
    await r.observe(target(c), pair);
    expect(lists()).toBe(3);
    peer.reset();
    await r.observe(target(a), pair);
    await r.observe(target(c), pair);
    expect(lists()).toBe(0);
    await r.observe(target(b), pair);
    expect(lists()).toBe(1);
  });
});

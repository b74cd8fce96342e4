import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TargetSchema, type TargetInput } from "../../src/engine/target.ts";
import { loadKubeConfig } from "../../src/kube/config.ts";
import { GatewayRouter } from "../../src/routers/gateway.ts";
import { RouterError } from "../../src/routers/router.ts";
import { startKubeApiPeer, type KubeApiPeer, type KubeObject } from "../../sandbox/peers/kube-api.ts";
import { HTTPROUTE_CRD, crdValidator, loadCrdSchemas, validateAgainst } from "../support/crd-schema.ts";

/**
 * Issue 14: the Gateway API router against the Kubernetes API peer serving HTTPRoute, for both parent
 * styles (a mesh route whose parent is a Service, a gateway route whose parent is a Gateway) and both API
 * versions (v1 where served, v1beta1 only on older clusters). Every write is checked by the peer against
 * the HTTPRoute CRD's own schema, read from the reference CRD at test time.
 */

const NS = "shop";
const PAIR = { stable: "web-v1", canary: "web-v2" };
const schemaCheck = crdValidator(HTTPROUTE_CRD);
const SCHEMAS = loadCrdSchemas(HTTPROUTE_CRD);

type Style = "mesh" | "gateway";

/** The rule the rollout shifts, with a filter and a third backendRef at 0 that must stay as they are. */
const splitRule = (style: Style) => ({
  ...(style === "mesh" ? { name: "api" } : {}),
  matches: [{ path: { type: "PathPrefix", value: "/api" }, method: "GET" }],
  filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { add: [{ name: "x-via", value: "rollout-test" }] } }],
  backendRefs: [
    { name: "web-v1", port: 8080 },
    { name: "web-legacy", port: 8080, weight: 0 },
  ],
});
/** A rule the bot has no business with. */
const OTHER_RULE = {
  name: "static",
  matches: [{ path: { type: "PathPrefix", value: "/static" } }],
  backendRefs: [{ name: "static-files", port: 80, weight: 3 }],
};

function route(style: Style, apiVersion = "gateway.networking.k8s.io/v1"): KubeObject {
  const parentRefs =
    style === "mesh" ? [{ group: "core", kind: "Service", name: "web", port: 80 }] : [{ name: "public", namespace: "infra", sectionName: "https" }];
  return {
    apiVersion,
    kind: "HTTPRoute",
    metadata: { name: "web", namespace: NS, labels: { team: "shop" }, annotations: { note: "hand-written" } },
    spec: { parentRefs, ...(style === "gateway" ? { hostnames: ["shop.example.com"] } : {}), rules: [OTHER_RULE, splitRule(style)] },
  };
}

function target(style: Style, gateway: NonNullable<TargetInput["gateway"]> = {}) {
  const rule = style === "mesh" ? "api" : 1;
  return TargetSchema.parse({ name: "web", namespace: NS, router: "gateway", gateway: { rule, ...gateway } });
}

const stored = (peer: KubeApiPeer) => peer.get("httproutes", NS, "web")!;
const rulesOf = (peer: KubeApiPeer) => (stored(peer).spec as { rules: Record<string, unknown>[] }).rules;
const refsOf = (rule: Record<string, unknown>) => (rule.backendRefs as { name: string; weight: number }[]).map((r) => `${r.name} ${r.weight}`);
const writes = (peer: KubeApiPeer) => peer.mutations("httproutes", NS, "web").length;

async function rejection(p: Promise<unknown>): Promise<RouterError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof RouterError)) throw new Error(`expected a RouterError, got ${String(err)}`);
  return err;
}

const CASES: { style: Style; versions: ("v1" | "v1beta1")[] }[] = [
  { style: "mesh", versions: ["v1", "v1beta1"] },
  { style: "gateway", versions: ["v1", "v1beta1"] },
  { style: "mesh", versions: ["v1beta1"] },
  { style: "gateway", versions: ["v1beta1"] },
];

describe.each(CASES)("GatewayRouter, $style parent, serving $versions", ({ style, versions }) => {
  let peer: KubeApiPeer;
  let router: GatewayRouter;
  const written = versions.includes("v1") ? "v1" : "v1beta1";

  beforeAll(async () => {
    peer = await startKubeApiPeer({ smiFlavour: "none", gatewayVersions: versions, validators: { httproutes: schemaCheck } });
    router = new GatewayRouter({ kubeConfig: loadKubeConfig(peer.kubeconfigPath), timeoutMs: 5_000, confirmTimeoutMs: 400, confirmPollMs: 50 });
  });
  afterAll(async () => {
    await peer.close();
  });
  afterEach(() => {
    if (peer.get("httproutes", NS, "web")) peer.remove("httproutes", NS, "web");
    peer.reset();
    peer.gateway.mode = "accept";
    delete peer.gateway.refuse;
  });

  const seed = () => peer.seed("httproutes", NS, route(style, `gateway.networking.k8s.io/${written}`));

  it("test stage -> 10% -> 50% -> finish: only the two weights and the bot's own rule change, read back and accepted", async () => {
    seed();
    const before = rulesOf(peer);
    const t = target(style);
    expect(await router.validate(t, PAIR)).toBeUndefined();
    expect(writes(peer)).toBe(0); // validation is a dry run

    const test = await router.apply(t, PAIR, 0);
    expect(test.canaryPercent).toBe(0);
    let rules = rulesOf(peer);
    expect(rules).toHaveLength(3);
    expect(refsOf(rules[1]!)).toEqual(["web-v1 100", "web-v2 0", "web-legacy 0"]);
    // The test rule: the split rule's match plus the header, its filter, only the canary.
    expect(rules[2]).toEqual({
      matches: [{ path: { type: "PathPrefix", value: "/api" }, method: "GET", headers: [{ type: "Exact", name: "x-rollout", value: "web-v2" }] }],
      filters: splitRule(style).filters,
      backendRefs: [{ group: "", kind: "Service", name: "web-v2", port: 8080, weight: 1 }],
    });
    expect(test.raw).toContain("test rule x-rollout: web-v2");
    expect(test.raw).toContain(style === "mesh" ? "Service shop/web (port 80) accepted" : "Gateway infra/public (section https) accepted");
    expect(router.testRequestHint(t, PAIR)).toMatch(/^curl -H 'x-rollout: web-v2' 'http:\/\/<host>\/'\n/);

    const at10 = await router.apply(t, PAIR, 10, { canaryPercent: 0 });
    expect(at10.canaryPercent).toBe(10);
    expect(refsOf(rulesOf(peer)[1]!)).toEqual(["web-v1 90", "web-v2 10", "web-legacy 0"]);
    const at50 = await router.apply(t, PAIR, 50, { canaryPercent: 10 });
    expect(at50.canaryPercent).toBe(50);
    expect(await router.observe(t, PAIR)).toMatchObject({ canaryPercent: 50, version: stored(peer).metadata!.resourceVersion });

    const done = await router.finalize(t, PAIR, "canary", { expect: { canaryPercent: 50 } });
    expect(done.canaryPercent).toBe(100);
    rules = rulesOf(peer);
    expect(rules).toHaveLength(2); // the test rule is gone
    expect(refsOf(rules[1]!)).toEqual(["web-v2 100", "web-legacy 0"]);
    // The other rule, and every field of the split rule but its backendRefs, byte for byte.
    expect(JSON.stringify(rules[0])).toBe(JSON.stringify(before[0]));
    const { backendRefs: _a, ...restAfter } = rules[1]!;
    const { backendRefs: _b, ...restBefore } = before[1]!;
    expect(JSON.stringify(restAfter)).toBe(JSON.stringify(restBefore));
    expect(JSON.stringify((rules[1]!.backendRefs as unknown[])[1])).toBe(JSON.stringify((before[1]!.backendRefs as unknown[])[1]));
    expect(stored(peer).metadata).toMatchObject({ labels: { team: "shop" }, annotations: { note: "hand-written" } });

    // Every write was a server-side apply of spec.rules alone under the bot's manager, never forced, went
    // through the discovered version, carried a resourceVersion, and fits the CRD.
    const puts = peer.mutations("httproutes", NS, "web");
    expect(puts.map((r) => r.method)).toEqual(["PATCH", "PATCH", "PATCH", "PATCH"]);
    for (const r of puts) {
      expect(new URLSearchParams(r.query).get("fieldManager")).toBe("rollout-bot");
      expect(new URLSearchParams(r.query).get("force")).toBe("false");
      expect(Object.keys((r.body as KubeObject).spec as object)).toEqual(["rules"]);
      expect(r.path).toContain(`/gateway.networking.k8s.io/${written}/`);
      const body = r.body as KubeObject;
      expect(body.metadata?.resourceVersion).toMatch(/^\d+$/);
      expect(body.status).toBeUndefined();
      expect(validateAgainst(SCHEMAS.get(written)!, body)).toEqual([]);
    }
  });

  it("a finish that landed before the process died is its own write when retried, not a hand edit", async () => {
    seed();
    const t = target(style);
    await router.apply(t, PAIR, 0);
    const at100 = await router.apply(t, PAIR, 100, { canaryPercent: 0 });
    // The record still holds the print of the last verified step: the finish was written, never recorded.
    const expect100 = { canaryPercent: 100, print: at100.print };
    await router.finalize(t, PAIR, "canary", { expect: expect100 });
    const again = await router.finalize(t, PAIR, "canary", { expect: expect100 });
    expect(again.canaryPercent).toBe(100);
    expect(refsOf(rulesOf(peer)[1]!)).toEqual(["web-v2 100", "web-legacy 0"]);
    expect(peer.mutations("httproutes", NS, "web").filter((r) => r.method === "PATCH")).toHaveLength(3);
  });

  it("abort puts all weight back on stable and removes the test rule; keep-zero finish keeps the stable at 0", async () => {
    seed();
    const t = target(style);
    await router.apply(t, PAIR, 0);
    await router.apply(t, PAIR, 10, { canaryPercent: 0 });
    const back = await router.finalize(t, PAIR, "stable", { force: true });
    expect(back.canaryPercent).toBe(0);
    expect(rulesOf(peer)).toHaveLength(2);
    expect(refsOf(rulesOf(peer)[1]!)).toEqual(["web-v1 100", "web-v2 0", "web-legacy 0"]);

    seed();
    const keep = target(style, { finish: "keep-zero" });
    await router.apply(keep, PAIR, 0);
    await router.apply(keep, PAIR, 100, { canaryPercent: 0 });
    await router.finalize(keep, PAIR, "canary", { expect: { canaryPercent: 100 } });
    expect(refsOf(rulesOf(peer)[1]!)).toEqual(["web-v1 0", "web-v2 100", "web-legacy 0"]);
    expect(rulesOf(peer)).toHaveLength(2);
  });

  it("a 409 is retried from a fresh read; a hand edit of the weights is drift and nothing is overwritten", async () => {
    seed();
    const t = target(style);
    await router.apply(t, PAIR, 0);
    await router.apply(t, PAIR, 10, { canaryPercent: 0 });
    peer.reset();
    peer.failNext({ method: "PATCH", pathIncludes: "/httproutes/web", status: 409 });
    const obs = await router.apply(t, PAIR, 50, { canaryPercent: 10 });
    expect(obs.canaryPercent).toBe(50);
    expect(peer.mutations("httproutes", NS, "web").map((r) => r.status)).toEqual([409, 200]);

    // Someone moves the weights by hand between the bot's steps.
    peer.edit("httproutes", NS, "web", (o) => {
      const refs = (o.spec as { rules: { backendRefs: { weight: number }[] }[] }).rules[1]!.backendRefs;
      refs[0]!.weight = 30;
      refs[1]!.weight = 70;
    });
    const edited = stored(peer);
    peer.reset();
    const err = await rejection(router.apply(t, PAIR, 100, { canaryPercent: 50 }));
    expect(err.code).toBe("drift");
    expect(err.message).toContain(`HTTPRoute shop/web was changed by someone else: expected 50% canary, found`);
    expect(err.message).toContain("web-v1 30 / web-v2 70 / web-legacy 0 (70% canary)");
    expect(writes(peer)).toBe(0);
    expect(stored(peer)).toEqual(edited);

    // Abort writes over it (a person chose to), all back on stable.
    expect((await router.finalize(t, PAIR, "stable", { force: true })).canaryPercent).toBe(0);
  });

  it("a route deleted mid-rollout is drift; one the controller refuses stops with its reason; silence is not success", async () => {
    seed();
    const t = target(style);
    await router.apply(t, PAIR, 0);
    // The split rule removed by hand: drift, on the periodic check (observe) and before the next write.
    peer.edit("httproutes", NS, "web", (o) => void (o.spec as { rules: unknown[] }).rules.splice(1, 1));
    const noRule =
      style === "mesh" ? "HTTPRoute shop/web has no rule named api" : "HTTPRoute shop/web has no rule #1 (it has 1 rule besides the bot's test rule)";
    expect(await rejection(router.observe(t, PAIR))).toMatchObject({ code: "drift", message: expect.stringContaining(noRule) });
    expect(await rejection(router.apply(t, PAIR, 10, { canaryPercent: 0 }))).toMatchObject({ code: "drift", message: expect.stringContaining(noRule) });
    peer.remove("httproutes", NS, "web");
    const gone = await rejection(router.apply(t, PAIR, 10, { canaryPercent: 0 }));
    expect([gone.code, gone.message]).toEqual(["drift", "HTTPRoute shop/web is gone: it was deleted after the bot set it to 0% canary"]);
    expect((await rejection(router.observe(t, PAIR))).code).toBe("not-found");

    seed();
    peer.gateway.refuse = { condition: "ResolvedRefs", reason: "BackendNotFound", message: "Service shop/web-v2 not found" };
    const refused = await rejection(router.apply(t, PAIR, 0));
    expect(refused.code).toBe("rejected");
    expect(refused.message).toBe(
      `HTTPRoute shop/web was refused by its parent ${style === "mesh" ? "Service shop/web (port 80)" : "Gateway infra/public (section https)"}: ` +
        "ResolvedRefs=False (BackendNotFound): Service shop/web-v2 not found",
    );
    peer.gateway.refuse = { condition: "Accepted", reason: "NotAllowedByListeners", message: "no listener allows this route" };
    const notAccepted = await rejection(router.apply(t, PAIR, 10, { canaryPercent: 0 }));
    expect(notAccepted.message).toContain("Accepted=False (NotAllowedByListeners): no listener allows this route");
    // An abort still completes: the refusal is shown in what it reports, not a reason to stop going back.
    const aborted = await router.finalize(t, PAIR, "stable", { force: true });
    expect(aborted.raw).toContain("Accepted=False (NotAllowedByListeners)");

    delete peer.gateway.refuse;
    peer.gateway.mode = "silent"; // no controller picks up the next generation
    const pending = await rejection(router.apply(t, PAIR, 0));
    expect(pending.code).toBe("unavailable");
    expect(pending.transient).toBe(true);
    expect(pending.message).toMatch(/^HTTPRoute shop\/web holds 0% canary but is not yet confirmed by .*: its status is for an older generation than \d+$/);
    peer.gateway.mode = "accept";
    peer.edit("httproutes", NS, "web", (o) => void (o.metadata!.labels = { team: "shop", touched: "yes" })); // the controller catches up
    expect((await router.apply(t, PAIR, 0)).canaryPercent).toBe(0);
  });

  it("refuses bad input privately, naming it, and writes nothing", async () => {
    const t = target(style);
    expect(await router.validate(t, PAIR)).toBe("HTTPRoute shop/web does not exist");
    seed();
    expect(await router.validate(target(style, { rule: "nope" }), PAIR)).toMatch(/^HTTPRoute shop\/web has no rule named nope/);
    expect(await router.validate(target(style, { rule: 7 }), PAIR)).toBe("HTTPRoute shop/web has no rule #7 (it has 2 rules)");
    expect(await router.validate(t, { stable: "web-v0", canary: "web-v2" })).toMatch(/^HTTPRoute shop\/web rule (api|#1) has no backendRef to Service web-v0/);
    expect(await router.validate(target(style, { rule: 0 }), PAIR)).toMatch(/^HTTPRoute shop\/web rule static has no backendRef to Service web-v1/);
    peer.edit("httproutes", NS, "web", (o) => {
      (o.spec as { rules: { backendRefs: { weight: number }[] }[] }).rules[1]!.backendRefs[1]!.weight = 5;
    });
    expect(await router.validate(t, PAIR)).toMatch(/also sends traffic to web-legacy, which is not part of this rollout \(web-v1 -> web-v2\)$/);

    // 16 rules already: the test rule would break the CRD's limit.
    seed();
    peer.edit("httproutes", NS, "web", (o) => {
      const spec = o.spec as { rules: unknown[] };
      for (let i = 0; spec.rules.length < 16; i++)
        spec.rules.push({ matches: [{ path: { type: "PathPrefix", value: `/x${i}` } }], backendRefs: [{ name: "x", port: 80 }] });
    });
    expect(await router.validate(t, PAIR)).toBe("HTTPRoute shop/web cannot take the bot's test rule: it would have 17 rules, and the CRD allows at most 16");

    // A stable backendRef without a port (a route from before the CRD's CEL rules) and none in the target.
    seed();
    peer.edit("httproutes", NS, "web", (o) => {
      delete (o.spec as { rules: { backendRefs: { port?: number }[] }[] }).rules[1]!.backendRefs[0]!.port;
    });
    expect(await router.validate(t, PAIR)).toMatch(
      /^HTTPRoute shop\/web rule (api|#1): backendRef web-v2 needs a port and the target names none \(set gateway.port\)$/,
    );
    expect(await router.validate(target(style, { port: 9090 }), PAIR)).toBeUndefined();
    expect(writes(peer)).toBe(0);
  });
});

describe("the HTTPRoute schema check the peer applies (read from the reference CRD)", () => {
  it("accepts the fixture and refuses what the API server would", () => {
    const ok = route("mesh");
    expect(validateAgainst(SCHEMAS.get("v1")!, ok)).toEqual([]);
    const bad = structuredClone(ok) as { spec: { rules: Record<string, unknown>[] } };
    bad.spec.rules[0]!.name = "Not_A_Name";
    (bad.spec.rules[1]!.backendRefs as Record<string, unknown>[])[0]!.weight = 1_000_001;
    bad.spec.rules[1]!.matches = [{ headers: [{ name: "bad header", value: "x" }] }];
    bad.spec.rules[1]!.surprise = true;
    expect(validateAgainst(SCHEMAS.get("v1")!, bad).map((c) => c.field)).toEqual([
      "spec.rules[0].name",
      "spec.rules[1].matches[0].headers[0].name",
      "spec.rules[1].backendRefs[0].weight",
      "spec.rules[1].surprise",
    ]);
  });
});

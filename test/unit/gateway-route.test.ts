import { describe, expect, it } from "vitest";
import {
  findRule,
  handEdits,
  limitProblem,
  parentVerdicts,
  renderVerdicts,
  rulePrint,
  sharesOf,
  testRuleFor,
  testRuleIndex,
  withTestRule,
  withWeights,
  withoutTestRule,
  type HttpRoute,
} from "../../src/routers/gateway-route.ts";

/** The HTTPRoute manipulation the Gateway router relies on, as pure functions (issue 14). */

const PAIR = { stable: "web-v1", canary: "web-v2" };
const LABEL = "HTTPRoute shop/web";

function route(over: Partial<HttpRoute["spec"]> = {}, status?: HttpRoute["status"], generation = 3): HttpRoute {
  return {
    metadata: { name: "web", namespace: "shop", generation },
    spec: {
      parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }],
      rules: [
        { name: "static", backendRefs: [{ name: "static-files", port: 80, weight: 1 }] },
        {
          name: "api",
          matches: [{ path: { type: "PathPrefix", value: "/api" } }],
          backendRefs: [{ group: "", kind: "Service", name: "web-v1", port: 8080, weight: 1 }],
        },
      ],
      ...over,
    },
    ...(status ? { status } : {}),
  };
}

describe("finding the split rule", () => {
  it("by name, by index, or as the one rule routing to stable (then to canary once stable is gone); never the bot's test rule", () => {
    const r = route();
    expect(findRule(r, "api", PAIR, "x-rollout", LABEL)).toMatchObject({ ok: true, index: 1 });
    expect(findRule(r, 1, PAIR, "x-rollout", LABEL)).toMatchObject({ ok: true, index: 1 });
    expect(findRule(r, undefined, PAIR, "x-rollout", LABEL)).toMatchObject({ ok: true, index: 1 });
    const withTest = withTestRule(
      r,
      { matches: [{ headers: [{ name: "X-Rollout", value: "web-v2" }] }], backendRefs: [{ name: "web-v2", port: 8080 }] },
      "x-rollout",
    );
    expect(findRule(withTest, 2, PAIR, "x-rollout", LABEL)).toEqual({
      ok: false,
      problem: "HTTPRoute shop/web has no rule #2 (it has 2 rules besides the bot's test rule)",
    });
    // After Finish removed the stable's backendRef, the rule is the one with the canary (not the test rule).
    const finished = withWeights(withTest, { ruleIndex: 1, backends: PAIR, percent: 100, dropStable: true });
    expect(findRule(finished, undefined, PAIR, "x-rollout", LABEL)).toMatchObject({ ok: true, index: 1 });
    const twice = route({ rules: [route().spec.rules![1]!, { ...route().spec.rules![1]!, name: "api2" }] });
    expect(findRule(twice, undefined, PAIR, "x-rollout", LABEL)).toEqual({
      ok: false,
      problem: "HTTPRoute shop/web routes to Service web-v1 in 2 rules (rule api, rule api2): name the one to shift in the target's gateway.rule",
    });
  });
});

describe("weights", () => {
  it("sets exactly the pair's weights, adds the canary after the stable with its port, leaves other backendRefs as they are", () => {
    const r = route();
    r.spec.rules![1]!.backendRefs!.push({ name: "web-legacy", port: 8080, weight: 0, filters: [{ type: "RequestHeaderModifier" }] } as never);
    const next = withWeights(r, { ruleIndex: 1, backends: PAIR, percent: 30 });
    expect(next.spec.rules![1]!.backendRefs).toEqual([
      { group: "", kind: "Service", name: "web-v1", port: 8080, weight: 70 },
      { group: "", kind: "Service", name: "web-v2", port: 8080, weight: 30 },
      { name: "web-legacy", port: 8080, weight: 0, filters: [{ type: "RequestHeaderModifier" }] },
    ]);
    expect(JSON.stringify(next.spec.rules![0])).toBe(JSON.stringify(r.spec.rules![0]));
    expect(r.spec.rules![1]!.backendRefs![0]!.weight).toBe(1); // the input is not mutated
    expect(sharesOf(next.spec.rules![1]!, PAIR, "shop")).toMatchObject({ stable: 70, canary: 30, total: 100 });
    expect(() => withWeights(route({ rules: [{ backendRefs: [{ name: "web-v1", weight: 1 }] }] }), { ruleIndex: 0, backends: PAIR, percent: 0 })).toThrow(
      "backendRef web-v2 needs a port and the target names none (set gateway.port)",
    );
  });
});

describe("the test rule", () => {
  it("copies the split rule's matches with the header added (replacing one of the same name, any case), routes only to the canary", () => {
    const split = {
      matches: [
        {
          path: { type: "Exact", value: "/a" },
          headers: [
            { name: "X-ROLLOUT", value: "old" },
            { name: "x-team", value: "a" },
          ],
        },
      ],
      filters: [{ type: "URLRewrite" }],
    };
    const rule = testRuleFor(split, { name: "web-v2", port: 8080 }, { name: "x-rollout", value: "web-v2" });
    expect(rule).toEqual({
      matches: [
        {
          path: { type: "Exact", value: "/a" },
          headers: [
            { name: "x-team", value: "a" },
            { type: "Exact", name: "x-rollout", value: "web-v2" },
          ],
        },
      ],
      backendRefs: [{ name: "web-v2", port: 8080, weight: 1 }],
      filters: [{ type: "URLRewrite" }],
    });
    // No matches on the split rule: the CRD's default match (all paths) plus the header.
    expect(testRuleFor({}, { name: "web-v2", port: 1 }, { name: "x-rollout", value: "v" }).matches).toEqual([
      { path: { type: "PathPrefix", value: "/" }, headers: [{ type: "Exact", name: "x-rollout", value: "v" }] },
    ]);
    const added = withTestRule(route(), rule, "x-rollout");
    expect(testRuleIndex(added, "X-Rollout")).toBe(2);
    expect(withTestRule(added, rule, "x-rollout").spec.rules).toHaveLength(3); // replaced, not added twice
    expect(withoutTestRule(added, "x-rollout").spec.rules).toEqual(route().spec.rules);
  });

  it("the CRD's limits: 16 rules, 16 backendRefs, 16 header matches, 128 matches in all", () => {
    const many = (n: number) => Array.from({ length: n }, () => ({ backendRefs: [{ name: "x", port: 1 }] }));
    expect(limitProblem(route({ rules: many(16) }))).toBeUndefined();
    expect(limitProblem(route({ rules: many(17) }))).toBe("it would have 17 rules, and the CRD allows at most 16");
    expect(limitProblem(route({ rules: [{ backendRefs: Array.from({ length: 17 }, () => ({ name: "x", port: 1 })) }] }))).toBe(
      "rule #0 would have 17 backendRefs, and the CRD allows at most 16",
    );
    expect(limitProblem(route({ rules: [{ name: "h", matches: [{ headers: Array.from({ length: 17 }, (_, i) => ({ name: `h${i}`, value: "v" })) }] }] }))).toBe(
      "a match of rule h would have 17 header matches, and the CRD allows at most 16",
    );
    const matches = Array.from({ length: 60 }, () => ({}));
    expect(limitProblem(route({ rules: [{ matches }, { matches }, { matches: matches.slice(0, 9) }] }))).toBe(
      "it would have 129 matches across its rules, and the CRD allows at most 128",
    );
  });
});

describe("what the controllers say (status.parents)", () => {
  const cond = (type: string, status: string, observedGeneration: number, reason = type) => ({
    type,
    status,
    reason,
    message: `${type} ${status}`,
    observedGeneration,
  });
  const parent = (conditions: ReturnType<typeof cond>[], parentRef: Record<string, unknown> = { group: "core", kind: "Service", name: "web", port: 80 }) => ({
    parents: [{ parentRef: parentRef as { name: string }, controllerName: "linkerd.io/gateway-controller", conditions }],
  });

  it("accepted only with Accepted=True for this generation; refused on a current False; pending without an entry or with an old one", () => {
    expect(parentVerdicts(route({}, parent([cond("Accepted", "True", 3), cond("ResolvedRefs", "True", 3)])))).toEqual([
      { parent: "Service shop/web (port 80)", state: "accepted" },
    ]);
    expect(parentVerdicts(route({}, parent([cond("Accepted", "True", 3), cond("ResolvedRefs", "False", 3, "BackendNotFound")])))).toEqual([
      { parent: "Service shop/web (port 80)", state: "refused", condition: "ResolvedRefs", reason: "BackendNotFound", message: "ResolvedRefs False" },
    ]);
    // An old refusal is history, not a verdict on what the bot just wrote: pending.
    expect(parentVerdicts(route({}, parent([cond("Accepted", "False", 2, "NotAllowedByListeners")])))[0]).toMatchObject({ state: "pending" });
    expect(parentVerdicts(route({}, undefined))[0]).toEqual({
      parent: "Service shop/web (port 80)",
      state: "pending",
      why: "no controller has reported on it yet",
    });
    // "core" and "" are the same group; a Gateway parent's group and kind default.
    expect(parentVerdicts(route({}, parent([cond("Accepted", "True", 3)], { group: "", kind: "Service", name: "web", port: 80 })))[0]!.state).toBe("accepted");
    const gw = route(
      { parentRefs: [{ name: "public", namespace: "infra", sectionName: "https" }] },
      parent([cond("Accepted", "True", 3)], { group: "gateway.networking.k8s.io", kind: "Gateway", name: "public", namespace: "infra", sectionName: "https" }),
    );
    expect(renderVerdicts(parentVerdicts(gw))).toBe("Gateway infra/public (section https) accepted");
  });
});

describe("the rule as the bot manages it", () => {
  const at = (r: HttpRoute) => rulePrint(r, 1, PAIR, "x-rollout");
  const edited = (f: (r: HttpRoute) => void) => {
    const r = structuredClone(route());
    f(r);
    return r;
  };
  const api = route().spec.rules![1]!;

  it("the pair's weights are not part of it; every other part of the rule is, each named", () => {
    expect(handEdits(at(route()), at(withWeights(route(), { ruleIndex: 1, backends: PAIR, percent: 30, port: 8080 })), api, 1)).toBe(
      "rule `api`: its backendRefs (other than the two weights) were changed by hand", // the canary's backendRef was added
    );
    const base = withWeights(route(), { ruleIndex: 1, backends: PAIR, percent: 10, port: 8080 });
    expect(handEdits(at(base), at(withWeights(base, { ruleIndex: 1, backends: PAIR, percent: 30 })), api, 1)).toBeUndefined();
    const both = edited((r) => {
      r.spec.rules![1]!.matches = [{ path: { type: "Exact", value: "/api" } }];
      r.spec.rules![1]!.filters = [{ type: "RequestHeaderModifier" }];
    });
    expect(handEdits(at(route()), at(both), api, 1)).toBe("rule `api`: its matches and its filters were changed by hand");
    expect(handEdits(at(route()), at(edited((r) => (r.spec.rules![1]!.timeouts = { request: "5s" }))), { backendRefs: [] }, 1)).toBe(
      "rule #1: its other settings (name, timeouts, retry, session persistence) were changed by hand",
    );
  });

  it("an edit of the bot's test rule is one; its removal is not (the next write puts it back)", () => {
    const withTest = withTestRule(route(), testRuleFor(api, api.backendRefs![0]!, { name: "x-rollout", value: "web-v2" }), "x-rollout");
    const changed = structuredClone(withTest);
    changed.spec.rules![2]!.backendRefs = [{ name: "web-v1", port: 8080 }];
    expect(handEdits(at(withTest), at(changed), api, 1)).toBe("the bot's test rule was changed by hand");
    expect(handEdits(at(withTest), at(withoutTestRule(withTest, "x-rollout")), api, 1)).toBeUndefined();
  });
});

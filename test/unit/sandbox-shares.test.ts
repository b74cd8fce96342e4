import { describe, expect, it } from "vitest";
import { parseNameTree } from "../../src/routers/dtab.ts";
import { webRoute } from "../../sandbox/seed.ts";
import { routeShares, splitShares, treeShares, type RouteSelection } from "../../sandbox/shares.ts";

const obj = (m: Map<string, number>) => Object.fromEntries([...m].map(([k, v]) => [k, Math.round(v * 1000) / 1000]));

describe("the shares of traffic the mesh gives each version", () => {
  it("reads a TrafficSplit's weights, integers or quantities", () => {
    expect(
      obj(
        splitShares({
          backends: [
            { service: "v1", weight: 90 },
            { service: "v2", weight: 10 },
          ],
        }),
      ),
    ).toEqual({ v1: 0.9, v2: 0.1 });
    expect(
      obj(
        splitShares({
          backends: [
            { service: "v1", weight: "900m" },
            { service: "v2", weight: "100m" },
          ],
        }),
      ),
    ).toEqual({ v1: 0.9, v2: 0.1 });
    expect(
      obj(
        splitShares({
          backends: [
            { service: "v1", weight: 100 },
            { service: "v2", weight: 0 },
          ],
        }),
      ),
    ).toEqual({ v1: 1 });
    expect(splitShares({ backends: [{ service: "v1", weight: 0 }] }).size).toBe(0);
    expect(splitShares(undefined).size).toBe(0);
  });

  it("walks a dtab tree as Linkerd balances it: unions by weight, alternations by first live branch", () => {
    const dst = "/srv/{version}";
    expect(obj(treeShares(parseNameTree("/srv/world-v1"), dst))).toEqual({ "world-v1": 1 });
    expect(obj(treeShares(parseNameTree("0.9 * /srv/world-v1 & 0.1 * /srv/world-v2"), dst))).toEqual({ "world-v1": 0.9, "world-v2": 0.1 });
    expect(obj(treeShares(parseNameTree("~ | /srv/world-v2"), dst))).toEqual({ "world-v2": 1 });
    expect(obj(treeShares(parseNameTree("3 * (/srv/a & /srv/b) & /srv/c"), dst))).toEqual({ a: 0.375, b: 0.375, c: 0.25 });
    expect(treeShares(parseNameTree("/elsewhere/x"), dst).size).toBe(0);
    expect(treeShares(parseNameTree("!"), dst).size).toBe(0);
  });

  it("reads the split rule of an HTTPRoute by version, ignoring the other rules and the bot's test rule", () => {
    const sel: RouteSelection = {
      rule: "api",
      backends: { stable: "web-v1", canary: "web-v2" },
      testHeader: "x-rollout",
      versions: { stable: "web-v1", canary: "web-v2" },
    };
    const route = webRoute();
    expect(obj(routeShares(route, sel))).toEqual({ "web-v1": 1 });
    const spec = route.spec as { rules: { name?: string; matches?: unknown[]; backendRefs: { name: string; port: number; weight?: number }[] }[] };
    spec.rules[1]!.backendRefs = [
      { name: "web-v1", port: 80, weight: 900 },
      { name: "web-v2", port: 80, weight: 100 },
    ];
    spec.rules.push({ matches: [{ headers: [{ name: "x-rollout", value: "web-v2" }] }], backendRefs: [{ name: "web-v2", port: 80, weight: 1 }] });
    expect(obj(routeShares(route, sel))).toEqual({ "web-v1": 0.9, "web-v2": 0.1 });
    // The CRD's default weight is 1; a rule that is gone routes nothing we can name.
    delete spec.rules[1]!.backendRefs[0]!.weight;
    spec.rules[1]!.backendRefs[1]!.weight = 1;
    expect(obj(routeShares(route, sel))).toEqual({ "web-v1": 0.5, "web-v2": 0.5 });
    expect(routeShares(route, { ...sel, rule: "checkout" }).size).toBe(0);
    expect(routeShares({ kind: "HTTPRoute" }, sel).size).toBe(0);
  });
});

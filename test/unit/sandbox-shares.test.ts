import { describe, expect, it } from "vitest";
import { parseNameTree } from "../../src/routers/dtab.ts";
import { splitShares, treeShares } from "../../src/sandbox/shares.ts";

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
});

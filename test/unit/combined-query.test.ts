import { describe, expect, it } from "vitest";
import { combineParts, PART_LABEL, splitParts } from "../../src/metrics/combined-query.ts";
import { seriesKey } from "../../src/metrics/prometheus.ts";

describe("combineParts", () => {
  it("tags each part with its own marker value and joins them with or", () => {
    expect(
      combineParts([
        { id: "stable.requests", promql: `response_total{deployment="web-v1"}` },
        { id: "stable.scraped", promql: `timestamp(response_total{deployment="web-v1"})` },
      ]),
    ).toBe(
      `label_replace(response_total{deployment="web-v1"}\n, "rollout_bot_part", "stable.requests", "", "") or ` +
        `label_replace(timestamp(response_total{deployment="web-v1"})\n, "rollout_bot_part", "stable.scraped", "", "")`,
    );
  });

  it("ends each part on a new line, so a template's trailing # comment cannot swallow the rest", () => {
    const q = combineParts([
      { id: "a", promql: "up # the scrape targets" },
      { id: "b", promql: "up" },
    ]);
    expect(q.split("\n")[0]).toBe("label_replace(up # the scrape targets");
    expect(q).toContain(`"rollout_bot_part", "b", "", "")`);
  });

  it("refuses a part id that would need quoting", () => {
    expect(() => combineParts([{ id: 'a", "b', promql: "up" }])).toThrow(/is not a plain label value/);
  });
});

describe("splitParts", () => {
  const row = (metric: Record<string, string>, value = "1") => ({ metric, value });

  it("gives every part its own series without the marker, and an empty answer to a part that selected nothing", () => {
    const split = splitParts(
      [
        row({ __name__: "response_total", pod: "p1", [PART_LABEL]: "requests" }, "10"),
        row({ pod: "p1", [PART_LABEL]: "scraped" }, "1700000000.5"),
        row({ __name__: "response_total", pod: "p2", [PART_LABEL]: "requests" }, "NaN"),
      ],
      ["requests", "scraped", "p99"],
    );
    expect(split).toEqual({
      ok: true,
      value: new Map([
        [
          "requests",
          [
            { metric: { __name__: "response_total", pod: "p1" }, value: "10" },
            { metric: { __name__: "response_total", pod: "p2" }, value: "NaN" },
          ],
        ],
        ["scraped", [{ metric: { pod: "p1" }, value: "1700000000.5" }]],
        ["p99", []],
      ]),
    });
  });

  it("keeps two versions' series apart when their labels are the same but for the marker", () => {
    const split = splitParts(
      [row({ namespace: "a", [PART_LABEL]: "stable.requests" }, "200"), row({ namespace: "a", [PART_LABEL]: "canary.requests" }, "50")],
      ["stable.requests", "canary.requests"],
    );
    if (!split.ok) throw new Error("split failed");
    expect(split.value.get("stable.requests")).toEqual([{ metric: { namespace: "a" }, value: "200" }]);
    expect(split.value.get("canary.requests")).toEqual([{ metric: { namespace: "a" }, value: "50" }]);
  });

  it("a series keyed after the split has the key the same series had when asked alone", () => {
    const alone = { __name__: "response_total", namespace: "a", pod: "web-v1-abc", status_code: "200" };
    const split = splitParts([row({ ...alone, [PART_LABEL]: "requests" })], ["requests"]);
    if (!split.ok) throw new Error("split failed");
    expect(seriesKey(split.value.get("requests")![0]!.metric)).toBe(seriesKey(alone));
  });

  it("a series with no marker, or one the query did not ask, is stray", () => {
    expect(splitParts([row({ pod: "p1" })], ["requests"])).toEqual({ ok: false, error: { stray: row({ pod: "p1" }) } });
    expect(splitParts([row({ [PART_LABEL]: "p99" })], ["requests"])).toEqual({ ok: false, error: { stray: row({ [PART_LABEL]: "p99" }) } });
  });
});

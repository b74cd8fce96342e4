import { describe, expect, it } from "vitest";
import { markApplied, markStarted, newRollout, advance, type Rollout } from "../../src/engine/rollout.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { validateBlocks, VIEW_MAX_BLOCKS } from "../../sandbox/peers/slack/block-kit-limits.ts";
import { chartAltText, chartSvg, readingClusters, weightSteps } from "../../src/slack/views/chart.ts";
import { homeView, weightBar } from "../../src/slack/views/home.ts";
import { readStartForm, startFormView, startRefusalErrors } from "../../src/slack/views/start-form.ts";

/** Issue 15: the start form, the Home board and the chart are pure functions of their inputs. */

const target = TargetSchema.parse({
  name: "backend-svc",
  smi: { trafficSplit: "backend-ts" },
  stable: "v1",
  metrics: { source: "prometheus", prometheusUrl: "http://p:9090", preset: "linkerd2", minSuccessRate: 0.97 },
});

function live(id = "backend-svc#1"): Rollout {
  const r = newRollout({
    id,
    target,
    stable: "v1",
    canary: "v2",
    steps: [10, 50, 100],
    startedBy: "UALICE",
    channel: "C1",
    testStage: false,
    now: 1_700_000_000_000,
  });
  return markStarted(r, { percent: 10, raw: "v1 90 / v2 10", initialRaw: "v1 100" }, 1_700_000_001_000);
}

const form = (over: Record<string, unknown> = {}) => ({
  target: { target: { selected_option: { value: "backend-svc" } } },
  version: { version: { value: "v2" } },
  steps: { steps: { value: null } },
  mode: { mode: { selected_option: { value: "manual" } } },
  interval: { interval: { value: null } },
  deadline: { deadline: { value: null } },
  channel: { channel: { selected_conversation: "C1" } },
  ...over,
});

describe("start form", () => {
  it("reads a complete form into the same request the command builds", () => {
    const out = readStartForm(
      form({
        steps: { steps: { value: "20, 100" } },
        mode: { mode: { selected_option: { value: "auto" } } },
        interval: { interval: { value: "10m" } },
        deadline: { deadline: { value: "2h" } },
      }),
    );
    expect(out).toEqual({
      ok: true,
      value: { channelId: "C1", req: { target: "backend-svc", to: "v2", steps: [20, 100], autoMs: 600_000, deadlineMs: 7_200_000 } },
    });
  });

  it("says what is wrong next to each field, all at once", () => {
    const out = readStartForm(
      form({
        version: { version: { value: "V2!" } },
        steps: { steps: { value: "50,10" } },
        interval: { interval: { value: "5m" } },
        channel: { channel: { selected_conversation: null } },
      }),
    );
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(Object.keys(out.errors).sort()).toEqual(["channel", "interval", "steps", "version"]);
    expect(out.errors.interval).toContain("only for automatic mode");
    expect(readStartForm(undefined)).toMatchObject({
      ok: false,
      errors: { target: "Pick a target.", version: expect.any(String), channel: expect.any(String) },
    });
  });

  it("reads an image to deploy first, with or without a version, and says next to the field when it is not an image", () => {
    const out = readStartForm(form({ version: { version: { value: null } }, image: { image: { value: "registry.example.com/world:2.0" } } }));
    expect(out).toEqual({ ok: true, value: { channelId: "C1", req: { target: "backend-svc", image: "registry.example.com/world:2.0", manual: true } } });
    const bad = readStartForm(form({ image: { image: { value: "World:2" } } }));
    expect(bad).toEqual({ ok: false, errors: { image: "--image World:2 is not a valid image reference: the repository must be lower-case" } });
    expect(startRefusalErrors({ code: "deploy-not-enabled", target: "backend-svc" })).toHaveProperty("image");
    const view = JSON.stringify(startFormView({ targets: [], channelId: "C1" } as never));
    expect(view).toContain('"block_id":"image"');
  });

  it("puts a refused start next to the field it is about", () => {
    expect(startRefusalErrors({ code: "already-stable", target: "backend-svc", canary: "v1" })).toHaveProperty("version");
    expect(startRefusalErrors({ code: "busy", id: "backend-svc#1", percent: 10 })).toHaveProperty("target");
    expect(startRefusalErrors({ code: "no-metrics-for-auto", target: "backend-svc", byFlag: false })).toHaveProperty("mode");
  });

  it("is a modal Block Kit accepts, even with a hundred and one targets", () => {
    const many = Array.from({ length: 101 }, (_, i) => TargetSchema.parse({ name: `t${i}`, smi: { trafficSplit: `t${i}` } }));
    const view = startFormView({ targets: many });
    expect(validateBlocks(view.blocks as Record<string, unknown>[], { maxBlocks: VIEW_MAX_BLOCKS })).toEqual([]);
  });
});

describe("Home board", () => {
  it("shows each running rollout with its bar, verdict, link and the message's buttons; then ended ones with their duration", () => {
    const ended = { ...live("backend-svc#0"), status: "completed" as const, endedAt: 1_700_000_601_000 };
    const view = homeView({ running: [{ rollout: live(), link: "https://x.slack.com/archives/C1/p1" }], ended: [ended] });
    const text = JSON.stringify(view.blocks);
    expect(text).toContain("<https://x.slack.com/archives/C1/p1|backend-svc#1>");
    expect(text).toContain(weightBar(10));
    expect(text).toContain("Verdict: no reading yet");
    expect(text).toContain('"action_id":"rollout.advance"');
    expect(text).toContain("after 10m");
    expect(validateBlocks(view.blocks)).toEqual([]);
  });

  it("stays within 100 blocks however many rollouts run", () => {
    const running = Array.from({ length: 60 }, (_, i) => ({ rollout: live(`t${i}#1`) }));
    const view = homeView({ running, ended: [], notice: ":no_entry: refused" });
    expect(view.blocks.length).toBeLessThanOrEqual(100);
    expect(validateBlocks(view.blocks, { maxBlocks: VIEW_MAX_BLOCKS })).toEqual([]);
    expect(JSON.stringify(view.blocks)).toContain("and 40 more");
  });
});

describe("chart", () => {
  it("draws the verified weight as steps, both rates, each decision and the threshold", () => {
    const moved = advance(live(), { kind: "user", id: "UBOB" }, 0, 1_700_000_030_000);
    if (!moved.ok) throw new Error(moved.error.code);
    const r = markApplied(moved.value, 50, "v1 50 / v2 50", 1_700_000_031_000);
    expect(weightSteps(r, 1_700_000_060_000).map(([, p]) => p)).toEqual([0, 10, 50, 50]);
    const points = [
      { at: 1_700_000_010_000, canaryPercent: 10, stable: 0.999, canary: 0.985 },
      { at: 1_700_000_020_000, canaryPercent: 10 }, // no traffic: the lines break
      { at: 1_700_000_040_000, canaryPercent: 50, stable: 0.998, canary: 0.99 },
    ];
    const svg = chartSvg(r, points, 1_700_000_060_000);
    expect(svg).toContain("abort threshold 97.0%");
    expect(svg).toContain("→50%");
    expect(svg.match(/<path d="M[^"]*" fill="none" stroke="#(1f77b4|ff7f0e)"/g)).toHaveLength(2);
    expect(svg).not.toMatch(/font-size="\d+"[^>]*font-size=/);
    expect(chartAltText(r, points)).toBe(
      "Success rate of stable v1 and canary v2 over rollout backend-svc#1 (active), 3 readings; last reading: stable 99.8%, canary 99.0% at 50%.",
    );
  });
});

describe("chart of a rollout read in several clusters", () => {
  // A wave's readings: first in staging, then in prod-eu (the record's target.cluster when each was read).
  const points = [
    { at: 1_700_000_010_000, canaryPercent: 10, stable: 0.999, canary: 0.995, cluster: "staging" },
    { at: 1_700_000_020_000, canaryPercent: 50, stable: 0.998, canary: 0.994, cluster: "staging" },
    { at: 1_700_000_035_000, canaryPercent: 10, stable: 0.997, canary: 0.981, cluster: "prod-eu" },
    { at: 1_700_000_045_000, canaryPercent: 10, stable: 0.996, canary: 0.979, cluster: "prod-eu" },
  ];
  // A solid success-rate line: the canary's, one per cluster (stable's are dotted).
  const solidLines = (svg: string) => [...svg.matchAll(/<path d="(M[^"]*)" fill="none" stroke="(#[0-9a-f]{6})" stroke-width="2"\/>/g)];

  it("draws the canary's line once per cluster, each in its own colour, and the legend names each cluster", () => {
    const svg = chartSvg(live(), points, 1_700_000_060_000);
    const lines = solidLines(svg);
    expect(lines).toHaveLength(2);
    const [staging, eu] = lines.map((m) => ({ points: m[1]!.split(/[ML]/).filter(Boolean).length, color: m[2]! }));
    expect(staging!.points).toBe(2);
    expect(eu!.points).toBe(2);
    expect(staging!.color).not.toBe(eu!.color);
    // Stable's line per cluster, dotted, in the same colours.
    expect(svg.match(new RegExp(`stroke="${staging!.color}" stroke-width="1.5" stroke-dasharray="2 3"`, "g"))).toHaveLength(1);
    expect(svg.match(new RegExp(`stroke="${eu!.color}" stroke-width="1.5" stroke-dasharray="2 3"`, "g"))).toHaveLength(1);
    expect(svg).toContain(">staging: canary v2</text>");
    expect(svg).toContain(">prod-eu: canary v2</text>");
    expect(svg).toContain(">stable v1 (dotted)</text>");
    // The per-version legend of a one-cluster chart is not there: the colours are the clusters'.
    expect(svg).not.toContain(">canary v2</text>");
    expect(svg).toContain("abort threshold 97.0%");
    expect(svg).not.toMatch(/font-size="\d+"[^>]*font-size=/);
  });

  it("counts a point stored without a cluster as the bot's own, and says each cluster's last reading in words", () => {
    const mixed = [{ at: 1_700_000_005_000, canaryPercent: 10, stable: 1, canary: 1 }, ...points.slice(2)];
    expect(readingClusters(mixed)).toEqual([undefined, "prod-eu"]);
    const svg = chartSvg(live(), mixed, 1_700_000_060_000);
    expect(solidLines(svg)).toHaveLength(2);
    expect(svg).toContain(">own cluster: canary v2</text>");
    expect(chartAltText(live(), mixed)).toBe(
      "Success rate of stable v1 and canary v2 over rollout backend-svc#1 (active), 3 readings in 2 clusters, one line each (own cluster, prod-eu); " +
        "last reading in each: own cluster stable 100.0%, canary 100.0% at 10%; prod-eu stable 99.6%, canary 97.9% at 10%.",
    );
  });

  it("grows the picture for a legend of many clusters instead of drawing it over the time axis", () => {
    const ten = Array.from({ length: 10 }, (_, i) => ({ at: 1_700_000_002_000 + i * 5_000, canaryPercent: 10, stable: 0.999, canary: 0.99, cluster: `c${i}` }));
    const svg = chartSvg(live(), ten, 1_700_000_060_000);
    // One path per cluster (a single reading is a dot on it), in seven colours that then repeat.
    expect(solidLines(svg)).toHaveLength(10);
    expect(new Set(solidLines(svg).map((m) => m[2])).size).toBe(7);
    for (let i = 0; i < 10; i++) expect(svg).toContain(`>c${i}: canary v2</text>`);
    // 15 legend entries: five rows of three, two more than fit under a one-cluster chart.
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="900" height="476" viewBox="0 0 900 476">/);
    expect(chartSvg(live(), ten.slice(0, 2), 1_700_000_060_000)).toMatch(/height="440"/);
  });
});

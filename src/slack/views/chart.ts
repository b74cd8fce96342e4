import type { ChartPoint } from "../../app/slack-side.ts";
import type { Rollout, RolloutEvent } from "../../engine/rollout.ts";

/**
 * The success-rate chart of one rollout, as SVG (rasterised to PNG by the chart job). Pure: the same record
 * and readings give the same picture. It shows stable's and the canary's success rate over the rollout, the
 * canary's verified weight as steps (right axis), a mark where a person or the bot acted, and the abort
 * threshold (the target's minimum success rate). Readings taken in more than one cluster get one line per
 * cluster, each in a colour of its own (the canary solid, stable dotted), the legend naming the clusters.
 */

/** `stableFast` / `canaryFast`: shares of requests within the latency gate's threshold (dashed, same axis). */
export type { ChartPoint } from "../../app/slack-side.ts";

const W = 900;
const H = 440;
const M = { left: 64, right: 64, top: 56, bottom: 92 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;
const COLOR = {
  stable: "#1f77b4",
  canary: "#ff7f0e",
  weight: "#9aa5b1",
  threshold: "#d62728",
  person: "#6f42c1",
  bot: "#6c757d",
  grid: "#e5e8eb",
  text: "#24292f",
};
/**
 * One colour per cluster when readings span several: Okabe and Ito's palette (told apart with the common colour
 * vision deficiencies, all dark enough on white), without its yellow. Beyond seven clusters the colours repeat;
 * each line is also labelled with its cluster where it begins.
 */
const CLUSTER_COLORS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000"];
/** How a cluster is named on the chart: a declared one by its name, the bot's own in words. */
export const clusterLabel = (cluster: string | undefined) => cluster ?? "own cluster";

/** Events that are decisions, shown as marks. */
const DECISIONS: ReadonlySet<RolloutEvent["kind"]> = new Set(["advanced", "finish-requested", "abort-requested", "held", "resumed", "mode"]);

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function hhmm(ms: number, seconds = false): string {
  return new Date(ms).toISOString().slice(11, seconds ? 19 : 16);
}

/** The canary weight the mesh was verified to hold, as a step function: [time, percent] at each change. */
export function weightSteps(r: Rollout, end: number): Array<[number, number]> {
  const out: Array<[number, number]> = [[r.createdAt, 0]];
  for (const e of r.events) {
    // Argo Rollouts: the controller's weight changes are `controller` events with from/to.
    if ((e.kind === "started" || e.kind === "applied" || e.kind === "completed" || e.kind === "aborted" || e.kind === "controller") && e.to !== undefined)
      out.push([e.at, e.to]);
  }
  out.push([end, out.at(-1)![1]]);
  return out;
}

function markLabel(e: RolloutEvent): string {
  switch (e.kind) {
    case "advanced":
      return `→${e.to}%`;
    case "finish-requested":
      return e.from !== undefined && e.from < 100 ? "promote" : "finish";
    case "abort-requested":
      return "abort";
    case "held":
      return "hold";
    case "resumed":
      return "resume";
    default:
      return e.intervalMs === null ? "manual" : "auto";
  }
}

export function chartSvg(r: Rollout, points: ChartPoint[], now: number): string {
  const t0 = r.createdAt;
  const t1 = Math.max(r.endedAt ?? now, t0 + 10_000);
  // Short rollouts (a test, an emergency) need seconds on the time axis to tell the ticks apart.
  const secs = t1 - t0 < 10 * 60_000;
  const threshold = r.target.metrics && r.target.metrics.source !== "none" ? r.target.metrics.minSuccessRate : undefined;
  const gate = r.target.metrics && r.target.metrics.source !== "none" ? r.target.metrics.latency?.thresholdMs : undefined;
  const rates = points.flatMap((p) => [p.stable, p.canary, p.stableFast, p.canaryFast]).filter((x): x is number => x !== undefined);
  // The rate axis starts a little below the lowest rate or the threshold, in whole percent, so both show.
  const low = Math.max(0, Math.floor((Math.min(1, ...rates, threshold ?? 1) - 0.01) * 100) / 100);
  const x = (t: number) => M.left + ((t - t0) / (t1 - t0)) * PW;
  const yRate = (v: number) => M.top + (1 - (v - low) / (1 - low)) * PH;
  const yWeight = (p: number) => M.top + (1 - p / 100) * PH;
  const clusters = readingClusters(points);
  const perCluster = clusters.length > 1 ? clusterLegend(r, clusters, gate) : undefined;
  // Rows of three as in the one-cluster picture; more than three rows make the picture taller.
  const height = perCluster ? H + Math.max(0, Math.ceil(perCluster.length / 3) - 3) * 18 : H;
  const parts: string[] = [];
  const text = (tx: number, ty: number, s: string, attrs = "") => {
    // Defaults only for what the caller did not set (an attribute twice is invalid XML).
    const size = /font-size=/.test(attrs) ? "" : 'font-size="12"';
    const fill = /fill=/.test(attrs) ? "" : `fill="${COLOR.text}"`;
    parts.push(
      `<text x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" ${size} ${fill} ${attrs}>${esc(s)}</text>`,
    );
  };

  parts.push(`<rect width="${W}" height="${height}" fill="#ffffff"/>`);
  text(M.left, 24, `Rollout ${r.id}: ${r.stable || "?"} → ${r.canary} (${r.status})`, 'font-size="16" font-weight="bold"');
  text(
    M.left,
    42,
    `Success rate${gate !== undefined ? ` and share within ${gate} ms` : ""} over the rollout, ${hhmm(t0)}–${hhmm(t1)} UTC`,
    `fill="${COLOR.bot}"`,
  );

  // Grid and axes: rate on the left, canary weight on the right, time below.
  for (let i = 0; i <= 4; i++) {
    const v = low + ((1 - low) * i) / 4;
    const y = yRate(v);
    parts.push(`<line x1="${M.left}" y1="${y.toFixed(1)}" x2="${M.left + PW}" y2="${y.toFixed(1)}" stroke="${COLOR.grid}"/>`);
    text(M.left - 8, y + 4, `${(v * 100).toFixed(1)}%`, 'text-anchor="end"');
    text(M.left + PW + 8, yWeight(i * 25) + 4, `${i * 25}%`, `fill="${COLOR.weight}"`);
  }
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    text(x(t), M.top + PH + 18, hhmm(t, secs), 'text-anchor="middle"');
  }
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" fill="none" stroke="#c9d1d9"/>`);
  text(14, M.top + PH / 2, "success rate", `transform="rotate(-90 14 ${M.top + PH / 2})" text-anchor="middle"`);
  text(W - 12, M.top + PH / 2, "canary weight", `transform="rotate(90 ${W - 12} ${M.top + PH / 2})" text-anchor="middle" fill="${COLOR.weight}"`);

  // Canary weight as a step area.
  const steps = weightSteps(r, t1);
  let d = `M${x(steps[0]![0]).toFixed(1)},${yWeight(0).toFixed(1)}`;
  let prev = 0;
  for (const [t, p] of steps) {
    d += ` L${x(t).toFixed(1)},${yWeight(prev).toFixed(1)} L${x(t).toFixed(1)},${yWeight(p).toFixed(1)}`;
    prev = p;
  }
  d += ` L${x(t1).toFixed(1)},${yWeight(0).toFixed(1)} Z`;
  parts.push(`<path d="${d}" fill="${COLOR.weight}" fill-opacity="0.18" stroke="${COLOR.weight}" stroke-width="1.5"/>`);

  if (threshold !== undefined) {
    const y = yRate(threshold);
    parts.push(
      `<line x1="${M.left}" y1="${y.toFixed(1)}" x2="${M.left + PW}" y2="${y.toFixed(1)}" stroke="${COLOR.threshold}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    );
    text(M.left + PW - 4, y - 5, `abort threshold ${(threshold * 100).toFixed(1)}%`, `text-anchor="end" fill="${COLOR.threshold}"`);
  }

  if (perCluster) return manyClusters({ r, points, clusters, legend: perCluster, parts, text, x, yRate, height });

  // Success-rate lines (and, dashed, the shares within the latency gate's threshold); a reading without a rate
  // (no traffic) breaks the line.
  for (const series of ["stable", "canary", "stableFast", "canaryFast"] as const) {
    const side = series === "stableFast" ? "stable" : series === "canaryFast" ? "canary" : series;
    const dashed = series !== side;
    const path = polyline(points, (p) => p[series], x, yRate, parts, COLOR[side]);
    if (path) parts.push(`<path d="${path.trim()}" fill="none" stroke="${COLOR[side]}" stroke-width="2"${dashed ? ' stroke-dasharray="5 3"' : ""}/>`);
  }

  decisionMarks(r, parts, text, x);

  // Legend.
  const legend: Array<[string, string, string]> = [
    [COLOR.stable, "line", `stable ${r.stable || ""}`],
    [COLOR.canary, "line", `canary ${r.canary}`],
    [COLOR.weight, "area", "canary weight"],
    [COLOR.threshold, "dash", "abort threshold"],
    [COLOR.person, "line", "a person acted"],
    [COLOR.bot, "dash", "the bot acted"],
    ...(gate !== undefined ? ([[COLOR.canary, "dash", `within ${gate} ms (dashed)`]] as Array<[string, string, string]>) : []),
  ];
  for (const [i, [color, kind, label]] of legend.entries()) {
    // Two rows of three, so long version names still fit.
    const lx = M.left + (i % 3) * 260;
    const ly = legend.length > 6 ? H - 56 + Math.floor(i / 3) * 18 : H - 44 + Math.floor(i / 3) * 20;
    if (kind === "area") parts.push(`<rect x="${lx}" y="${ly - 6}" width="18" height="10" fill="${color}" fill-opacity="0.35" stroke="${color}"/>`);
    else
      parts.push(
        `<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${color}" stroke-width="2" ${kind === "dash" ? 'stroke-dasharray="4 3"' : ""}/>`,
      );
    text(lx + 24, ly + 4, clipLabel(label.trim()));
  }
  if (!points.length) text(M.left + PW / 2, M.top + PH / 2, "no success-rate readings were taken", `text-anchor="middle" fill="${COLOR.bot}"`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${parts.join("")}</svg>`;
}

/** Marks where a person (purple) or the bot (grey, dashed) acted. */
function decisionMarks(r: Rollout, parts: string[], text: TextFn, x: (t: number) => number): void {
  for (const [i, e] of r.events.filter((ev) => DECISIONS.has(ev.kind)).entries()) {
    const ex = x(e.at);
    const person = e.actor.kind === "user";
    parts.push(
      `<line x1="${ex.toFixed(1)}" y1="${M.top}" x2="${ex.toFixed(1)}" y2="${M.top + PH}" stroke="${person ? COLOR.person : COLOR.bot}" stroke-width="1.2" ${person ? "" : 'stroke-dasharray="3 3"'}/>`,
    );
    // Labels take turns on three rows, so decisions taken close together stay readable.
    text(ex + 3, M.top + 12 + (i % 3) * 13, markLabel(e), `fill="${person ? COLOR.person : COLOR.bot}" font-size="11"`);
  }
}

type TextFn = (tx: number, ty: number, s: string, attrs?: string) => void;
type LegendEntry = [color: string, kind: "line" | "dash" | "dot" | "area", label: string];

/** The clusters a rollout's readings were taken in, in the order each was first read (undefined: the bot's own). */
export function readingClusters(points: readonly ChartPoint[]): (string | undefined)[] {
  return [...new Set(points.map((p) => p.cluster))];
}

const colorOf = (i: number) => CLUSTER_COLORS[i % CLUSTER_COLORS.length]!;

/** The legend when readings span several clusters: each cluster's colour, then how the series are drawn. */
function clusterLegend(r: Rollout, clusters: (string | undefined)[], gate: number | undefined): LegendEntry[] {
  return [
    ...clusters.map((cl, i): LegendEntry => [colorOf(i), "line", `${clusterLabel(cl)}: canary ${r.canary}`]),
    [COLOR.text, "dot", `stable ${r.stable || ""} (dotted)`],
    ...(gate !== undefined ? ([[COLOR.text, "dash", `within ${gate} ms (dashed)`]] as LegendEntry[]) : []),
    [COLOR.weight, "area", "canary weight"],
    [COLOR.threshold, "dash", "abort threshold"],
    [COLOR.person, "line", "a person acted"],
    [COLOR.bot, "dash", "the bot acted"],
  ];
}

/** How each series is drawn when each cluster has its colour: the canary solid, stable dotted, the latency gate's shares dashed. */
const CLUSTER_SERIES = [
  { series: "stable", width: 1.5, dash: "2 3" },
  { series: "canary", width: 2, dash: undefined },
  { series: "stableFast", width: 1.5, dash: "6 2 1 2" },
  { series: "canaryFast", width: 2, dash: "5 3" },
] as const;

/**
 * The rest of the picture when readings span several clusters: per cluster, its canary's line (solid), its
 * stable's (dotted) and, with the latency gate, their shares within the threshold, all in the cluster's colour,
 * labelled with the cluster where they begin; then the decisions and the legend naming each cluster.
 */
function manyClusters(c: {
  r: Rollout;
  points: ChartPoint[];
  clusters: (string | undefined)[];
  legend: LegendEntry[];
  parts: string[];
  text: TextFn;
  x: (t: number) => number;
  yRate: (v: number) => number;
  height: number;
}): string {
  const { r, points, clusters, legend, parts, text, x, yRate, height } = c;
  for (const [i, cluster] of clusters.entries()) {
    const color = colorOf(i);
    const mine = points.filter((p) => p.cluster === cluster);
    for (const { series, width, dash } of CLUSTER_SERIES) {
      const path = polyline(mine, (p) => p[series], x, yRate, parts, series === "canary" || series === "stable" ? color : undefined);
      if (path) parts.push(`<path d="${path.trim()}" fill="none" stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`);
    }
    // The cluster's name where its readings begin, so lines stay told apart where colours repeat (a white
    // outline keeps it readable over the lines).
    const first = mine.find((p) => p.canary !== undefined || p.stable !== undefined);
    if (first)
      text(
        x(first.at) + 4,
        yRate((first.canary ?? first.stable)!) - 6,
        clusterLabel(cluster),
        `fill="${color}" font-size="11" font-weight="bold" stroke="#ffffff" stroke-width="3" paint-order="stroke"`,
      );
  }
  decisionMarks(r, parts, text, x);
  for (const [i, [color, kind, label]] of legend.entries()) {
    const lx = M.left + (i % 3) * 260;
    const ly = H - 56 + Math.floor(i / 3) * 18;
    if (kind === "area") parts.push(`<rect x="${lx}" y="${ly - 6}" width="18" height="10" fill="${color}" fill-opacity="0.35" stroke="${color}"/>`);
    else
      parts.push(
        `<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${color}" stroke-width="2" ${kind === "dash" ? 'stroke-dasharray="4 3"' : kind === "dot" ? 'stroke-dasharray="2 3"' : ""}/>`,
      );
    text(lx + 24, ly + 4, clipLabel(label.trim()));
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">${parts.join("")}</svg>`;
}

function clipLabel(s: string): string {
  return s.length > 32 ? `${s.slice(0, 31)}…` : s;
}

/** Words for the picture (alt text and the thread comment): what it shows, in one sentence. */
export function chartAltText(r: Rollout, points: ChartPoint[]): string {
  const last = points.at(-1);
  const rate = (v: number | undefined) => (v === undefined ? "no rate" : `${(v * 100).toFixed(1)}%`);
  const fast =
    last && (last.stableFast !== undefined || last.canaryFast !== undefined)
      ? `, within the latency threshold stable ${rate(last.stableFast)}, canary ${rate(last.canaryFast)}`
      : "";
  const lastText = last ? `; last reading: stable ${rate(last.stable)}, canary ${rate(last.canary)} at ${last.canaryPercent}%${fast}` : "; no readings";
  const clusters = readingClusters(points);
  if (clusters.length > 1) {
    // One line per cluster on the picture: in words, each cluster's last reading, in the order they were read.
    const lasts = clusters.map((cl) => {
      const p = points.findLast((x) => x.cluster === cl)!;
      const within =
        p.stableFast !== undefined || p.canaryFast !== undefined
          ? `, within the latency threshold stable ${rate(p.stableFast)}, canary ${rate(p.canaryFast)}`
          : "";
      return `${clusterLabel(cl)} stable ${rate(p.stable)}, canary ${rate(p.canary)} at ${p.canaryPercent}%${within}`;
    });
    return (
      `Success rate of stable ${r.stable} and canary ${r.canary} over rollout ${r.id} (${r.status}), ${points.length} readings in ${clusters.length} clusters, ` +
      `one line each (${clusters.map(clusterLabel).join(", ")}); last reading in each: ${lasts.join("; ")}.`
    );
  }
  return `Success rate of stable ${r.stable} and canary ${r.canary} over rollout ${r.id} (${r.status}), ${points.length} readings${lastText}.`;
}

/**
 * The path data of one line through the readings that have a value (a reading without one breaks the line),
 * pushing a dot of colour `dot` onto `parts` at each reading when given.
 */
function polyline<P extends { at: number }>(
  points: readonly P[],
  value: (p: P) => number | undefined,
  x: (at: number) => number,
  y: (v: number) => number,
  parts: string[],
  dot?: string,
): string {
  let path = "";
  let pen = false;
  for (const p of points) {
    const v = value(p);
    if (v === undefined) {
      pen = false;
      continue;
    }
    path += `${pen ? " L" : " M"}${x(p.at).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
    if (dot) parts.push(`<circle cx="${x(p.at).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" fill="${dot}"/>`);
  }
  return path;
}

import { createRequire } from "node:module";
import { renderAsync } from "@resvg/resvg-js";
import type { Logger } from "pino";
import type { SlackSide } from "../../app/slack-side.ts";
import type { SlackSurfaces } from "../../slack/surfaces-api.ts";
import type { ReadingHistory } from "../../store/readings.ts";
import type { RolloutStore } from "../../store/rollout-store.ts";
import type { SlackMetaStore } from "../../store/slack-meta.ts";

/**
 * Draw a rollout's success-rate chart (SVG, rasterised in-process with resvg: prebuilt binaries, no system
 * packages) and upload it into the rollout's thread. Queued once when a rollout completes or aborts, and
 * when a person asks (`/rollout chart`, the message menu).
 */
export type ChartDeps = {
  store: RolloutStore;
  meta: SlackMetaStore;
  readings: ReadingHistory;
  surfaces: SlackSurfaces;
  slackSide: Pick<SlackSide, "chartSvg" | "chartAltText">;
  log: Logger;
  now: () => number;
};

/**
 * The chart's font ships with the bot (the `dejavu-fonts-ttf` package): a slim container has no system fonts,
 * and the same font everywhere draws the same picture.
 */
const require = createRequire(import.meta.url);
const FONTS = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"].map((f) => require.resolve(`dejavu-fonts-ttf/ttf/${f}`));

/**
 * SVG to PNG at twice the drawing's size (sharp on high-density screens, still ~100 kB). Off the event loop
 * (libuv's thread pool): a synchronous render would stall Slack's requests and the other jobs meanwhile.
 */
export async function chartPng(svg: string): Promise<Buffer> {
  const image = await renderAsync(svg, {
    fitTo: { mode: "zoom", value: 2 },
    font: { fontFiles: FONTS, loadSystemFonts: false, defaultFontFamily: "DejaVu Sans" },
  });
  return image.asPng();
}

/** The rollout's message is not posted yet, so there is no thread for the picture: the job tries again. */
export class NoThreadYet extends Error {
  readonly transient = true;
  constructor(rolloutId: string) {
    super(`rollout ${rolloutId} has no channel message yet`);
    this.name = "NoThreadYet";
  }
}

export async function chartJob(deps: ChartDeps, rolloutId: string): Promise<void> {
  const r = await deps.store.get(rolloutId);
  if (!r || r.status === "rejected") return;
  const { ts } = await deps.meta.get(r.id);
  // The picture goes in the thread: until the message is posted there is no thread (the job retries).
  if (!ts) throw new NoThreadYet(r.id);
  const points = await deps.readings.list(r.id);
  const png = await chartPng(deps.slackSide.chartSvg(r, points, deps.now()));
  const alt = deps.slackSide.chartAltText(r, points);
  await deps.surfaces.uploadFile({
    channel: r.channel,
    threadTs: ts,
    filename: `${r.id.replace("#", "-")}-success-rate.png`,
    title: `Rollout ${r.id}: success rate`,
    altText: alt.slice(0, 1000),
    bytes: png,
    comment: alt,
  });
  deps.log.info({ rolloutId: r.id, bytes: png.length, readings: points.length }, "chart uploaded");
}

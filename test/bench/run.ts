/**
 * `npm run bench`: issue 5's and issue 13's measurements, printed (not a test; nothing is asserted).
 *
 *   npm run bench                       everything (~8-10 minutes on 2 cores), one table at the end
 *   npm run bench -- --runs 10          detection-to-revert repetitions (default 5)
 *   npm run bench -- --rollouts 500     automatic rollouts for the scheduling measurement (default 1000)
 *   npm run bench -- --only detection   or --only scheduling, or --only verdict, or a comma-separated list
 *   --only ack,click,rss,starts,slack   issue 13 (scale.ts), on `node dist/src/main.js` in its own process with
 *                                       --rollouts active: ack latency (idle and loaded), click -> mesh write and
 *                                       kubectl patch, RSS, starts to the first step, Slack calls per minute
 *   --ack-rate 200 --ack-seconds 20     slash commands per second, and for how long, in each ack phase
 *   --clicks 200 --click-rate 10        Advance clicks (on distinct rollouts) and their rate
 *   --slack-seconds 60 --kubectl-runs 10 --skip-build (use dist/ as it is)
 *   --per-namespace 20                  targets per namespace (the SMI router lists a namespace's splits)
 *   --clusters 10                       issue 24: the targets spread over 10 other clusters (a Kubernetes API peer
 *                                       each, declared in the targets file's `clusters:`); default 0
 *   npm run bench -- --only budget      issue 13's Slack budget: --rollouts active rollouts against the Slack
 *                                       peer enforcing Slack's tiers, clicks meanwhile (~80 s; slack-budget.ts)
 *   npm run bench -- --only verdict     issue 19: the bot's reading, folding and verdict code over seeded
 *                                       rollouts on simulated Prometheus scrapes (no Redis or Prometheus
 *                                       needed); --sim-rollouts 1000 --seed 16
 *   npm run bench -- --only verdict-real  issue 19 through a REAL Prometheus scraping a driven linkerd2 exporter
 *                                       (simulated time, production settings; verdict-real.ts): all rows' rollouts
 *                                       at once, --real-rollouts 60 per row (~6-8 minutes on 2 cores), --seed 16;
 *                                       then the same through the Linkerd 1 admin peer
 *   npm run bench -- --only starts-open issue 24: --rollouts signed `/rollout start` sent open loop at --open-rate/s
 *                                       (default 100) over --open-channels channels (default 50), one person each,
 *                                       to `node dist/src/main.js` with the image's ENV and a targets file, the
 *                                       Slack peer and the Kubernetes API peer each in its own process
 *                                       (starts-open.ts): time to every first step on the mesh, on the record and
 *                                       on the message; target 20 s (~2-4 minutes on 2 cores)
 *   npm run bench -- --only wave        issue 24: one wave of one target through --wave-clusters (default 10)
 *                                       Kubernetes API peers, steps 10/50/100, every button clicked through the
 *                                       Slack peer as soon as it is on the message (wave.ts): start -> last cluster
 *                                       at 100%, per cluster, click -> write at gates and steps, requests per
 *                                       cluster and none before its turn (~1 minute on 2 cores)
 *   --rows "sticky,20 req/s"            verdict, verdict-real: only the rows whose label contains one of these
 *   npm run bench -- --json out.json    also write the raw numbers as JSON
 *   --span 20 --lead 10                 scheduling: steps due over <span> s, the first at least <lead> s after
 *                                       the switch (placed so a 30 s reading slot falls mid-span)
 *
 * Needs what the tests need: Redis (REDIS_URL, default 127.0.0.1:6379) and /usr/bin/prometheus.
 * Per-run details go to stderr; the result table to stdout.
 */
import { writeFile } from "node:fs/promises";
import { availableParallelism, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { benchDetection, formatDetection, type DetectionResult } from "./detection.ts";
import { benchScheduling, formatScheduling, type SchedulingResult } from "./scheduling.ts";
import { benchSlackBudget, formatSlackBudget } from "./slack-budget.ts";
import { benchStartsOpen, startsOpenRows, type StartsOpenResult } from "./starts-open.ts";
import { benchWave, waveRows, type WaveResult } from "./wave.ts";
import type { SlackLoadResult } from "../support/slack-load.ts";
import { benchScale, formatTable, SCALE_PHASES, scaleRows, type Row, type ScaleResult } from "./scale.ts";
import { max, median, millis, quantile, secs } from "./stats.ts";
import { formatVerdictTable, simulateRow, VERDICT_ROWS, type RowResult } from "./verdict-sim.ts";
import { LINKERD1_VERDICT_ROWS, linkerd1VerdictRows, REAL_VERDICT_ROWS, realVerdictRows, type RealVerdicts } from "./verdict-real.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    rollouts: { type: "string", default: "1000" },
    span: { type: "string", default: "20" },
    lead: { type: "string", default: "10" },
    only: { type: "string" },
    "sim-rollouts": { type: "string", default: "1000" },
    "real-rollouts": { type: "string", default: "60" },
    seed: { type: "string", default: "16" },
    rows: { type: "string" },
    json: { type: "string" },
    "ack-rate": { type: "string", default: "200" },
    "ack-seconds": { type: "string", default: "20" },
    clicks: { type: "string", default: "200" },
    "click-rate": { type: "string", default: "10" },
    "slack-seconds": { type: "string", default: "60" },
    "kubectl-runs": { type: "string", default: "10" },
    "skip-build": { type: "boolean", default: false },
    "per-namespace": { type: "string", default: "20" },
    "open-rate": { type: "string", default: "100" },
    "open-channels": { type: "string", default: "50" },
    clusters: { type: "string", default: "0" },
    "wave-clusters": { type: "string", default: "10" },
  },
});

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${name} must be a whole number of at least 1, got ${text}\n`);
    process.exit(2);
  }
  return n;
}

const runs = positive("runs", values.runs);
const rollouts = positive("rollouts", values.rollouts);
const spanMs = positive("span", values.span) * 1000;
const leadMs = positive("lead", values.lead) * 1000;
const KINDS = ["verdict", "verdict-real", "detection", "scheduling", "budget", "starts-open", "wave", ...SCALE_PHASES] as const;
type Kind = (typeof KINDS)[number];
const only = values.only?.split(",").map((x) => x.trim());
const bad = only?.filter((x) => !(KINDS as readonly string[]).includes(x));
if (bad?.length) {
  process.stderr.write(`--only takes ${KINDS.join(", ")} (comma-separated), got ${bad.join(", ")}\n`);
  process.exit(2);
}
// verdict-real takes minutes of its own (a Prometheus at full tilt): only when named.
const wanted = (k: Kind) => (only ? only.includes(k) : k !== "verdict-real");
const scalePhases = new Set(SCALE_PHASES.filter(wanted));

const started = Date.now();
// Other work on the machine shows up directly in the numbers (both measurements share the CPU with Redis,
// Prometheus and the peers): the load is printed with them.
const loadAtStart = loadavg()[0]!;
let detection: DetectionResult | undefined;
let scheduling: SchedulingResult | undefined;
const simRollouts = positive("sim-rollouts", values["sim-rollouts"]);
const seed = positive("seed", values.seed);
let verdicts: RowResult[] | undefined;
// --rows: only the verdict rows whose label contains one of these (comma-separated), to spend a long run on a few.
const rowFilter = values.rows?.split(",").map((x) => x.trim().toLowerCase());
const pick = <T extends { label: string }>(rows: T[]): T[] => (rowFilter ? rows.filter((r) => rowFilter.some((f) => r.label.toLowerCase().includes(f))) : rows);
let scale: ScaleResult | undefined;
if (wanted("verdict")) {
  process.stderr.write(`verdict simulation: ${simRollouts} rollouts per row, seed ${seed}\n`);
  verdicts = [];
  for (const [i, row] of VERDICT_ROWS.entries()) {
    if (!pick([row]).length) continue;
    // Each row keeps its own seed (its place in the full table), so a row run alone gives the same numbers.
    verdicts.push(await simulateRow(row, simRollouts, seed + i));
    process.stderr.write(`  ${row.label}: done\n`);
  }
}
let realVerdicts: RealVerdicts | undefined;
let linkerd1Verdicts: RealVerdicts | undefined;
const realRollouts = positive("real-rollouts", values["real-rollouts"]);
if (wanted("verdict-real")) {
  process.stderr.write(`verdict through real Prometheus: ${realRollouts} rollouts per row, all at once, seed ${seed}\n`);
  if (pick(REAL_VERDICT_ROWS).length) realVerdicts = await realVerdictRows(pick(REAL_VERDICT_ROWS), realRollouts, seed);
  process.stderr.write(`verdict through the Linkerd 1 admin peer: ${realRollouts} rollouts per row, all at once, seed ${seed}\n`);
  if (pick(LINKERD1_VERDICT_ROWS).length) linkerd1Verdicts = await linkerd1VerdictRows(pick(LINKERD1_VERDICT_ROWS), realRollouts, seed);
}
if (wanted("detection")) {
  process.stderr.write(`detection-to-revert: ${runs} runs (real Prometheus, 1 s scrape; windowSeconds 5, refreshSeconds 5)\n`);
  detection = await benchDetection({ runs });
}
if (wanted("scheduling")) {
  process.stderr.write(`scheduling lateness: ${rollouts} automatic rollouts, steps due over ${spanMs / 1000} s\n`);
  scheduling = await benchScheduling({ rollouts, leadMs, spanMs, refreshSeconds: 30 });
}
let budget: SlackLoadResult | undefined;
if (wanted("budget")) {
  process.stderr.write(`slack budget: ${rollouts} active rollouts against the Slack peer enforcing Slack's tiers\n`);
  budget = await benchSlackBudget({ rollouts });
}
let startsOpen: StartsOpenResult | undefined;
if (wanted("starts-open")) {
  const rate = positive("open-rate", values["open-rate"]);
  const channels = positive("open-channels", values["open-channels"]);
  process.stderr.write(`starts open loop (issue 24): ${rollouts} /rollout start at ${rate}/s over ${channels} channels, peers in their own processes\n`);
  startsOpen = await benchStartsOpen({
    rollouts,
    rate,
    channels,
    perNamespace: positive("per-namespace", values["per-namespace"]),
    // The scale phases build dist/ too: once is enough.
    build: !values["skip-build"],
  });
}
let wave: WaveResult | undefined;
if (wanted("wave")) {
  const clusters = positive("wave-clusters", values["wave-clusters"]);
  process.stderr.write(`wave (issue 24): one target through ${clusters} clusters on node dist/src/main.js in its own process\n`);
  // dist/ is built once per run.
  wave = await benchWave({ clusters, build: !values["skip-build"] && !startsOpen });
}
if (scalePhases.size) {
  process.stderr.write(`scale (issue 13): ${rollouts} rollouts on node dist/src/main.js in its own process; ${[...scalePhases].join(", ")}\n`);
  scale = await benchScale({
    phases: scalePhases,
    rollouts,
    perNamespace: positive("per-namespace", values["per-namespace"]),
    ackRate: positive("ack-rate", values["ack-rate"]),
    ackSeconds: positive("ack-seconds", values["ack-seconds"]),
    clicks: positive("clicks", values.clicks),
    clickRate: positive("click-rate", values["click-rate"]),
    slackSeconds: positive("slack-seconds", values["slack-seconds"]),
    kubectlRuns: positive("kubectl-runs", values["kubectl-runs"]),
    build: !values["skip-build"] && !startsOpen && !wave,
    clusters: values.clusters === "0" ? 0 : positive("clusters", values.clusters),
  });
}

const load = `load average ${loadAtStart.toFixed(1)} -> ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`;
const lines = [`rollout-bot bench (${new Date().toISOString()}, node ${process.version}, ${load}, took ${secs(Date.now() - started, 0)})`];
if (detection) lines.push(formatDetection(detection));
if (scheduling) lines.push(formatScheduling(scheduling));
if (budget) lines.push(formatSlackBudget(budget));
if (verdicts)
  lines.push(
    `\nverdicts (white-box: the bot's reading, folding and verdict code on simulated Prometheus scrapes), ${simRollouts} seeded rollouts per row, seed ${seed}:\n${formatVerdictTable(verdicts)}`,
  );
if (realVerdicts)
  lines.push(
    `\nverdicts through a real Prometheus (the bot's PrometheusSource, folding and verdict code; Prometheus scraping a driven linkerd2 exporter; simulated time: scrape 15 s, readings every 15 s, 2-min steps, each 15-s scrape ~1 s of wall time), ${realRollouts} seeded rollouts per row, all rows at once, seed ${seed}, ${realVerdicts.unavailable} readings unavailable, ${secs(realVerdicts.wallMs, 0)} wall:\n${formatVerdictTable(realVerdicts.results)}`,
  );
if (linkerd1Verdicts)
  lines.push(
    `\nverdicts through the Linkerd 1 admin peer (the bot's Linkerd1AdminSource over HTTP, folding and verdict code; live counters set every simulated second; readings every 15 s, 2-min steps), ${realRollouts} seeded rollouts per row, all rows at once, seed ${seed}, ${linkerd1Verdicts.unavailable} readings unavailable, ${secs(linkerd1Verdicts.wallMs, 0)} wall:\n${formatVerdictTable(linkerd1Verdicts.results)}`,
  );
// The summary table: issue 13's rows with their targets, then the two automatic-rollout measurements.
const rows: Row[] = scale ? scaleRows(scale, scalePhases) : [];
if (startsOpen) rows.push(...startsOpenRows(startsOpen));
if (wave) rows.push(...waveRows(wave));
if (detection)
  rows.push({
    what: `detection -> revert, ${detection.runs.length} runs`,
    measured: `p50 ${secs(median(detection.totalMs))}, max ${secs(max(detection.totalMs))}`,
    target: "",
    load: "",
  });
if (scheduling)
  rows.push({
    what: `scheduling lateness, ${scheduling.rollouts} automatic rollouts`,
    measured: `p50 ${millis(quantile(scheduling.latenessMs, 0.5))}, p99 ${millis(quantile(scheduling.latenessMs, 0.99))}`,
    target: "",
    load: "",
  });
if (rows.length) lines.push(`\n${formatTable(rows)}`);
process.stdout.write(`\n${lines.join("\n")}\n`);
if (values.json) {
  await writeFile(
    values.json,
    `${JSON.stringify({ at: new Date().toISOString(), node: process.version, cores: availableParallelism(), loadAtStart, detection, scheduling, budget, verdicts, realVerdicts, linkerd1Verdicts, scale, startsOpen, wave }, null, 2)}\n`,
  );
  process.stderr.write(`raw numbers written to ${values.json}\n`);
}
// BullMQ and Bolt leave nothing running after stop(), but do not let a stray handle keep the bench alive.
process.exit(0);

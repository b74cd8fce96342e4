/**
 * `npm run bench`: issue 5's measurements, printed (not a test; nothing is asserted).
 *
 *   npm run bench                       both measurements (~2-3 minutes on 2 cores)
 *   npm run bench -- --runs 10          detection-to-revert repetitions (default 5)
 *   npm run bench -- --rollouts 500     automatic rollouts for the scheduling measurement (default 1000)
 *   npm run bench -- --only detection   or --only scheduling, or --only verdict
 *   npm run bench -- --only verdict     issue 16: old vs new verdict over seeded simulated rollouts (no
 *                                       Redis or Prometheus needed); --sim-rollouts 1000 --seed 16
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
import { secs } from "./stats.ts";
import { formatVerdictTable, simulateRow, VERDICT_ROWS, type RowResult } from "./verdict-sim.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    rollouts: { type: "string", default: "1000" },
    span: { type: "string", default: "20" },
    lead: { type: "string", default: "10" },
    only: { type: "string" },
    "sim-rollouts": { type: "string", default: "1000" },
    seed: { type: "string", default: "16" },
    json: { type: "string" },
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
if (values.only && values.only !== "detection" && values.only !== "scheduling" && values.only !== "verdict") {
  process.stderr.write(`--only must be detection, scheduling or verdict, got ${values.only}\n`);
  process.exit(2);
}

const started = Date.now();
// Other work on the machine shows up directly in the numbers (both measurements share the CPU with Redis,
// Prometheus and the peers): the load is printed with them.
const loadAtStart = loadavg()[0]!;
let detection: DetectionResult | undefined;
let scheduling: SchedulingResult | undefined;
const simRollouts = positive("sim-rollouts", values["sim-rollouts"]);
const seed = positive("seed", values.seed);
let verdicts: RowResult[] | undefined;
if (values.only === "verdict" || values.only === undefined) {
  process.stderr.write(`verdict simulation: ${simRollouts} rollouts per row, seed ${seed}\n`);
  verdicts = [];
  for (const [i, row] of VERDICT_ROWS.entries()) {
    verdicts.push(await simulateRow(row, simRollouts, seed + i));
    process.stderr.write(`  ${row.label}: done\n`);
  }
}
if (values.only !== "scheduling" && values.only !== "verdict") {
  process.stderr.write(`detection-to-revert: ${runs} runs (real Prometheus, 1 s scrape; windowSeconds 5, refreshSeconds 5)\n`);
  detection = await benchDetection({ runs });
}
if (values.only !== "detection" && values.only !== "verdict") {
  process.stderr.write(`scheduling lateness: ${rollouts} automatic rollouts, steps due over ${spanMs / 1000} s\n`);
  scheduling = await benchScheduling({ rollouts, leadMs, spanMs, refreshSeconds: 30 });
}

const load = `load average ${loadAtStart.toFixed(1)} -> ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`;
const lines = [`rollout-bot bench (${new Date().toISOString()}, node ${process.version}, ${load}, took ${secs(Date.now() - started, 0)})`];
if (detection) lines.push(formatDetection(detection));
if (scheduling) lines.push(formatScheduling(scheduling));
if (verdicts)
  lines.push(
    `\nverdicts, old (fixed-window z-test) vs new (anytime-valid), ${simRollouts} seeded rollouts per row, seed ${seed}:\n${formatVerdictTable(verdicts)}`,
  );
process.stdout.write(`\n${lines.join("\n")}\n`);
if (values.json) {
  await writeFile(
    values.json,
    `${JSON.stringify({ at: new Date().toISOString(), node: process.version, cores: availableParallelism(), loadAtStart, detection, scheduling, verdicts }, null, 2)}\n`,
  );
  process.stderr.write(`raw numbers written to ${values.json}\n`);
}
// BullMQ and Bolt leave nothing running after stop(), but do not let a stray handle keep the bench alive.
process.exit(0);

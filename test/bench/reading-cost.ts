/**
 * Issue 24: what one success-rate reading costs in Redis commands and BullMQ jobs, on one active rollout.
 *
 *   node --import tsx test/bench/reading-cost.ts [--readings 20] [--refresh 5] [--auto 10m] [--json out.json]
 *
 * The real bot in this process (test/support/bot-harness.ts: Slack, Kubernetes API and Prometheus as the
 * local peers, the Slack budget on as in production) over a redis-server of its own, so the server's
 * commandstats count this bot's commands and nobody else's, Lua's inner calls included. One rollout of a
 * target read through the linkerd2 preset from the instant Prometheus every `--refresh` seconds; once it
 * has settled, the window runs from one reading's arrival on the chart to the `--readings`-th after it (each
 * reading's trailing effects fall in the window as often as they fall out of it). Printed per reading:
 * commands by type (commandstats), scripts by name (MONITOR), jobs by kind and what happened to them (the
 * queue's events stream), and the Slack calls.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import { RedisServer } from "../support/redis-server.ts";
import { startInstantPrometheus } from "./instant-prometheus.ts";
import { progress } from "./stats.ts";

const { values } = parseArgs({
  options: {
    readings: { type: "string", default: "20" },
    refresh: { type: "string", default: "5" },
    auto: { type: "string" },
    json: { type: "string" },
  },
});
const READINGS = Number(values.readings);
const REFRESH = Number(values.refresh);
const USER = "UCOST";

const server = await RedisServer.start();
process.env.REDIS_URL = server.url;
// The harness takes REDIS_URL when it is first imported: only once the private server is up.
const { CHANNEL, startHarness, waitForStatus } = await import("../support/bot-harness.ts");
const { QUEUE_NAME } = await import("../../src/queue/queues.ts");

const prom = await startInstantPrometheus();
const metrics = `{ source: prometheus, prometheusUrl: "${prom.url}", preset: linkerd2, scrapeIntervalSeconds: 1, refreshSeconds: ${REFRESH} }`;
const h = await startHarness({
  slackBudget: true,
  targetsYaml: `targets:\n  - { name: web, namespace: cost, stable: web-v1, steps: [10, 50, 100], metrics: ${metrics} }\n`,
});
const redis = new Redis(server.url, { maxRetriesPerRequest: null });
// redis-cli's MONITOR: ioredis's monitor mode loses its place in a stream of replies this busy.
const monitor = spawn("redis-cli", ["-p", String(server.port), "monitor"], { stdio: ["ignore", "pipe", "ignore"] });
try {
  await h.driver.slash({ userId: USER, channelId: CHANNEL, text: `start web --to web-v2${values.auto ? ` --auto ${values.auto}` : ""}` });
  const r = await waitForStatus(h, "web#1", "active", 20_000);
  const chart = h.bot.store.keys.readings("web", 1);
  const eventsKey = `${h.bot.store.keys.bullPrefix()}:${QUEUE_NAME}:events`;
  let polls = 0;
  const readingsSoFar = async () => {
    polls++;
    return redis.llen(chart);
  };
  const reached = async (n: number) => {
    while ((await readingsSoFar()) < n) await new Promise((res) => setTimeout(res, 20));
  };
  // Settled: the first stage's start and the first readings are behind us.
  const first = (await readingsSoFar()) + 3;
  progress(`rollout ${r.id} active; waiting for reading ${first} (every ${REFRESH} s)`);
  await reached(first);
  const scripts = new Map<string, number>();
  const names = await scriptNames();
  let seen = false;
  createInterface({ input: monitor.stdout }).on("line", (line) => {
    // `<time> [<db> <client>] "evalsha" "<sha>" "<numkeys>" "<key>" ...`; a script's own calls say `[0 lua]`.
    const m = /^\S+ \[\d+ ([^\]]+)\] "evalsha" "([0-9a-f]+)" "\d+" "([^"]*)"/i.exec(line);
    if (!seen || !m || m[1] === "lua") return;
    const name = names.get(m[2]!) ?? `script ${m[2]!.slice(0, 8)} on ${shape(m[3]!, h.prefix)}`;
    scripts.set(name, (scripts.get(name) ?? 0) + 1);
  });
  await redis.config("RESETSTAT");
  seen = true;
  polls = 0;
  const slackBefore = h.slack.calls.length;
  const startedAt = Date.now();
  await reached(first + READINGS);
  const endedAt = Date.now();
  seen = false;
  const stats = parseCommandstats(await redis.info("commandstats"));
  const myPolls = polls;
  const slack = h.slack.calls.slice(slackBefore).reduce<Record<string, number>>((acc, c) => ({ ...acc, [c.method]: (acc[c.method] ?? 0) + 1 }), {});
  const events = (await redis.xrange(eventsKey, String(startedAt), String(endedAt))).map(([, fields]) => fieldsOf(fields));
  // What this script itself asked (the polling LLENs, RESETSTAT, INFO) is not the bot's.
  stats.set("llen", (stats.get("llen") ?? 0) - myPolls);
  for (const mine of ["config|resetstat", "info", "monitor", "xrange"]) stats.delete(mine);

  const per = (n: number) => Math.round((n / READINGS) * 10) / 10;
  const commands = [...stats].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  const total = commands.reduce((s, [, n]) => s + n, 0);
  const jobs = new Map<string, Map<string, number>>();
  for (const e of events) {
    const kind = jobKind(e.jobId ?? "");
    const row = jobs.get(kind) ?? new Map<string, number>();
    row.set(e.event ?? "?", (row.get(e.event ?? "?") ?? 0) + 1);
    jobs.set(kind, row);
  }
  const out: string[] = [];
  out.push(
    `Reading cost: ${READINGS} readings every ${REFRESH} s of one ${values.auto ? `automatic (${values.auto})` : "manual"} rollout, ${((endedAt - startedAt) / 1000).toFixed(1)} s`,
  );
  out.push(`Redis commands per reading: ${per(total)} (Lua's inner calls included)`);
  out.push(`  ${commands.map(([c, n]) => `${c} ${per(n)}`).join(", ")}`);
  out.push(`Scripts (EVALSHA) per reading:`);
  for (const [name, n] of [...scripts].sort((a, b) => b[1] - a[1])) out.push(`  ${per(n).toString().padStart(5)}  ${name}`);
  out.push(`Jobs per reading (events on the queue's stream, by job):`);
  for (const [kind, row] of [...jobs].sort()) out.push(`  ${kind.padEnd(16)} ${[...row].map(([e, n]) => `${e} ${per(n)}`).join(", ")}`);
  out.push(
    `Slack calls per reading: ${
      Object.entries(slack)
        .map(([m, n]) => `${m} ${per(n)}`)
        .join(", ") || "none"
    }`,
  );
  process.stdout.write(`${out.join("\n")}\n`);
  if (values.json) {
    const table = (m: Map<string, number>) => Object.fromEntries([...m].map(([k, n]) => [k, per(n)]));
    await writeFile(
      values.json,
      JSON.stringify(
        {
          readings: READINGS,
          refreshSeconds: REFRESH,
          commandsPerReading: per(total),
          commands: table(new Map(commands)),
          scripts: table(scripts),
          jobs: Object.fromEntries([...jobs].map(([k, row]) => [k, table(row)])),
          slack: table(new Map(Object.entries(slack))),
        },
        null,
        2,
      ),
    );
  }
} finally {
  monitor.kill();
  redis.disconnect();
  await h.close();
  await prom.close();
  await server.close();
}

/** INFO commandstats as command -> calls (`cmdstat_hget:calls=12,...`). */
function parseCommandstats(info: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

function fieldsOf(flat: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]!] = flat[i + 1]!;
  return o;
}

/** What a job is, from its deterministic id (src/queue/queues.ts); an id BullMQ numbered is a person's Home board. */
function jobKind(id: string): string {
  if (/\.snap\./.test(id)) return "snapshot";
  if (/\.v\d+\.slack-sync$/.test(id)) return "slack-sync";
  if (/\.sync\.\d+$/.test(id)) return "slack-sync-at";
  if (/\.refresh\.\d+$/.test(id)) return "slack-refresh";
  if (/\.t\d+\./.test(id)) return `timer ${id.split(".").pop()}`;
  if (/^home\./.test(id) || /^\d+$/.test(id)) return "home";
  if (/\.chart\./.test(id)) return "chart";
  if (/\.reconcile$/.test(id)) return "reconcile";
  return id ? "other" : "(queue)";
}

/** BullMQ's scripts by the SHA1 its client sends them under (ioredis defineCommand: the SHA1 of the Lua). */
async function scriptNames(): Promise<Map<string, string>> {
  const dir = join(dirname(createRequire(import.meta.url).resolve("bullmq")), "..", "esm", "scripts");
  const out = new Map<string, string>();
  for (const file of await readdir(dir)) {
    if (!/^[A-Za-z]+-\d+\.js$/.test(file)) continue;
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as Record<string, { name: string; content: string }>;
    for (const script of Object.values(mod)) out.set(createHash("sha1").update(script.content).digest("hex"), `bullmq ${script.name}`);
  }
  return out;
}

/** A key with the test's prefix and the rollout's numbers taken out, to name the bot's own scripts. */
function shape(key: string, prefix: string): string {
  return key.replace(prefix, "<p>").replace(/\d+/g, "N");
}

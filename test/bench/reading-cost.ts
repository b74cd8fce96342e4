/**
 * Issue 24: what one success-rate reading costs in Redis commands and BullMQ jobs, on one active rollout.
 *
 *   node --import tsx test/bench/reading-cost.ts [--readings 20] [--refresh 5] [--auto 10m] [--detail] [--json out.json]
 *
 * The real bot in this process (test/support/bot-harness.ts: Slack, Kubernetes API and Prometheus as the
 * local peers, the Slack budget on as in production) over a redis-server of its own, so the server's
 * commandstats count this bot's commands and nobody else's, Lua's inner calls included. One rollout of a
 * target read through the linkerd2 preset from the instant Prometheus every `--refresh` seconds; once it
 * has settled, the window runs from one reading's arrival on the chart to the `--readings`-th after it (each
 * reading's trailing effects fall in the window as often as they fall out of it). Printed per reading:
 * commands by type (commandstats), by caller (MONITOR: a script with its inner calls), jobs by kind and what happened to them (the
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
    /** Each script's inner commands per call. */
    detail: { type: "boolean", default: false },
  },
});
const READINGS = Number(values.readings);
const REFRESH = Number(values.refresh);
const USER = "UCOST";

const server = await RedisServer.start();
process.env.REDIS_URL = server.url;
// The harness takes REDIS_URL when it is first imported: only once the private server is up.
const { CHANNEL, startHarness, waitForStatus } = await import("../support/bot-harness.ts");
const { LANES } = await import("../../src/queue/lanes.ts");

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
  // Jobs run in two lanes (src/queue/lanes.ts), each with its own events stream.
  const eventsKeys = Object.values(LANES).map((name) => `${h.bot.store.keys.bullPrefix()}:${name}:events`);
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
  // Top-level commands by what sent them (a script by name, BullMQ's blocking wait, the bot's plain commands),
  // each with the commands it ran: MONITOR shows a script's own calls (`[0 lua]`) right after it.
  type Group = { calls: number; commands: number; inner: Map<string, number> };
  const groups = new Map<string, Group>();
  const names = await scriptNames();
  const window = { from: Infinity, to: Infinity };
  let current: Group | undefined;
  createInterface({ input: monitor.stdout }).on("line", (line) => {
    const m = /^(\S+) \[\d+ ([^\]]+)\] "([^"]+)"(?: "((?:[^"\\]|\\.)*)")?(?: "[^"]*")?(?: "([^"]*)")?/.exec(line);
    if (!m) return;
    const [, time, client, command, first, third] = m;
    const at = Number(time) * 1000;
    if (at < window.from || at > window.to) return;
    if (client === "lua") {
      if (current) {
        current.commands++;
        current.inner.set(command!.toLowerCase(), (current.inner.get(command!.toLowerCase()) ?? 0) + 1);
      }
      return;
    }
    const cmd = command!.toLowerCase();
    if (["llen", "info", "config", "xrange", "time"].includes(cmd)) return (current = undefined); // this script's own
    // EVAL: a script the server did not know yet, sent with its text (src/store/script.ts, ioredis).
    const sha =
      cmd === "eval"
        ? createHash("sha1")
            .update(JSON.parse(`"${first!}"`) as string)
            .digest("hex")
        : first!;
    const name =
      cmd === "evalsha" || cmd === "eval"
        ? (names.get(sha) ?? `script ${sha.slice(0, 8)} on ${shape(third ?? "", h.prefix)}`)
        : cmd === "bzpopmin"
          ? "bullmq bzpopmin (the worker waiting for a job)"
          : cmd;
    current = groups.get(name) ?? { calls: 0, commands: 0, inner: new Map() };
    current.calls++;
    current.commands++;
    groups.set(name, current);
  });
  await redis.config("RESETSTAT");
  const [s0, u0] = await redis.time();
  window.from = Number(s0) * 1000 + Number(u0) / 1000;
  polls = 0;
  const slackBefore = h.slack.calls.length;
  const startedAt = Date.now();
  await reached(first + READINGS);
  const endedAt = Date.now();
  const stats = parseCommandstats(await redis.info("commandstats"));
  const [sec, usec] = await redis.time();
  window.to = Number(sec) * 1000 + Number(usec) / 1000;
  await new Promise((res) => setTimeout(res, 500)); // MONITOR's last lines
  const myPolls = polls;
  const slack = h.slack.calls.slice(slackBefore).reduce<Record<string, number>>((acc, c) => ({ ...acc, [c.method]: (acc[c.method] ?? 0) + 1 }), {});
  const events = (await Promise.all(eventsKeys.map((key) => redis.xrange(key, String(startedAt), String(endedAt)))))
    .flat()
    .map(([, fields]) => fieldsOf(fields));
  // What this script itself asked (the polling LLENs, RESETSTAT, a TIME, INFO) is not the bot's.
  stats.set("llen", (stats.get("llen") ?? 0) - myPolls);
  stats.set("time", (stats.get("time") ?? 0) - 1);
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
  const sum = (bullmq: boolean, k: "calls" | "commands") =>
    [...groups].filter(([name]) => name.startsWith("bullmq") === bullmq).reduce((s, [, g]) => s + g[k], 0);
  out.push(
    `  BullMQ: ${per(sum(true, "commands"))} commands in ${per(sum(true, "calls"))} calls; the bot's own: ${per(sum(false, "commands"))} in ${per(sum(false, "calls"))} calls`,
  );
  out.push(`Per reading, by caller (calls, and commands with a script's inner calls):`);
  for (const [name, g] of [...groups].sort((a, b) => b[1].commands - a[1].commands))
    out.push(
      `  ${per(g.calls).toString().padStart(5)} ${per(g.commands).toString().padStart(6)}  ${name}` +
        (values.detail && g.inner.size ? `: ${[...g.inner].map(([c, n]) => `${c} ${Math.round((n / g.calls) * 10) / 10}`).join(", ")} per call` : ""),
    );
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
          callers: Object.fromEntries([...groups].map(([k, g]) => [k, { calls: per(g.calls), commands: per(g.commands) }])),
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

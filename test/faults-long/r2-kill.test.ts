import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";
import type { Rollout } from "../../src/engine/rollout.ts";
import { RolloutStore } from "../../src/store/rollout-store.ts";
import { startKubeApiPeer, type KubeApiPeer, type KubeObject } from "../../sandbox/peers/kube-api.ts";
import { startMeshMetrics, type MeshMetrics } from "../../sandbox/peers/mesh-metrics.ts";
import { startPrometheus, type PrometheusServer } from "../../sandbox/peers/prometheus.ts";
import { PROMETHEUS_BIN } from "../support/prometheus.ts";
import { SlackDriver, startSlackPeer, type SlackPeer } from "../../sandbox/peers/slack/index.ts";
import { freePort } from "../../sandbox/peers/net.ts";
import { prng } from "../support/prng.ts";
import { backendsOf, percentOnSplit } from "../support/split.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL } from "../support/redis.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { RedisGate } from "./redis-gate.ts";
import { TcpFront } from "./tcp-front.ts";

/**
 * Issue 6, R2: the bot process (the real `src/main.ts`, as `npm start` runs it) is killed with SIGKILL at
 * random points, 100 times, while 20 automatic rollouts run; a new process is started after every kill.
 * The peers (Slack, Kubernetes API, Prometheus and the mesh's metrics) live in this process and survive.
 * A quarter of the targets are Gateway API targets (an HTTPRoute whose parent is the Service, issue 14):
 * their rollouts begin with the test stage (0%, the bot's header-matched rule) and end with a write that
 * removes it. Afterwards, from the Kubernetes API's request log and the records in Redis:
 *  - no rollout is lost: one record per target, every one ended (completed or aborted);
 *  - the weights written to each TrafficSplit follow the plan: no step written twice, none skipped before
 *    100% or the abort;
 *  - each TrafficSplit holds what its record says (100 completed, 0 aborted);
 *  - every abort (3 canaries turned unhealthy mid-way, 2 Abort clicks) completed and was read back.
 *
 * Each kill comes after a random 0.2-3 s; about a third of them are armed to land on a TrafficSplit write
 * instead, if one comes within that time (the API applies it, the bot dies before it sees the answer).
 *
 * Random choices come from a seeded PRNG, printed first: R2_SEED=<n> replays the same choices (kill delays,
 * which kills land on a write, which canaries fail and when, which rollouts are aborted by hand); process
 * timings still vary. Knobs: R2_KILLS (default 100), R2_PRESPAWN=0 (spawn each process only after the
 * kill, see spawnBot), R2_KEEP_LOG=1 (keep the bot processes' output even when the suite passes).
 */

const KILLS = Number(process.env.R2_KILLS ?? 100);
const TARGETS = 20;
const PLAN = [10, 30, 60, 100];
const UNHEALTHY = 3;
const MANUAL_ABORTS = 2;
const CHANNEL = "C0ROLLOUT";
const STARTER = "UALICE";
const ABORTER = "UBOB";
const REPO = fileURLToPath(new URL("../..", import.meta.url));
/** After the last kill, how long the rollouts may take to end. */
const SETTLE_MS = 180_000;

const SEED = process.env.R2_SEED ? Number(process.env.R2_SEED) : Math.floor(Math.random() * 2 ** 31);

/** User + system CPU time of a process so far (Linux /proc), in ms. */
async function cpuMs(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  const fields = stat?.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (!fields) return undefined;
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

const name = (i: number) => `r2-t${String(i).padStart(2, "0")}`;
/** Every fourth target shifts an HTTPRoute (router: gateway) instead of a TrafficSplit. */
const isGateway = (i: number) => i % 4 === 3;

type RouteRule = { name?: string; matches?: { headers?: { name: string }[] }[]; backendRefs?: { name: string; weight?: number }[] };

/** Canary percent of the HTTPRoute's `api` rule, and whether the bot's test rule (x-rollout) is in it. */
function routeState(spec: unknown): { percent: number | undefined; testRule: boolean } {
  const rules = (spec as { rules?: RouteRule[] } | undefined)?.rules ?? [];
  const refs = rules.find((r) => r.name === "api")?.backendRefs ?? [];
  const total = refs.reduce((n, r) => n + (r.weight ?? 1), 0);
  const canary = refs.filter((r) => r.name === "web-v2").reduce((n, r) => n + (r.weight ?? 1), 0);
  const testRule = rules.some((r) => (r.matches ?? []).some((m) => (m.headers ?? []).some((h) => h.name === "x-rollout")));
  return { percent: total > 0 ? Math.round((100 * canary) / total) : undefined, testRule };
}

type Write = { at: number; method: string; status: number; percent: number | undefined; final: boolean };

/** Canary percent of a TrafficSplit spec (integers, or v1alpha1 quantities such as "900m"). */
function canaryPercent(spec: unknown): number | undefined {
  return backendsOf(spec) ? percentOnSplit(spec, "web-v2") : undefined;
}

let kube: KubeApiPeer | undefined;
let slack: SlackPeer | undefined;
let mesh: MeshMetrics | undefined;
let prom: PrometheusServer | undefined;
let redis: Redis | undefined;
/** Every bot process spawned, and every gate: whatever is left is stopped in afterAll. */
const procs = new Set<ChildProcess>();
const gates: RedisGate[] = [];
let front: TcpFront | undefined;
let dir = "";
let log: WriteStream | undefined;
let prefix = "";
let passed = false;

afterAll(async () => {
  for (const p of procs) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await exited;
  }
  for (const g of gates) await g.close();
  await front?.stop();
  await new Promise<void>((r) => (log ? log.end(() => r()) : r()));
  await slack?.close();
  await kube?.close();
  await prom?.stop();
  await mesh?.stop();
  if (redis) {
    if (prefix) await cleanupPrefix(redis, prefix);
    await redis.quit();
  }
  if (dir && passed && !process.env.R2_KEEP_LOG) await rm(dir, { recursive: true, force: true });
  else if (dir) console.log(`r2: the bot processes' output is in ${join(dir, "bot.log")}`);
});

it(`R2: SIGKILL the bot ${KILLS} times while ${TARGETS} automatic rollouts run: nothing lost, no step twice or skipped, mesh == record`, async () => {
  const began = Date.now();
  const rnd = prng(SEED);
  console.log(`r2 seed ${SEED} (replay the same choices with R2_SEED=${SEED} npm run test:faults)`);

  // Which canaries fail (and at which step they turn bad), which healthy ones a person aborts.
  const order = Array.from({ length: TARGETS }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const unhealthy = new Map(order.slice(0, UNHEALTHY).map((i) => [name(i), PLAN[Math.floor(rnd() * 3)]!]));
  const manual = new Map(order.slice(UNHEALTHY, UNHEALTHY + MANUAL_ABORTS).map((i) => [name(i), PLAN[1 + Math.floor(rnd() * 2)]!]));
  // Starts are spread over the first 85% of the kills (a rollout lasts several kills), so that kills land in
  // every phase of every rollout and few land on an idle bot.
  const startAt = new Map(order.map((i, k) => [name(i), Math.floor((k * 0.85 * KILLS) / TARGETS)]));

  // ---------------------------------------------------------------------------------------- peers
  dir = await mkdtemp(join(tmpdir(), "rollout-bot-r2-"));
  log = createWriteStream(join(dir, "bot.log"));
  mesh = await startMeshMetrics();
  for (let i = 0; i < TARGETS; i++) {
    mesh.setTraffic({ namespace: name(i), deployment: "web-v1", rps: 200, errorRate: 0, latencyMs: 8 });
    mesh.setTraffic({ namespace: name(i), deployment: "web-v2", rps: 60, errorRate: 0, latencyMs: 9 });
  }
  prom = await startPrometheus({ scrapeTargets: [mesh.hostPort], scrapeIntervalSeconds: 1, binary: PROMETHEUS_BIN });
  const botToken = `xoxb-r2-${randomBytes(6).toString("hex")}`;
  const signingSecret = `secret-${randomBytes(8).toString("hex")}`;
  slack = await startSlackPeer({ botToken, channels: [{ id: CHANNEL, name: "deploys" }] });
  kube = await startKubeApiPeer({ smiFlavour: "nginx", implicitWorkloads: true }); // every Service and Deployment the rollouts name exists, ready
  for (let i = 0; i < TARGETS; i++) {
    if (isGateway(i)) {
      kube.seed("httproutes", name(i), {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: "web", namespace: name(i) },
        spec: {
          parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }],
          rules: [
            { name: "static", matches: [{ path: { type: "PathPrefix", value: "/static" } }], backendRefs: [{ name: "static-files", port: 80 }] },
            { name: "api", backendRefs: [{ name: "web-v1", port: 8080 }] },
          ],
        },
      });
      continue;
    }
    kube.seed("trafficsplits", name(i), {
      kind: "TrafficSplit",
      metadata: { name: "web", namespace: name(i) },
      spec: {
        service: "web",
        backends: [
          { service: "web-v1", weight: 100 },
          { service: "web-v2", weight: 0 },
        ],
      },
    } as KubeObject);
  }
  const targetsFile = join(dir, "targets.yaml");
  const targetYaml = (i: number) => `
  - name: ${name(i)}
    namespace: ${name(i)}
    stable: web-v1
    steps: [${PLAN.join(", ")}]
    ${isGateway(i) ? "router: gateway\n    gateway: { httpRoute: web, rule: api }" : "smi: { trafficSplit: web, apexService: web }"}
    auto: { notice: 1s }
    metrics: { source: prometheus, prometheusUrl: "${prom!.url}", preset: linkerd2, scrapeIntervalSeconds: 1, windowSeconds: 5, refreshSeconds: 5, minRequests: 20, confidence: 0.99 }`;
  await writeFile(targetsFile, `targets:${Array.from({ length: TARGETS }, (_, i) => targetYaml(i)).join("")}\n`);

  prefix = randomPrefix("r2");
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const store = new RolloutStore(redis, prefix);
  // Slack reaches the current process through a fixed front port, as it would reach a pod through a Service.
  front = await TcpFront.start();
  const botUrl = `http://127.0.0.1:${front.port}`;
  const driver = new SlackDriver({ botUrl: `${botUrl}/slack/events`, signingSecret, peer: slack });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_BOT_TOKEN: botToken,
    SLACK_API_URL: slack.apiUrl,
    KUBECONFIG: kube.kubeconfigPath,
    REDIS_URL,
    ROLLOUT_KEY_PREFIX: prefix,
    ROLLOUT_TARGETS: targetsFile,
    LOG_LEVEL: "warn",
    // One starter starts every target at once: far past a person's limit, which is not what this proves.
    ROLLOUT_LIMIT_STARTS_PER_MINUTE: "10000",
  };
  await prom.whenScraping();
  await sleep(6_000); // one 5 s window of scrapes before the first reading

  // ---------------------------------------------------------------------------------------- the bot
  /**
   * One bot process: `node --import tsx src/main.ts` with the env above, its Redis behind a gate of its own,
   * its ports its own (Slack reaches it through the front). With pre-spawning (the default) the next process
   * is spawned while the current one runs: it loads, opens its ports and waits at its first Redis command;
   * its gate opens, and the front turns to it, right after the current one is killed. A
   * start costs ~5 s of CPU (client-node, Bolt, BullMQ through tsx's loader), which would otherwise make
   * 100 restarts alone take 6-10 minutes. R2_PRESPAWN=0 spawns each process only after the kill.
   */
  type BotProcess = {
    gen: number;
    proc: ChildProcess;
    gate: RedisGate;
    /** Its own Slack and health ports: the next process opens its ports while the current one runs. */
    port: number;
    healthUrl: string;
    spawnedAt: number;
    tail: () => string;
    killed?: Promise<void>;
  };
  const prespawn = process.env.R2_PRESPAWN !== "0";
  const upstream = new URL(REDIS_URL);
  let generation = 0;
  /** The generation of the process that is serving now (commands sent to it die with it). */
  let activeGen = 0;
  /** The last process, stopped with SIGTERM at the end: it may exit by itself (0). */
  const stopping = new Set<ChildProcess>();
  const unexpectedExits: string[] = [];
  const outageMs: number[] = [];
  const loadMs: number[] = [];
  /** CPU time (user + system) a process has used when it first answers /readyz: the cost of one start. */
  const startCpuMs: number[] = [];

  async function spawnBot(): Promise<BotProcess> {
    const gen = ++generation;
    const gate = await RedisGate.start({ host: upstream.hostname, port: Number(upstream.port || 6379) });
    gates.push(gate);
    const viaGate = new URL(REDIS_URL);
    viaGate.hostname = "127.0.0.1";
    viaGate.port = String(gate.port);
    const port = await freePort();
    const healthPort = await freePort();
    const proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: REPO,
      env: { ...env, REDIS_URL: viaGate.toString(), PORT: String(port), HEALTH_PORT: String(healthPort) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    procs.add(proc);
    let tail = "";
    const out = (b: Buffer) => {
      log!.write(`[${gen}] ${b.toString()}`);
      tail = (tail + b.toString()).slice(-2000);
    };
    proc.stdout!.on("data", out);
    proc.stderr!.on("data", out);
    proc.once("exit", (code, signal) => {
      if (signal !== "SIGKILL" && !stopping.has(proc)) unexpectedExits.push(`process ${gen} exited by itself (code ${code}, signal ${signal}): ${tail}`);
    });
    return { gen, proc, gate, port, healthUrl: `http://127.0.0.1:${healthPort}`, spawnedAt: Date.now(), tail: () => tail };
  }

  /**
   * Open its gate, send Slack's requests to it, and wait until it is ready: /readyz, because a process opens
   * its ports (and answers /healthz) before Redis answers, so only readiness says it can serve.
   */
  async function activate(b: BotProcess, since: number): Promise<void> {
    b.gate.open();
    front!.target = b.port;
    activeGen = b.gen;
    const dead = () => b.proc.exitCode !== null || b.proc.signalCode !== null;
    await waitFor(
      async () => {
        if (dead()) throw new Error(`process ${b.gen} exited before it was healthy: ${b.tail()}`);
        const res = await fetch(`${b.healthUrl}/readyz`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
        return res?.status === 200;
      },
      { timeoutMs: 60_000, intervalMs: 25, what: `bot process ${b.gen} to answer /readyz` },
    ).catch((err: unknown) => {
      throw dead() ? new Error(`process ${b.gen} exited before it was healthy: ${b.tail()}`) : err;
    });
    outageMs.push(Date.now() - since);
    const cpu = await cpuMs(b.proc.pid);
    if (cpu !== undefined) startCpuMs.push(cpu);
    if (b.gate.firstConnectionAt) loadMs.push(b.gate.firstConnectionAt - b.spawnedAt);
  }

  /** SIGKILL, once; resolves when the process is gone. */
  function killBot(b: BotProcess): Promise<void> {
    b.killed ??= (async () => {
      const exited = new Promise((r) => (b.proc.exitCode !== null || b.proc.signalCode !== null ? r(undefined) : b.proc.once("exit", r)));
      b.proc.kill("SIGKILL");
      await exited;
    })();
    return b.killed;
  }

  // ---------------------------------------------------------------------------------------- the people
  /** Per target: the rollout id once its record exists, and the process generation a command was last sent to. */
  const starts = new Map<string, { sentTo: number; sends: number; id?: string; responseUrls: string[] }>();
  const aborts = new Map<string, { sentTo: number; sends: number; moot?: string }>();
  const resends = { starts: 0, aborts: 0 };

  async function recordOf(target: string): Promise<Rollout | undefined> {
    const seq = Number(await redis!.get(store.keys.seq(target)));
    for (let s = seq; s >= 1; s--) {
      const r = await store.get(`${target}#${s}`);
      if (r) return r;
    }
    return undefined;
  }

  async function sendStart(target: string): Promise<void> {
    const s = starts.get(target) ?? { sentTo: 0, sends: 0, responseUrls: [] };
    s.sentTo = activeGen;
    s.sends += 1;
    starts.set(target, s);
    const res = await driver.slash({ userId: STARTER, channelId: CHANNEL, text: `start ${target} --to web-v2 --auto 6s` }).catch(() => undefined);
    if (res) s.responseUrls.push(res.responseUrl);
  }

  async function sendAbort(target: string, id: string): Promise<void> {
    const a = aborts.get(target) ?? { sentTo: 0, sends: 0 };
    a.sentTo = activeGen;
    a.sends += 1;
    aborts.set(target, a);
    // The Abort button on the rollout's message, as a person would press it; the command if it is not posted yet.
    const parent = slack!
      .messages(CHANNEL)
      .filter((m) => !m.thread_ts || m.thread_ts === m.ts)
      .find((m) => JSON.stringify(m.blocks ?? []).includes(`Rollout ${id}:`));
    const button = parent ? slack!.buttons(CHANNEL, parent.ts).find((b) => b.text === "Abort") : undefined;
    const sent =
      parent && button
        ? driver.click({ userId: ABORTER, channelId: CHANNEL, messageTs: parent.ts, button })
        : driver.slash({ userId: ABORTER, channelId: CHANNEL, text: `abort ${id}` });
    await sent.catch(() => undefined);
  }

  /**
   * What the people do after each (re)start: send the starts due now; send a start again when the process it
   * went to died without recording it (the command was acknowledged but never run: the person sees no
   * rollout and types it again); press Abort on the chosen rollouts once they are past their step, and again
   * if the process that got the click died before recording it.
   */
  async function people(iteration: number): Promise<void> {
    for (const [target, at] of startAt) {
      const s = starts.get(target);
      if (!s) {
        if (iteration >= at) await sendStart(target);
        continue;
      }
      if (s.id) continue;
      const r = await recordOf(target);
      if (r) s.id = r.id;
      else if (s.sentTo < activeGen) {
        resends.starts += 1;
        await sendStart(target);
      }
    }
    for (const [target, atStep] of manual) {
      const id = starts.get(target)?.id;
      if (!id) continue;
      const r = (await store.get(id))!;
      const a = aborts.get(target);
      if (a?.moot || r.status === "aborting" || r.status === "aborted") continue;
      if (r.status === "completed") {
        if (a) a.moot = "completed before the abort got through";
        continue;
      }
      if (!a && r.status === "active" && (r.appliedPercent ?? 0) >= atStep) await sendAbort(target, id);
      else if (a && a.sentTo < activeGen) {
        resends.aborts += 1;
        await sendAbort(target, id);
      }
    }
  }

  // An unhealthy canary: 30% of its requests fail from the moment its rollout reaches the chosen step.
  const turnedBad = new Map<string, number>();
  const watcher = setInterval(() => {
    void (async () => {
      for (const [target, atStep] of unhealthy) {
        if (turnedBad.has(target)) continue;
        const id = starts.get(target)?.id;
        const r = id ? await store.get(id) : undefined;
        if (r && (r.appliedPercent ?? 0) >= atStep) {
          mesh!.setTraffic({ namespace: target, deployment: "web-v2", rps: 60, errorRate: 0.3, latencyMs: 9 });
          turnedBad.set(target, r.appliedPercent!);
        }
      }
    })().catch(() => undefined);
  }, 200);

  // ---------------------------------------------------------------------------------------- kill loop
  /**
   * About a third of the kills land on a TrafficSplit write: when the bot's apply (PATCH) reaches the Kubernetes API
   * within the kill's random wait, the process is killed right then, and the API applies the write after
   * it died (the bot never sees the answer and never records it). The others come at the end of the wait.
   */
  const atKill = { runningRollouts: 0, stepInFlight: 0, onWrite: 0 };
  let armed: { fire: () => void } | undefined;
  let hookPending = false;
  const armKillOnWrite = (fire: () => void) => {
    armed = { fire };
    if (hookPending) return;
    hookPending = true;
    // A TrafficSplit or HTTPRoute write (or the gateway router's dry run) of one of the targets.
    kube!.onNext({ method: "PATCH", pathIncludes: "/namespaces/r2-t" }, async () => {
      hookPending = false;
      const a = armed;
      armed = undefined;
      if (a) a.fire();
      if (a && current) await killBot(current);
    });
  };
  const observeKill = async () => {
    const running = await store.active();
    atKill.runningRollouts += running.length;
    if (running.some((r) => r.appliedPercent !== r.desiredPercent)) atKill.stepInFlight += 1;
    return running.length;
  };

  let current: BotProcess | undefined;
  let next: BotProcess | undefined;
  try {
    current = await spawnBot();
    await activate(current, Date.now());
    if (prespawn) next = await spawnBot();
    for (let k = 0; k < KILLS; k++) {
      await people(k);
      const waitMs = 200 + Math.floor(rnd() * 2_800);
      const onWrite = rnd() < 1 / 3;
      let running = 0;
      const firedOnWrite = new Promise<void>((resolve) => {
        if (onWrite) armKillOnWrite(() => resolve());
      });
      const fired = await Promise.race([sleep(waitMs).then(() => false), firedOnWrite.then(() => true)]);
      if (fired) {
        atKill.onWrite += 1;
        await killBot(current);
        running = await observeKill();
      } else {
        armed = undefined;
        running = await observeKill();
        await killBot(current);
      }
      const killedAt = Date.now();
      const successor = next ?? (await spawnBot());
      next = undefined;
      await activate(successor, killedAt);
      await current.gate.close();
      current = successor;
      if (prespawn && k < KILLS - 1) next = await spawnBot();
      if ((k + 1) % 25 === 0) console.log(`r2 progress: ${k + 1} kills, ${running} rollouts running, ${Math.round((Date.now() - began) / 1000)} s`);
    }
    const killsDone = Date.now();

    // ------------------------------------------------------------------------------------ let it finish
    await waitFor(
      async () => {
        await people(KILLS);
        if (starts.size < TARGETS || [...starts.values()].some((s) => !s.id)) return false;
        const records = await Promise.all([...starts.values()].map((s) => store.get(s.id!)));
        return records.every((r) => r && (r.status === "completed" || r.status === "aborted" || r.status === "rejected"));
      },
      { timeoutMs: SETTLE_MS, intervalMs: 500, what: "every rollout to end after the last kill" },
    ).catch(() => undefined); // reported below, rollout by rollout
    const settledMs = Date.now() - killsDone;
    clearInterval(watcher);
    const finalChild = current.proc;
    const exited = new Promise((r) => finalChild.once("exit", r));
    stopping.add(finalChild);
    finalChild.kill("SIGTERM");
    await exited;

    // ------------------------------------------------------------------------------------ the verdict
    const all = await store.recent(1_000);
    const problems: string[] = [];
    let lost = 0;
    let doubled = 0;
    let skipped = 0;
    let meshMatches = 0;
    let abortsSeen = 0;
    let abortsCompleted = 0;
    const outcomes = { completed: 0, aborted: 0 };
    const latency = { step: { ms: 0, id: "" }, abort: { ms: 0, id: "" } };
    for (let i = 0; i < TARGETS; i++) {
      const target = name(i);
      const records = all.filter((r) => r.target.name === target);
      const r = records[0];
      if (records.length !== 1 || !r) {
        lost += 1;
        const replies = (starts.get(target)?.responseUrls ?? []).flatMap((u) => slack!.responses(u).map((p) => p.text ?? ""));
        problems.push(
          `${target}: ${records.length} records (${records.map((x) => x.id).join(", ") || "none"}); starts sent ${starts.get(target)?.sends ?? 0}, answered ${JSON.stringify(replies)}`,
        );
        if (!r) continue;
      }
      if (r.status !== "completed" && r.status !== "aborted") {
        lost += 1;
        problems.push(`${r.id}: ended ${r.status} at ${r.appliedPercent}%/${r.desiredPercent}% (${r.problem ?? "no problem shown"})`);
      } else outcomes[r.status] += 1;

      // The weights actually written to the TrafficSplit or HTTPRoute, in order (only writes the API accepted).
      // A gateway rollout's last write (Finish or Abort) is the one that removes the test rule: "final".
      const gateway = isGateway(i);
      const writes: Write[] = kube!
        .mutations(gateway ? "httproutes" : "trafficsplits", target, "web")
        .filter((q) => q.status >= 200 && q.status < 300)
        .map((q) => {
          const spec = (q.body as { spec?: unknown } | undefined)?.spec;
          const state = gateway ? routeState(spec) : { percent: canaryPercent(spec), testRule: false };
          return { at: q.at, method: q.method, status: q.status, percent: state.percent, final: gateway && !state.testRule };
        });
      const pcts = writes.map((w) => w.percent);
      const keys = writes.map((w) => `${w.percent}${w.final ? " (final)" : ""}`);
      const show = `${r.id} (${r.status}) wrote ${keys.join(" → ") || "nothing"}`;
      for (let w = 1; w < keys.length; w++) {
        if (keys[w] === keys[w - 1]) {
          doubled += 1;
          problems.push(`${show}: ${keys[w]}% written twice in a row (at ${writes[w - 1]!.at} and ${writes[w]!.at})`);
        }
      }
      let walk = pcts.at(-1) === 0 && r.status === "aborted" ? pcts.slice(0, -1) : pcts;
      if (gateway) {
        // The test stage (0%, test rule added) first, then the plan; one final write, last, if it ended.
        const finals = writes.map((w, n) => (w.final ? n : -1)).filter((n) => n >= 0);
        const wantFinal = r.status === "completed" ? 100 : r.status === "aborted" ? 0 : undefined;
        if (finals.length > 1 || (finals.length === 1 && finals[0] !== writes.length - 1)) problems.push(`${show}: the test rule was removed before the end`);
        if (wantFinal !== undefined && (finals.length !== 1 || writes.at(-1)!.percent !== wantFinal))
          problems.push(`${show}: no final write of ${wantFinal}% removing the test rule`);
        walk = writes.filter((w) => !w.final).map((w) => w.percent);
        if (walk[0] === 0) walk = walk.slice(1);
        else if (walk.length) problems.push(`${show}: the first write is not the 0% test stage`);
      }
      const distinct = walk.filter((p, w) => w === 0 || p !== walk[w - 1]);
      distinct.forEach((p, w) => {
        if (p !== PLAN[w]) {
          skipped += 1;
          problems.push(`${show}: write #${w + 1} is ${p}%, the plan's step ${w + 1} is ${PLAN[w]}%`);
        }
      });
      if (r.status === "completed" && distinct.length < PLAN.length) {
        skipped += PLAN.length - distinct.length;
        problems.push(`${show}: completed without writing ${PLAN.slice(distinct.length).join(", ")}%`);
      }
      // The record's own history: every step advanced once, in order.
      const started = r.events.find((e) => e.kind === "started");
      if (started) {
        const advanced = r.events.filter((e) => e.kind === "advanced").map((e) => e.to);
        const first = gateway ? 0 : 1; // a gateway rollout starts at the test stage: its first advance is to 10%
        if (JSON.stringify(advanced) !== JSON.stringify(PLAN.slice(first, first + advanced.length))) {
          doubled += 1;
          problems.push(`${r.id}: the record advanced ${advanced.join(" → ")}, not along ${PLAN.join(" → ")}`);
        }
      }

      // How long the kills held things up: each step from decision to verified weights, each abort.
      for (const e of r.events) {
        if (e.kind !== "advanced" && e.kind !== "abort-requested") continue;
        const done = r.events.find((x) => x.seq > e.seq && (e.kind === "advanced" ? x.kind === "applied" && x.to === e.to : x.kind === "aborted"));
        if (!done) continue;
        const lat = e.kind === "advanced" ? latency.step : latency.abort;
        if (done.at - e.at > lat.ms) Object.assign(lat, { ms: done.at - e.at, id: r.id });
      }

      // The mesh holds what the record says, and what its ending means.
      const routeNow = gateway ? routeState(kube!.get("httproutes", target, "web")?.spec) : undefined;
      const now = routeNow ? routeNow.percent : canaryPercent(kube!.get("trafficsplits", target, "web")?.spec);
      if (routeNow?.testRule && (r.status === "completed" || r.status === "aborted"))
        problems.push(`${r.id} (${r.status}): the HTTPRoute still has the test rule`);
      const expected = r.status === "completed" ? 100 : r.status === "aborted" ? 0 : r.appliedPercent;
      if (now === r.appliedPercent && now === expected) meshMatches += 1;
      else problems.push(`${r.id} (${r.status}): the ${gateway ? "HTTPRoute" : "TrafficSplit"} holds ${now}%, the record says ${r.appliedPercent}%`);

      // Every abort, the bot's or a person's, ended with all traffic on stable, read back.
      const abortRequested = r.events.some((e) => e.kind === "abort-requested") || r.status === "aborting" || r.status === "aborted";
      if (abortRequested) {
        abortsSeen += 1;
        if (r.status === "aborted" && r.appliedPercent === 0 && now === 0 && r.events.some((e) => e.kind === "aborted")) abortsCompleted += 1;
        else problems.push(`${r.id}: an abort did not complete (status ${r.status}, record ${r.appliedPercent}%, mesh ${now}%)`);
      }
      if (unhealthy.has(target) && turnedBad.has(target) && r.status !== "aborted") {
        problems.push(`${r.id}: its canary failed 30% of requests from ${turnedBad.get(target)}% on, yet it ended ${r.status}`);
      }
      const a = aborts.get(target);
      if (manual.has(target) && a && !a.moot && r.status !== "aborted") problems.push(`${r.id}: Abort was pressed, yet it ended ${r.status}`);
    }
    problems.push(...unexpectedExits);

    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;
    const abortWord = abortsSeen === abortsCompleted ? "all completed" : `${abortsCompleted} completed`;
    const summary = `R2: ${KILLS} kills, ${TARGETS} rollouts, ${lost} lost, ${doubled} double-applied, ${skipped} skipped, ${abortsSeen} aborts ${abortWord}, mesh == record for ${meshMatches}/${TARGETS} (seed ${SEED}, ${Math.round((Date.now() - began) / 1000)} s)`;
    console.log(summary);
    console.log(
      [
        `  ${outcomes.completed} completed, ${outcomes.aborted} aborted (${[...unhealthy.keys()].join(", ")} turned unhealthy; Abort pressed on ${[...manual.keys()].filter((t) => aborts.has(t) && !aborts.get(t)!.moot).join(", ") || "none"})`,
        `  at the kills: rollouts running ${(atKill.runningRollouts / KILLS).toFixed(1)} on average; ${atKill.onWrite}/${KILLS} kills landed on a TrafficSplit or HTTPRoute write, ${atKill.stepInFlight}/${KILLS} while a step was between decision and verification`,
        `  longest wait: a step decided → verified ${latency.step.ms} ms (${latency.step.id}), an abort requested → verified ${latency.abort.ms} ms (${latency.abort.id || "-"})`,
        `  commands sent again after the process that got them died: ${resends.starts} start(s), ${resends.aborts} abort(s)`,
        `  kill to the next process answering /readyz: median ${med(outageMs)} ms, max ${Math.max(...outageMs)} ms (${prespawn ? `pre-spawned; loading took median ${med(loadMs)} ms` : "spawned after the kill"}; a start costs median ${med(startCpuMs)} ms of CPU); all ended ${Math.round(settledMs / 1000)} s after the last kill`,
        ...problems.map((p) => `  PROBLEM ${p}`),
      ].join("\n"),
    );
    expect(problems).toEqual([]);
    expect({ lost, doubled, skipped, meshMatches, abortsCompleted }).toEqual({
      lost: 0,
      doubled: 0,
      skipped: 0,
      meshMatches: TARGETS,
      abortsCompleted: abortsSeen,
    });
    passed = true;
  } finally {
    clearInterval(watcher);
  }
});

import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../sandbox/peers/net.ts";
import { botProcessEnv } from "../support/bot-process.ts";
import { runtimeEnv } from "../support/dockerfile.ts";
import { deploymentMemoryLimitMiB, oldSpaceInContainerMiB } from "../support/pod-memory.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { progress } from "./stats.ts";

/**
 * The bot under measurement: the production entry point (`node dist/src/main.js`, built by `npm run build`)
 * as a process of its own, so the bench's load generator and peers do not share its event loop, and its
 * resident memory can be read from /proc as an operator would.
 */

const REPO = fileURLToPath(new URL("../..", import.meta.url));
/** The old generation node gives itself in the Deployment's container (256 MiB under its 512Mi limit). */
export const POD_OLD_SPACE_MIB = oldSpaceInContainerMiB(deploymentMemoryLimitMiB());

export type BotChild = {
  proc: ChildProcess;
  pid: number;
  /** Where Slack sends requests. */
  eventsUrl: string;
  /**
   * Resident and peak resident memory (VmRSS, VmHWM) in MiB, and the V8 heap as the bot's own /metrics reports
   * it (used and total, in MiB; NaN when the bot serves no such metric).
   */
  memory(): Promise<{ rssMiB: number; peakMiB: number; heapUsedMiB: number; heapTotalMiB: number }>;
  /** CPU time (user + system) used so far, in ms. */
  cpuMs(): Promise<number>;
  /**
   * When BENCH_BOT_NODE_ARGS has `--heapsnapshot-signal=SIGUSR2` and `--diagnostic-dir=<dir>`: a heap snapshot of
   * the bot now (V8 collects garbage first, so it holds the live heap only), waited for; resolves to its path.
   * Otherwise undefined, and nothing is done.
   */
  heapSnapshot(): Promise<string | undefined>;
  /** The last lines the bot logged (warnings and errors). */
  tail(): string;
  stop(): Promise<void>;
};

/** `npm run build` (tsc to dist/), so what runs is the compiled JavaScript the image runs. */
export async function buildDist(): Promise<void> {
  const child = spawn("npm", ["run", "--silent", "build"], { cwd: REPO, stdio: ["ignore", "inherit", "inherit"] });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`npm run build failed (exit ${String(code)})`);
}

export async function spawnBuiltBot(opts: {
  signingSecret: string;
  slack: { botToken: string; apiUrl: string };
  kube: { kubeconfigPath: string };
  redisUrl: string;
  prefix: string;
  /** More environment, e.g. ROLLOUT_TARGETS. */
  extra?: Record<string, string>;
}): Promise<BotChild> {
  const [port, healthPort] = [await freePort(), await freePort()];
  const env = botProcessEnv({
    ...opts,
    port,
    healthPort,
    logLevel: process.env.BENCH_LOG_LEVEL ?? "warn",
    // As in the image: its ENV (production mode, no sandbox fallback; its memory settings).
    extra: { ...runtimeEnv(), ...opts.extra },
  });
  // BENCH_BOT_NODE_ARGS: node flags for the bot only, to profile it (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  // or "--heapsnapshot-signal=SIGUSR2"); the profile is written when the bench stops it.
  const nodeArgs = (process.env.BENCH_BOT_NODE_ARGS ?? "").split(" ").filter(Boolean);
  // As in the Deployment's pod: node sizes its heap from the container's memory limit, not the machine's RAM
  // (test/support/pod-memory.ts). BENCH_BOT_NODE_ARGS="--max-old-space-size=4096" measures it unlimited.
  if (!nodeArgs.some((a) => a.startsWith("--max-old-space-size"))) nodeArgs.unshift(`--max-old-space-size=${POD_OLD_SPACE_MIB}`);
  const proc = spawn(process.execPath, [...nodeArgs, "dist/src/main.js"], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  // BENCH_BOT_OUT=<file>: everything the bot prints, kept whole (e.g. with BENCH_BOT_NODE_ARGS="--trace-gc").
  const whole = process.env.BENCH_BOT_OUT ? createWriteStream(process.env.BENCH_BOT_OUT) : undefined;
  const keep = (b: Buffer) => {
    whole?.write(b);
    out = (out + b.toString()).slice(-4000);
  };
  proc.stdout!.on("data", keep);
  proc.stderr!.on("data", keep);
  const ready = () =>
    fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.status === 200,
      () => false,
    );
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`the bot exited (${proc.exitCode}): ${out}`);
      return (await ready()) || undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100, what: "the bot process to be ready" },
  );
  const pid = proc.pid!;
  return {
    proc,
    pid,
    eventsUrl: `http://127.0.0.1:${port}/slack/events`,
    async memory() {
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
      const metrics = await fetch(`http://127.0.0.1:${healthPort}/metrics`).then(
        (r) => (r.ok ? r.text() : ""),
        () => "",
      );
      const mib = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, "m").exec(metrics)?.[1] ?? Number.NaN) / 2 ** 20;
      return {
        rssMiB: kib("VmRSS") / 1024,
        peakMiB: kib("VmHWM") / 1024,
        heapUsedMiB: mib("rollout_bot_nodejs_heap_size_used_bytes"),
        heapTotalMiB: mib("rollout_bot_nodejs_heap_size_total_bytes"),
      };
    },
    async cpuMs() {
      // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name): utime and stime, in clock ticks (100/s).
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) * 10;
    },
    async heapSnapshot() {
      const dir = /--diagnostic-dir=(\S+)/.exec(nodeArgs.join(" "))?.[1];
      if (!dir || !nodeArgs.includes("--heapsnapshot-signal=SIGUSR2")) return undefined;
      const before = new Set(await readdir(dir));
      proc.kill("SIGUSR2");
      // V8 writes the snapshot on the bot's main thread: once the file is there and the bot answers again, it is complete.
      const file = await waitFor(async () => (await readdir(dir)).find((f) => f.endsWith(".heapsnapshot") && !before.has(f)), {
        timeoutMs: 120_000,
        intervalMs: 200,
        what: "the bot's heap snapshot",
      });
      await waitFor(async () => (await ready()) || undefined, { timeoutMs: 120_000, intervalMs: 200, what: "the bot to answer after its heap snapshot" });
      const path = join(dir, file);
      progress(`heap snapshot: ${path} (${((await stat(path)).size / 2 ** 20).toFixed(0)} MiB file)`);
      return path;
    },
    tail: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, "exit");
      proc.kill("SIGTERM");
      await Promise.race([exited, sleep(15_000).then(() => proc.kill("SIGKILL"))]);
    },
  };
}

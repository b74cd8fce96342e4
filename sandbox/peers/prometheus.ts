import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./net.ts";

/**
 * A real Prometheus server (Debian's /usr/bin/prometheus) on a loopback port, scraping the given
 * targets, with its config and TSDB in a temp directory that stop() removes.
 */

export type StartPrometheusOptions = {
  /** `host:port` (scraped at /metrics) or full URLs such as http://127.0.0.1:1234/metrics. */
  scrapeTargets: string[];
  scrapeIntervalSeconds?: number; // default 1
  /** Binary to run: the sandbox's configuration (PROMETHEUS_BIN, else PATH) or the test says which. */
  binary: string;
  readyTimeoutMs?: number;
};

export type PrometheusServer = {
  url: string;
  /**
   * Resolves once every target has been scraped successfully. Prometheus applies a new scrape
   * config only on its discovery tick (every 5 s), so the first scrape comes ~5 s after ready.
   */
  whenScraping(timeoutMs?: number): Promise<void>;
  /** Stop the server and delete its data. Safe to call twice. */
  stop(): Promise<void>;
};

function scrapeConfig(targets: string[], interval: number): string {
  const jobs = targets.map((t, i) => {
    const u = new URL(/^https?:\/\//.test(t) ? t : `http://${t}/metrics`);
    return [
      `  - job_name: target${i}`,
      `    scheme: ${u.protocol.replace(":", "")}`,
      `    metrics_path: ${JSON.stringify(u.pathname || "/metrics")}`,
      `    static_configs:`,
      `      - targets: [${JSON.stringify(u.host)}]`,
    ].join("\n");
  });
  // JSON strings are valid YAML scalars, which keeps quoting simple.
  return [
    "global:",
    `  scrape_interval: ${interval}s`,
    `  scrape_timeout: ${interval}s`,
    `  evaluation_interval: ${interval}s`,
    "scrape_configs:",
    ...jobs,
    "",
  ].join("\n");
}

export async function startPrometheus(opts: StartPrometheusOptions): Promise<PrometheusServer> {
  const binary = opts.binary;
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    throw new Error(`Prometheus binary not found at ${binary}: install it (apt-get install prometheus) or set PROMETHEUS_BIN`);
  }
  const dir = await mkdtemp(join(tmpdir(), "rollout-bot-prom-"));
  const configFile = join(dir, "prometheus.yml");
  await writeFile(configFile, scrapeConfig(opts.scrapeTargets, opts.scrapeIntervalSeconds ?? 1));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
      // Debian's defaults point at /usr/share; the tests use none of the console pages.
      `--web.console.templates=${dir}`,
      `--web.console.libraries=${dir}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killTimer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killTimer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`prometheus exited before it was ready (code ${child.exitCode ?? child.signalCode}):\n${stderr}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus at ${url} was not ready in time:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const whenScraping = async (timeoutMs = 15_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        const res = await fetch(`${url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(1_000) });
        const body = (await res.json()) as { data?: { activeTargets?: { health: string }[] } };
        const targets = body.data?.activeTargets ?? [];
        if (targets.length === opts.scrapeTargets.length && targets.every((t) => t.health === "up")) return;
      } catch {
        /* retry */
      }
      if (Date.now() > until) throw new Error(`prometheus at ${url} did not scrape all of ${opts.scrapeTargets.join(", ")} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { url, whenScraping, stop };
}

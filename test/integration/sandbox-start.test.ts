import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { REDIS_URL } from "../support/redis.ts";
import { freePort } from "../../sandbox/peers/net.ts";
import { waitFor } from "../support/wait.ts";
import { runSandbox } from "../../sandbox/main.ts";

/**
 * Issue 12: `npm start` (src/main.ts) with no Slack credentials starts the sandbox instead of failing, says
 * so first, prints one URL and stops cleanly; without Redis it says in one line how to start one.
 */

function run(env: Record<string, string>) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SLACK_"))) as Record<string, string>;
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { ...base, SANDBOX_PROMETHEUS: "off", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (b: Buffer) => (out.stdout += b.toString()));
  child.stderr.on("data", (b: Buffer) => (out.stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, out, exited };
}

describe("npm start without Slack credentials", () => {
  it("starts the sandbox: says so first, prints one URL that serves the page, and stops on SIGTERM", async () => {
    const port = await freePort();
    const p = run({ REDIS_URL, PORT: String(port) });
    try {
      // Generous: loading the bot's modules through tsx takes seconds on a busy two-core machine.
      await waitFor(() => p.out.stdout.includes("Open http://"), { timeoutMs: 40_000, what: "the URL line" });
      const lines = p.out.stdout.trim().split("\n");
      expect(lines[0]).toMatch(/^rollout-bot: no SLACK_SIGNING_SECRET or SLACK_BOT_TOKEN set, so this is the sandbox .* To run for real, set them/);
      expect(lines.slice(1)).toEqual([`Open http://127.0.0.1:${port}/`]);
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(await page.text()).toContain("<title>rollout-bot sandbox</title>");
      const state = (await (await fetch(`http://127.0.0.1:${port}/api/state`)).json()) as {
        targets: { key: string }[];
        clusters: { label: string; metricsSource: string }[];
        metricsSource: string;
      };
      expect(state.targets.map((t) => t.key)).toEqual(["backend-svc", "world", "web", "backend-svc@prod-eu", "payments", "payments@prod-eu"]);
      expect(state.metricsSource).toMatch(/^linkerd1 admin/);
      // Each cluster reads its own mesh's metrics.
      expect(state.clusters.map((c) => c.label)).toEqual(["own cluster", "cluster prod-eu"]);
      expect(state.clusters[1]!.metricsSource).toMatch(/^linkerd1 admin/);
      expect(state.clusters[1]!.metricsSource).not.toBe(state.clusters[0]!.metricsSource);
    } finally {
      p.child.kill("SIGTERM");
    }
    expect(await p.exited).toBe(0);
  }, 50_000);

  it("in production (NODE_ENV=production) it refuses to start without credentials instead", async () => {
    const p = run({ REDIS_URL, PORT: "0", NODE_ENV: "production" });
    expect(await p.exited).toBe(2);
    expect(p.out.stdout).not.toContain("sandbox");
    expect(p.out.stderr).toMatch(/^rollout-bot cannot start:\n  - SLACK_SIGNING_SECRET is missing/);
  }, 40_000);

  it("without Redis: one line on how to start it, and a non-zero exit", async () => {
    const port = await freePort(); // nothing listens there
    const out: string[] = [];
    const err: string[] = [];
    const code = await runSandbox({ REDIS_URL: `redis://127.0.0.1:${port}`, PATH: "" }, "no-credentials", { out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(code).toBe(3);
    expect(out).toEqual([expect.stringMatching(/^rollout-bot: no SLACK_SIGNING_SECRET or SLACK_BOT_TOKEN set, so this is the sandbox/)]);
    expect(err).toEqual([
      `sandbox cannot start: Redis does not answer at redis://127.0.0.1:${port}; start one with \`redis-server --daemonize yes\` (Debian: apt-get install redis-server), or set REDIS_URL.`,
    ]);
  });
});

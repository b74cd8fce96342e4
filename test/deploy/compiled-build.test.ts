import { execFile, spawn } from "node:child_process";
import { builtinModules } from "node:module";
import { mkdtemp, readFile, rm, symlink, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../sandbox/peers/net.ts";
import { cleanupPrefix, randomPrefix, REDIS_URL, testRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

/**
 * The image runs `node dist/src/main.js`: the tsc build must produce JavaScript that starts without any
 * TypeScript loader. Built into a temporary directory (the repository's dist/ is left alone) that borrows
 * the repository's node_modules and package.json ("type": "module").
 */
const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);
let out: string;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), "rollout-bot-build-"));
  await symlink(join(repo, "node_modules"), join(out, "node_modules"), "dir");
  await copyFile(join(repo, "package.json"), join(out, "package.json"));
  await run(process.execPath, [join(repo, "node_modules/typescript/bin/tsc"), "-p", join(repo, "tsconfig.build.json"), "--outDir", join(out, "dist")], {
    cwd: repo,
  });
}, 120_000);

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

type Exit = { code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string };

function start(env: Record<string, string>): { pid: number; exited: Promise<Exit>; kill(): void } {
  // No tsx, no --import: exactly the image's command. HOME points nowhere so no ~/.kube/config is found.
  const child = spawn(process.execPath, [join(out, "dist/src/main.js")], { cwd: out, env: { PATH: process.env.PATH ?? "", HOME: out, ...env } });
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const exited = new Promise<Exit>((done, fail) => {
    child.on("error", fail);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stderr, stdout });
    });
  });
  // SIGKILL only while it still runs (a test that failed before it exited), never a reused pid.
  return { pid: child.pid!, exited, kill: () => void (child.exitCode === null && child.signalCode === null && child.kill("SIGKILL")) };
}

/** Relative and bare import specifiers of one emitted ES module. */
function specifiers(js: string): string[] {
  return [...js.matchAll(/(?:^|[\s;])(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^import\s*["']([^"']+)["']/gm)].map(
    (m) => (m[1] ?? m[2] ?? m[3])!,
  );
}

describe("compiled build (npm run build)", () => {
  it("starts with plain node and reports a bad configuration, exit code 2", async () => {
    const { code, stderr } = await start({ SLACK_BOT_TOKEN: "not-a-bot-token", SLACK_SIGNING_SECRET: "s" }).exited;
    expect(stderr).toContain("rollout-bot cannot start:");
    expect(stderr).toContain("SLACK_BOT_TOKEN must start with xoxb-");
    expect(stderr).toContain("no usable Kubernetes configuration");
    expect(stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|ERR_UNKNOWN_FILE_EXTENSION|SyntaxError/);
    expect(code).toBe(2);
  }, 30_000);

  it("starts with plain node, answers /healthz and /readyz on HEALTH_PORT, and exits 0 on SIGTERM", async () => {
    const [port, healthPort] = [await freePort(), await freePort()];
    const prefix = randomPrefix("dist");
    // Credentials for an API server nobody answers at: the bot must start without reaching it.
    const kubeconfig = join(out, "kubeconfig.yaml");
    await writeFile(
      kubeconfig,
      "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n" +
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    );
    const bot = start({
      SLACK_SIGNING_SECRET: "signing-secret",
      SLACK_BOT_TOKEN: "xoxb-compiled-build",
      SLACK_API_URL: "http://127.0.0.1:9/api/",
      KUBECONFIG: kubeconfig,
      REDIS_URL,
      ROLLOUT_KEY_PREFIX: prefix,
      PORT: String(port),
      HEALTH_PORT: String(healthPort),
      LOG_LEVEL: "warn",
    });
    const redis = testRedis();
    try {
      const get = (path: string) =>
        fetch(`http://127.0.0.1:${healthPort}${path}`).then(
          async (r) => `${r.status} ${await r.text()}`,
          () => undefined,
        );
      expect(await waitFor(() => get("/healthz"), { what: "/healthz of the compiled bot", timeoutMs: 15_000 })).toBe("200 ok");
      // Alive, and not ready: nothing answers at the kubeconfig's API server (issue 13: /readyz checks it).
      expect(await get("/readyz")).toBe("503 kubernetes API unavailable");
      process.kill(bot.pid, "SIGTERM"); // as tini passes it on in the image
      const { code, signal, stderr } = await bot.exited;
      expect(stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|ERR_UNKNOWN_FILE_EXTENSION|SyntaxError/);
      expect({ code, signal }).toEqual({ code: 0, signal: null });
    } finally {
      bot.kill();
      await cleanupPrefix(redis, prefix);
      await redis.quit();
    }
  }, 40_000);

  it("imports only .js files and production dependencies from main.js onwards", async () => {
    const pkg = JSON.parse(await readFile(join(repo, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    const production = new Set(Object.keys(pkg.dependencies));
    const builtins = new Set(builtinModules);
    const seen = new Set<string>();
    const bare = new Set<string>();
    const queue = [join(out, "dist/src/main.js")];
    while (queue.length) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const spec of specifiers(await readFile(file, "utf8"))) {
        if (spec.startsWith(".")) {
          // Node 22.18+ would load a .ts import by stripping types and hide a missing rewrite: check it here.
          expect(spec, `${file} imports ${spec}`).toMatch(/\.js$/);
          queue.push(resolve(dirname(file), spec));
        } else if (!spec.startsWith("node:") && !builtins.has(spec)) {
          bare.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
        }
      }
    }
    expect(seen.size).toBeGreaterThan(20);
    const notProduction = [...bare].filter((p) => !production.has(p));
    expect(notProduction, "packages the running bot imports that npm ci --omit=dev would not install").toEqual([]);
  });
});

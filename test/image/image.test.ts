import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKubeApiPeer, type KubeApiPeer } from "../../sandbox/peers/kube-api.ts";
import { freePort } from "../../sandbox/peers/net.ts";
import { SlackDriver, startSlackPeer, type SlackPeer } from "../../sandbox/peers/slack/index.ts";
import { percentOn, SEED, seedSplit } from "../faults/support.ts";
import { RedisServer } from "../support/redis-server.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 25: the image built from the Dockerfile (`npm run image`), run the way deploy/base/deployment.yaml runs
 * the pod (read-only root, /tmp a tmpfs, no capabilities, no new privileges, the image's own user), proves
 * what the Dockerfile promises: tini as PID 1, node as 10001:10001, production dependencies and dist/ only,
 * health and readiness, a whole rollout against the local Slack and Kubernetes peers, and a clean SIGTERM.
 * `npm run image:test` builds first (layer cache) and runs this file; it is not part of `npm test`.
 */

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const ENGINE = `${REPO}scripts/image/engine.sh`;
const CHANNEL = "C0ROLLOUT";
/** The Deployment's terminationGracePeriodSeconds; the bot's drain (ROLLOUT_SHUTDOWN_SECONDS) defaults to 25. */
const GRACE_SECONDS = 30;
/** What the Dockerfile may add on top of its base (production node_modules, dist/, tini): measured 75 MB. */
const ADDED_BYTES_CEILING = 90e6;

/** Marks this file's containers with the test process's PID, so a later run can tell leftovers. */
const RUN_LABEL = "org.rollout-bot.image-test-pid";

const exec = promisify(execFile);
const engineName = execFileSync(ENGINE, ["name"], { encoding: "utf8" }).trim();
const image = execFileSync(`${REPO}scripts/image/build.sh`, ["--tag"], { encoding: "utf8" }).trim();

async function engine(...args: string[]): Promise<string> {
  try {
    const { stdout } = await exec(ENGINE, args, { maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${engineName} ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** A command in the running container, as its own user (as `kubectl exec` would). */
const inContainer = (script: string) => engine("exec", container, "sh", "-c", script);

type Inspect = { Config: { User: string; Env: string[]; Labels: Record<string, string> | null; Healthcheck?: unknown }; Size: number };

type Platform = { os?: string[]; cpu?: string[]; libc?: string[] };

/** npm installs an optional package only where its os, cpu and libc fields allow (a "!x" entry excludes x). */
function forThisPlatform(pkg: Platform, arch: string): boolean {
  const allows = (list: string[] | undefined, value: string) =>
    !list || (list.some((v) => v.startsWith("!")) ? !list.includes(`!${value}`) : list.includes(value));
  return allows(pkg.os, "linux") && allows(pkg.cpu, arch) && allows(pkg.libc, "glibc");
}

let slack: SlackPeer;
let kube: KubeApiPeer;
let redis: RedisServer;
let container = "";
let botPort = 0;
let healthPort = 0;
let signingSecret = "";
let inspect: Inspect;

beforeAll(async () => {
  const inspected = JSON.parse(
    await engine("image", "inspect", image).catch((err: Error) => {
      throw new Error(`${err.message}\nbuild it first: npm run image (npm run image:test builds, then runs this)`);
    }),
  ) as Inspect[];
  inspect = inspected[0]!;
  slack = await startSlackPeer({ botToken: `xoxb-${randomBytes(6).toString("hex")}`, channels: [{ id: CHANNEL, name: "deploys" }] });
  // Every Service and Deployment the start names exists and is ready: the rollout is the subject, not preflight.
  kube = await startKubeApiPeer({ smiFlavour: "nginx", implicitWorkloads: true });
  // Redis on a port of its own, stopped at first: the bot starts without it, then it comes.
  redis = await RedisServer.start();
  await redis.kill();
  [botPort, healthPort] = [await freePort(), await freePort()];
  signingSecret = randomBytes(8).toString("hex");
  await removeLeftovers();
  container = `rollout-bot-image-test-${randomBytes(4).toString("hex")}`;
  const deploymentLike = [
    "--read-only",
    // Podman also mounts tmpfs on /run, /var/tmp and more under --read-only unless told not to; the pod has /tmp only.
    ...(engineName === "podman" ? ["--read-only-tmpfs=false"] : []),
    "--tmpfs",
    "/tmp:rw,size=64m",
    "--cap-drop=all",
    "--security-opt=no-new-privileges",
  ];
  // NODE_ENV=production is closed by default: the operator opens it with a targets file, as this one does for
  // the walking skeleton's ad-hoc start in namespace `default`.
  const targetsDir = mkdtempSync(join(tmpdir(), "rollout-bot-image-"));
  writeFileSync(
    join(targetsDir, "targets.yaml"),
    'adhoc: true\npolicy:\n  start: ["*"]\n  advance: ["*"]\n  finish: ["*"]\n  namespaces: [default]\ntargets: []\n',
    { mode: 0o644 },
  );
  chmodSync(targetsDir, 0o755); // the bot runs as 10001 in the container
  const env = {
    ROLLOUT_TARGETS: "/etc/rollout-bot/targets/targets.yaml",
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_API_URL: slack.apiUrl,
    KUBECONFIG: "/etc/rollout-bot/kubeconfig",
    REDIS_URL: redis.url,
    PORT: String(botPort),
    HEALTH_PORT: String(healthPort),
    ROLLOUT_KEY_PREFIX: `image-${randomBytes(3).toString("hex")}:`,
    LOG_LEVEL: "info",
  };
  // The host's network: the peers and Redis listen on 127.0.0.1, as they do for the bot in every other test.
  await engine(
    "run",
    "--detach",
    "--name",
    container,
    "--label",
    `${RUN_LABEL}=${process.pid}`,
    "--network",
    "host",
    ...(engineName === "podman" ? ["--pull=never"] : []),
    ...deploymentLike,
    "--volume",
    `${kube.kubeconfigPath}:/etc/rollout-bot/kubeconfig:ro`,
    "--volume",
    `${targetsDir}:/etc/rollout-bot/targets:ro`,
    ...Object.entries(env).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
    image,
  );
}, 120_000);

afterAll(async () => {
  if (container) {
    const logs = await engine("logs", container).catch(() => "");
    if (process.env.IMAGE_TEST_LOGS) console.log(logs);
    await engine("rm", "--force", container).catch(() => "");
  }
  await slack?.close();
  await kube?.close();
  await redis?.close();
});

const status = (path: string) =>
  fetch(`http://127.0.0.1:${healthPort}${path}`, { signal: AbortSignal.timeout(2_000) }).then(
    (r) => r.status,
    () => 0,
  );

/** Containers an earlier run left behind (interrupted before its afterAll): those whose test process is gone. */
async function removeLeftovers(): Promise<void> {
  const rows = (
    await engine(
      "ps",
      "--all",
      "--filter",
      `label=${RUN_LABEL}`,
      "--format",
      engineName === "podman" ? `{{.ID}} {{index .Labels "${RUN_LABEL}"}}` : `{{.ID}} {{.Label "${RUN_LABEL}"}}`,
    )
  ).trim();
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const [id, pid] of rows ? rows.split("\n").map((r) => r.split(" ")) : []) {
    if (id && !alive(Number(pid))) await engine("rm", "--force", id);
  }
}

/** Poll a health path until it answers `want`; a container that has exited fails at once, with its logs. */
async function untilStatus(path: string, want: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await status(path);
    if (got === want) return;
    const state = await containerState();
    if (!state.Running)
      throw new Error(`the container exited (code ${state.ExitCode}) before ${path} answered ${want}:\n${(await engine("logs", container)).slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`${path} answered ${got}, not ${want}, for ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function containerState(): Promise<{ Running: boolean; ExitCode: number }> {
  const [c] = JSON.parse(await engine("container", "inspect", container)) as { State: { Running: boolean; ExitCode: number } }[];
  return c!.State;
}

describe(`the image ${image}, run as the Deployment runs it`, () => {
  it("prints its size and layers, and adds no more than production dependencies, dist/ and tini to its base", async () => {
    const base = inspect.Config.Labels?.["org.rollout-bot.base"];
    expect(base, "build.sh records the base on the image").toBeTruthy();
    const [baseInspect] = JSON.parse(await engine("image", "inspect", base!)) as Inspect[];
    const history = await engine("history", "--format", "{{.Size}}\t{{.CreatedBy}}", image);
    console.log(`${image}: ${(inspect.Size / 1e6).toFixed(1)} MB on ${base} (${(baseInspect!.Size / 1e6).toFixed(1)} MB)\n${history}`);
    expect(inspect.Size - baseInspect!.Size).toBeLessThan(ADDED_BYTES_CEILING);
  });

  it("has no HEALTHCHECK (Kubernetes runs the Deployment's probes), NODE_ENV=production and a numeric user", () => {
    expect(inspect.Config.Healthcheck ?? undefined).toBeUndefined();
    expect(inspect.Config.User).toBe("10001:10001");
    expect(inspect.Config.Env).toContain("NODE_ENV=production");
    expect(inspect.Config.Env.filter((e) => /token|secret|password|npm_config|registry/i.test(e))).toEqual([]);
  });

  it("answers /healthz 200 and /readyz 503 while Redis is unreachable", async () => {
    await untilStatus("/healthz", 200, 45_000);
    expect(await status("/readyz")).toBe(503);
  });

  it("turns ready (/readyz 200) once Redis is reachable", async () => {
    await redis.restart();
    await untilStatus("/readyz", 200, 30_000);
  });

  it("runs tini as PID 1 and every process as 10001:10001, with no capabilities and no new privileges", async () => {
    const lines = (
      await inContainer(
        `for p in /proc/[0-9]*; do [ -r $p/cmdline ] || continue; echo "$(basename $p)|$(tr '\\0' ' ' <$p/cmdline)|$(grep -E '^(Uid|Gid|CapEff|NoNewPrivs):' $p/status | tr -s '\\t\\n' '  ')"; done`,
      )
    )
      .trim()
      .split("\n")
      .map((l) => l.split("|") as [string, string, string]);
    const pid1 = lines.find(([pid]) => pid === "1");
    expect(pid1?.[1].trim()).toBe("/usr/bin/tini -- node dist/src/main.js");
    const node = lines.find(([, cmd]) => cmd.trim() === "node dist/src/main.js");
    expect(node, `node under tini in ${JSON.stringify(lines)}`).toBeTruthy();
    for (const [, cmd, st] of lines.filter(([, cmd]) => cmd.includes("dist/src/main.js"))) {
      expect(st, cmd).toMatch(/Uid: 10001 10001 10001 10001 Gid: 10001 10001 10001 10001 /);
      expect(st, cmd).toMatch(/CapEff: 0000000000000000 /);
      expect(st, cmd).toMatch(/NoNewPrivs: 1/);
    }
    // The root is read-only and /tmp is the one place to write.
    await expect(inContainer("touch /app/x")).rejects.toThrow(/Read-only file system/);
    await inContainer("touch /tmp/x && rm /tmp/x");
  });

  it("holds dist/ and exactly the production dependencies (npm ls --omit=dev): no tsx, no src/, no tests", async () => {
    expect((await inContainer("ls -A /app")).trim().split("\n").sort()).toEqual(["dist", "node_modules", "package.json"]);
    expect((await inContainer("ls -A /app/dist")).trim().split("\n").sort()).toEqual(["commands", "sandbox", "src"]);
    const arch = (await inContainer("node -p process.arch")).trim();
    const lock = JSON.parse(readFileSync(`${REPO}package-lock.json`, "utf8")) as { packages: Record<string, Platform> };
    // Every installed package: a package.json directly under a node_modules/<name> or node_modules/@scope/<name>.
    const inImage = (await inContainer("cd /app && find node_modules -name package.json -type f"))
      .trim()
      .split("\n")
      .map((p) => p.replace(/\/package\.json$/, ""))
      .filter((p) => /(^|\/)node_modules\/(@[^/]+\/)?[^/@][^/]*$/.test(p));
    // From the lockfile (what `npm ci --omit=dev` installs), not from this machine's node_modules.
    const wanted = execFileSync("npm", ["ls", "--omit=dev", "--all", "--parseable", "--package-lock-only"], {
      cwd: REPO,
      encoding: "utf8",
      maxBuffer: 64 << 20,
      stdio: ["ignore", "pipe", "pipe"],
    })
      .trim()
      .split("\n")
      .map((p) => p.slice(p.indexOf("node_modules/")))
      .filter((p) => p.startsWith("node_modules/") && forThisPlatform(lock.packages[p] ?? {}, arch));
    expect({ missing: wanted.filter((p) => !inImage.includes(p)), extra: inImage.filter((p) => !wanted.includes(p)) }).toEqual({ missing: [], extra: [] });
    for (const dev of ["tsx", "typescript", "vitest", "eslint", "prettier"]) expect(inImage).not.toContain(`node_modules/${dev}`);
    // None of the project's TypeScript or tests (some dependencies ship their own tests: npm packs what they publish).
    const ours = "cd /app && find . -path ./node_modules -prune -o \\( -name '*.ts' -o -name '*.test.*' -o -name '*.spec.*' -o -name test \\) -print";
    expect((await inContainer(ours)).trim()).toBe("");
    // Type declarations and source maps are dropped in the deps stage.
    expect((await inContainer("cd /app && find node_modules -name '*.d.ts' -o -name '*.map' | head -5")).trim()).toBe("");
  });

  it("adds no npm config, npm cache, credentials or kubeconfig to its base", async () => {
    const base = inspect.Config.Labels!["org.rollout-bot.base"]!;
    const suspicious =
      "\\( -name .npmrc -o -name npmrc -o -name _cacache -o -name _logs -o -name '.env*' -o -name '*.pem' -o -name 'id_*' -o -name '*kubeconfig*' -o -name .git -o -name '.*_history' \\)";
    const list = async (ref: string) =>
      new Set(
        (
          await engine(
            "run",
            "--rm",
            "--network",
            "none",
            ...(engineName === "podman" ? ["--pull=never"] : []),
            "--entrypoint",
            "sh",
            ref,
            "-c",
            `find / -xdev ${suspicious} -print 2>/dev/null || true`,
          )
        )
          .trim()
          .split("\n")
          .filter(Boolean),
      );
    const [inImage, inBase] = await Promise.all([list(image), list(base)]);
    expect([...inImage].filter((p) => !inBase.has(p))).toEqual([]);
  });

  it("carries a whole rollout: 10% -> 80% -> 100% -> completed, through the container's Slack receiver", async () => {
    seedSplit({ kube });
    const driver = new SlackDriver({ botUrl: `http://127.0.0.1:${botPort}/slack/events`, signingSecret, peer: slack });
    const message = (contains: string) =>
      waitFor(
        () =>
          slack
            .messages(CHANNEL)
            .find(
              (m) =>
                (!m.thread_ts || m.thread_ts === m.ts) &&
                JSON.stringify(m.blocks ?? []).includes("Rollout backend-svc#1:") &&
                JSON.stringify(m.blocks).includes(contains),
            ),
        { timeoutMs: 20_000, what: `the rollout message showing "${contains}"` },
      );
    const click = async (userId: string, label: string) => {
      const m = await message(label);
      expect((await driver.click({ userId, channelId: CHANNEL, messageTs: m.ts, button: slack.findButton(CHANNEL, m.ts, label) })).status).toBe(200);
    };

    expect((await driver.slash({ userId: "UALICE", channelId: CHANNEL, text: SEED })).status).toBe(200);
    const first = await message("Advance to 80%");
    expect(JSON.stringify(first.blocks)).toContain("backend-v1 *90%* · backend-v2 *10%*");
    expect(percentOn({ kube }, "backend-v2")).toBe(10);
    await click("UBOB", "Advance to 80%");
    await message("Advance to 100%");
    expect(percentOn({ kube }, "backend-v2")).toBe(80);
    await click("UALICE", "Advance to 100%");
    await message("Finish");
    expect(percentOn({ kube }, "backend-v2")).toBe(100);
    await click("UALICE", "Finish");
    const done = await message("Completed");
    expect(done.ts).toBe(first.ts);
    const thread = await waitFor(() => {
      const t = slack.thread(CHANNEL, first.ts).map((m) => m.text ?? "");
      return t.some((x) => x.includes("completed")) ? t : undefined;
    });
    expect(thread.some((t) => t.includes("<@UBOB> advanced to 80% (backend-v1/backend-v2 90/10 → 20/80)"))).toBe(true);
  }, 90_000);

  it(
    `stops on SIGTERM (${engineName} stop) with exit code 0 within the ${GRACE_SECONDS} s grace period`,
    async () => {
      const started = Date.now();
      await engine("stop", "--time", String(GRACE_SECONDS), container);
      const seconds = (Date.now() - started) / 1000;
      const state = await containerState();
      const logs = await engine("logs", container);
      expect(state.Running).toBe(false);
      expect(state.ExitCode, logs.slice(-2000)).toBe(0);
      // engine stop sends SIGKILL at the deadline; well under it means node drained and tini passed its exit on.
      expect(seconds).toBeLessThan(GRACE_SECONDS - 5);
      expect(logs).toContain('"msg":"stopped"');
      console.log(`${engineName} stop: exit ${state.ExitCode} after ${seconds.toFixed(1)} s`);
    },
    (GRACE_SECONDS + 15) * 1000,
  );
});

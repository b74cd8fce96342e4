import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readDockerfile, runtimeEnv } from "../support/dockerfile.ts";

/**
 * The Dockerfile's promises read from the Dockerfile itself, in seconds: a supported Node LTS pinned by digest,
 * production dependencies only, compiled JavaScript run by node under tini, and a numeric non-root user
 * (Kubernetes can only verify runAsNonRoot for a numeric UID). `npm run image:test` (test/image/) builds the
 * image and proves the same on a running container.
 */

/** `FROM ${NODE_IMAGE} AS x` with `ARG NODE_IMAGE=node:22-…` -> node:22-…. */
function resolveArgs(args: string, defaults: Map<string, string>): string {
  return args.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => defaults.get(name) ?? "");
}

const execForm = (args: string): string[] => {
  const parsed: unknown = JSON.parse(args);
  expect(Array.isArray(parsed), `exec form expected, got ${args}`).toBe(true);
  return parsed as string[];
};

const all = readDockerfile();
const argDefaults = new Map(all.filter((i) => i.op === "ARG" && i.args.includes("=")).map((i) => i.args.split("=", 2) as [string, string]));
const froms = all.filter((i) => i.op === "FROM").map((i) => resolveArgs(i.args.split(/\s+/)[0]!, argDefaults));
const last = Math.max(...all.map((i) => i.stage));
const runtime = all.filter((i) => i.stage === last);
const one = (op: string) => {
  const found = runtime.filter((i) => i.op === op);
  expect(found, `exactly one ${op} in the runtime stage`).toHaveLength(1);
  return found[0]!.args;
};

describe("Dockerfile", () => {
  it("builds in one stage and runs on a supported Node LTS (22 or 24) in another", () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const image of froms) {
      const major = /^node:(\d+)(?:[.-]|$)/.exec(image)?.[1];
      expect(["22", "24"], `base image ${image}`).toContain(major);
    }
  });

  it("pins its base by digest", () => {
    for (const image of froms) expect(image).toMatch(/^node:[\w.-]+@sha256:[0-9a-f]{64}$/);
  });

  it("copies production dependencies from a stage that installs only those, and the compiled dist/", () => {
    const stageOf = (name: string) => all.find((i) => i.op === "FROM" && new RegExp(`\\bAS ${name}$`, "i").test(i.args))?.stage;
    const copied = runtime.find((i) => i.op === "COPY" && /\/app\/node_modules\b/.test(i.args))?.args ?? "";
    const deps = stageOf(/--from=(\S+)/.exec(copied)?.[1] ?? "");
    expect(deps, `node_modules copied from a named stage: ${copied}`).toBeDefined();
    const depsRuns = all.filter((i) => i.stage === deps && i.op === "RUN").map((i) => i.args);
    expect(depsRuns.some((r) => /npm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(depsRuns.some((r) => /npm (ci|install)\b(?!.*--omit=dev)/.test(r))).toBe(false);
    // npm never runs in the runtime stage, so its cache, logs and config cannot land in a runtime layer.
    expect(runtime.filter((i) => i.op === "RUN" && /\bnpm\b/.test(i.args))).toEqual([]);
    expect(runtime.some((i) => i.op === "COPY" && /--from=\S+ \/app\/dist \.\/dist/.test(i.args))).toBe(true);
    expect(
      runtime.some((i) => i.op === "COPY" && /\bsrc\b/.test(i.args)),
      "no TypeScript sources in the image",
    ).toBe(false);
  });

  it("has no HEALTHCHECK: Kubernetes runs the Deployment's probes instead", () => {
    expect(all.filter((i) => i.op === "HEALTHCHECK")).toEqual([]);
  });

  it("runs as a numeric non-root user", () => {
    const user = one("USER");
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(":")[0])).toBeGreaterThan(0);
  });

  it("has tini (from Debian) as PID 1 and starts the compiled JavaScript with node, no transpiler", () => {
    expect(runtime.some((i) => i.op === "RUN" && /apt-get install\b.*\btini\b/.test(i.args))).toBe(true);
    const entrypoint = execForm(one("ENTRYPOINT"));
    expect(entrypoint[0]).toMatch(/(^|\/)tini$/);
    const cmd = execForm(one("CMD"));
    expect(cmd[0]).toBe("node");
    expect(cmd.slice(1)).toEqual(["dist/src/main.js"]);
    expect([...entrypoint, ...cmd].join(" ")).not.toMatch(/tsx|ts-node|--import|--loader|\.ts\b/);
  });

  it("the image's command is the one `npm run start:prod` runs", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      scripts: Record<string, string>;
      dependencies: Record<string, string>;
    };
    expect(pkg.scripts["start:prod"]).toBe(execForm(one("CMD")).join(" "));
    expect(Object.keys(pkg.dependencies)).not.toContain("tsx");
  });

  it("sets the memory settings the scale bench measures (NODE_OPTIONS node accepts, two malloc arenas)", () => {
    const env = runtimeEnv(all);
    expect(env).toMatchObject({ NODE_ENV: "production", MALLOC_ARENA_MAX: "2" });
    expect(env.NODE_OPTIONS).toMatch(/--max-semi-space-size=\d+/);
    // Node refuses, at start, a V8 flag it does not allow in NODE_OPTIONS: the image would not start.
    const run = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.execArgv.length))"], {
      env: { PATH: process.env.PATH, NODE_OPTIONS: env.NODE_OPTIONS },
      encoding: "utf8",
    });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
  });
});

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The house rules over the import graph (ARCHITECTURE.md): surfaces -> app -> engine, app -> adapters;
 * the engine imports only itself and zod; adapters never import upward; views do no I/O; no cycles, type
 * imports included. Each rule lists the offending imports, so a failure says what to move.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

type Edge = { from: string; to: string; typeOnly: boolean };

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return files(path);
    return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : [];
  });
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?["']([^"']+)["']/gm;
/** `await import("…")`: how src/main.ts loads the sandbox only when it is needed. */
const DYNAMIC_IMPORT = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** The bot (src/), its slash commands and the sandbox beside them (the top floor: nothing imports it but the mains). */
const SOURCES = [...files("src"), ...files("commands"), ...files("sandbox")];

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const from of SOURCES) {
    const text = readFileSync(join(ROOT, from), "utf8");
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[3]!;
      const to = spec.startsWith(".") ? relative(ROOT, resolve(ROOT, dirname(from), spec)) : spec;
      out.push({ from, to, typeOnly: Boolean(m[2]) });
    }
    for (const m of text.matchAll(DYNAMIC_IMPORT)) {
      const spec = m[1]!;
      out.push({ from, to: spec.startsWith(".") ? relative(ROOT, resolve(ROOT, dirname(from), spec)) : spec, typeOnly: false });
    }
  }
  return out;
}

const ALL = edges();
const under = (prefixes: string[]) => (path: string) => prefixes.some((p) => path === p || path.startsWith(p.endsWith(".ts") ? p : `${p}/`));

const ENGINE = under(["src/engine"]);
const APP = under(["src/app"]);
/** I/O behind an interface: they look only down (engine) and sideways (other adapters). */
const ADAPTERS = under([
  "src/store",
  "src/queue/queues.ts",
  "src/queue/lanes.ts",
  "src/queue/requests-first.ts",
  "src/routers",
  "src/metrics",
  "src/kube",
  "src/slack/usergroups.ts",
  "src/slack/channel-visibility.ts",
  "src/slack/poster.ts",
  "src/slack/surfaces-api.ts",
  "src/slack/errors.ts",
  "src/slack/budget.ts",
  "src/slack/budget-tiers.ts",
  "src/slack/budget-fetch.ts",
  "src/slack/budget-line.ts",
  "src/http",
  "src/controllers",
]);
/** Where requests come in (Slack, timers and the worker's jobs, the sandbox) and the composition root. */
const SURFACES = under([
  "commands",
  "src/slack/listeners",
  "src/slack/receiver.ts",
  "src/slack/socket-receiver.ts",
  "src/slack/transport.ts",
  "src/slack/verify.ts",
  "src/slack/bolt-logger.ts",
  "src/slack/side.ts",
  "src/queue/jobs",
  "src/queue/worker.ts",
  "sandbox",
  "src/bot.ts",
  "src/main.ts",
  "src/follow",
]);
const VIEWS = under(["src/slack/views"]);
const SANDBOX = under(["sandbox"]);

function offending(from: (p: string) => boolean, forbidden: (e: Edge) => boolean): string[] {
  return ALL.filter((e) => from(e.from) && forbidden(e)).map((e) => `${e.from} -> ${e.to}`);
}

describe("house rules: imports go one way", () => {
  it("classifies every source file (a new file must find its layer)", () => {
    const unclassified = SOURCES.filter(
      (f) => !ENGINE(f) && !APP(f) && !ADAPTERS(f) && !SURFACES(f) && !VIEWS(f) && !["src/config.ts", "src/logger.ts"].includes(f),
    );
    expect(unclassified).toEqual([]);
  });

  it("the sandbox is the top floor: nothing in the bot imports it but src/main.ts (a start without credentials)", () => {
    expect(
      offending(
        (f) => !SANDBOX(f) && f !== "src/main.ts",
        (e) => SANDBOX(e.to),
      ),
    ).toEqual([]);
  });

  it("the queue (its worker and jobs) reaches Slack's views and budget only through the port the Slack side lends", () => {
    // src/app/slack-side.ts is the port; src/slack/side.ts implements it and src/bot.ts wires it.
    const slackInsides = under([
      "src/slack/views",
      "src/slack/budget.ts",
      "src/slack/budget-tiers.ts",
      "src/slack/budget-fetch.ts",
      "src/slack/budget-line.ts",
    ]);
    expect(offending(under(["src/queue"]), (e) => slackInsides(e.to))).toEqual([]);
  });

  it("src/kube and src/metrics import no router: what they share with the routers is in src/engine/route.ts", () => {
    expect(offending(under(["src/kube", "src/metrics"]), (e) => under(["src/routers"])(e.to))).toEqual([]);
  });

  it("the engine imports nothing outside itself but zod", () => {
    expect(offending(ENGINE, (e) => !(e.to === "zod" || ENGINE(e.to)))).toEqual([]);
  });

  it("adapters never import the app layer, surfaces or views", () => {
    expect(offending(ADAPTERS, (e) => APP(e.to) || SURFACES(e.to) || VIEWS(e.to))).toEqual([]);
  });

  it("the app layer never imports surfaces or views (their words are lent to it)", () => {
    expect(offending(APP, (e) => SURFACES(e.to) || VIEWS(e.to))).toEqual([]);
  });

  it("views do no I/O: no adapters, no app calls, no network, Redis, queue or Kubernetes clients", () => {
    const io = (e: Edge) =>
      ADAPTERS(e.to) ||
      SURFACES(e.to) ||
      (APP(e.to) && !e.typeOnly) ||
      (!e.typeOnly &&
        /^(node:(http|https|net|fs|fs\/promises|child_process)|ioredis|bullmq|@slack\/bolt|@slack\/web-api|@kubernetes\/client-node)$/.test(e.to));
    expect(offending(VIEWS, io)).toEqual([]);
  });

  it("has no import cycles, type imports included", () => {
    const graph = new Map<string, string[]>();
    for (const e of ALL) if (e.to.endsWith(".ts")) graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const visit = (node: string, path: string[]) => {
      if (state.get(node) === "done") return;
      if (state.get(node) === "open") {
        cycles.push([...path.slice(path.indexOf(node)), node].join(" -> "));
        return;
      }
      state.set(node, "open");
      for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
      state.set(node, "done");
    };
    for (const node of graph.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });

  it("the timer job, the listeners and the commands reach records, the queue and the policy only through src/app", () => {
    // Whoever calls a use case does not do its work. Checked: no import of the record store, the access
    // control or the decision primitive (types included: a type is how a handle gets in), no value import of
    // the store, the queue or the policy rules (types such as a job's shape or an audit entry are data), and
    // no call on a store, queue or access handle held under another type (`deps.store.update(...)`).
    const callers = under(["src/queue/jobs/timer.ts", "src/slack/listeners", "commands"]);
    const byImport = offending(
      callers,
      (e) =>
        ["src/store/rollout-store.ts", "src/app/access.ts", "src/app/decide.ts"].includes(e.to) ||
        (!e.typeOnly && (e.to.startsWith("src/store/") || e.to === "src/queue/queues.ts" || e.to === "src/engine/policy.ts")),
    );
    const byCall = SOURCES.filter(callers).flatMap((f) =>
      [...readFileSync(join(ROOT, f), "utf8").matchAll(/\b(store|queue|access)\s*\??\.\s*(\w+)\s*\(/g)].map((m) => `${f}: ${m[0]}`),
    );
    expect([...byImport, ...byCall]).toEqual([]);
  });

  it("reads the environment only in src/config.ts and the mains (src/main.ts, sandbox/main.ts)", () => {
    const readers = SOURCES.filter(
      (f) => !["src/config.ts", "src/main.ts", "sandbox/main.ts"].includes(f) && /process\.env\b/.test(readFileSync(join(ROOT, f), "utf8")),
    );
    expect(readers).toEqual([]);
  });
});

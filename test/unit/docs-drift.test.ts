import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { z } from "zod";
import { describe, expect, it } from "vitest";
import { EnvSchema, TargetsFileSchema, parseTargetsFile } from "../../src/config.ts";
import { COMMANDS } from "../../commands/index.ts";
import { asksForForm } from "../../src/slack/listeners/start-form.ts";
import { createOpsMetrics } from "../../src/http/metrics.ts";
import { PROMETHEUS_BIN } from "../support/prometheus.ts";

/**
 * Docs that cannot drift (issue 26): every list the docs keep of something the code defines is compared with
 * the code itself, both ways, and every failure names what is missing and where. The lists are derived from
 * the code (the zod schemas, the command grammar), never copied here, so a new setting or flag fails this
 * test until it is documented, and a documented one that no longer exists fails it too.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** promtool ships beside prometheus (Debian's prometheus package has both). */
const PROMTOOL = join(dirname(PROMETHEUS_BIN), "promtool");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

/** README.md and docs/**.md; docs/incoming/ holds drafts other branches write, judged when they land. */
function docFiles(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(ROOT, dir)).flatMap((name) => {
      const path = join(dir, name);
      if (path === join("docs", "incoming")) return [];
      if (statSync(join(ROOT, path)).isDirectory()) return walk(path);
      return path.endsWith(".md") ? [path] : [];
    });
  return ["README.md", ...walk("docs")];
}

/** The text outside fenced code blocks (links and headings inside them are examples, not the page's own). */
function prose(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, "");
}

/** The lines of one `## Heading` section (up to the next heading of the same or a higher level). */
function section(text: string, heading: string): string {
  const lines = text.split("\n");
  // A `# comment` inside a fenced block is not a heading.
  let fenced = false;
  const isHeading = lines.map((l) => {
    if (/^(```|~~~)/.test(l)) fenced = !fenced;
    return !fenced && /^#+ /.test(l);
  });
  const start = lines.findIndex((l, i) => isHeading[i] && l.trim() === heading);
  if (start === -1) throw new Error(`no heading "${heading}"`);
  const level = heading.indexOf(" ");
  const end = lines.findIndex((l, i) => i > start && isHeading[i] && l.indexOf(" ") <= level);
  return lines.slice(start + 1, end === -1 ? undefined : end).join("\n");
}

/** The first cell of every table row in `text` that is one code span, e.g. `| \`PORT\` | ...` gives PORT. */
function firstCells(text: string): string[] {
  return [...text.matchAll(/^\|\s*`([^`]+)`\s*\|/gm)].map((m) => m[1]!);
}

const missing = (wanted: Iterable<string>, have: Set<string>) => [...wanted].filter((w) => !have.has(w)).sort();

// ---------------------------------------------------------------------------------------------------------
// GitHub's heading anchors (github-slugger): lower-case, punctuation dropped, each space a hyphen, repeats -1, -2.

function headingText(raw: string): string {
  return raw
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/[`*]/g, "")
    .trim();
}

function slug(text: string): string {
  return headingText(text)
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of prose(text).matchAll(/^#{1,6} +(.+?)\s*#*\s*$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

describe("GitHub's anchor slugs, as this test computes them", () => {
  it("follow github-slugger on the headings the docs use", () => {
    expect(slug("Preflight: before any traffic moves")).toBe("preflight-before-any-traffic-moves");
    expect(slug("GitOps (Argo CD, Flux)")).toBe("gitops-argo-cd-flux");
    expect(slug("`ROLLOUT_SLACK_*` and the budget")).toBe("rollout_slack_-and-the-budget");
    expect(slug("Requests, replays, secrets and retention")).toBe("requests-replays-secrets-and-retention");
    expect([...anchors("# A\n## A\n```\n# not a heading\n```\n### A")]).toEqual(["a", "a-1", "a-2"]);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("docs that cannot drift", () => {
  const files = docFiles();

  it("the README's two commands run the sandbox and the tests, and .ci/run runs exactly that test command", () => {
    const block = /```sh\n([\s\S]*?)```/.exec(section(read("README.md"), "## The two commands"))?.[1] ?? "";
    const commands = block
      .split("\n")
      .map((l) => l.replace(/#.*$/, "").trim())
      .filter(Boolean);
    expect(commands).toEqual(["npm ci && npm run sandbox", expect.stringMatching(/^npm ci && npm test/)]);
    const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
    expect(scripts.sandbox, "package.json has the sandbox script the README runs").toBeDefined();
    const testCommand = commands[1]!.replace(/^npm ci && /, "");
    const ci = read(".ci/run")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => !l.startsWith("#"));
    expect(ci, ".ci/run runs the README's test command").toContain(`${testCommand} || exit $?`);
  });

  it("every relative link and #anchor in README.md and docs/ resolves", () => {
    const broken: string[] = [];
    let checked = 0;
    const anchorsOf = new Map<string, Set<string>>();
    const anchorsIn = (path: string) => {
      if (!anchorsOf.has(path)) anchorsOf.set(path, anchors(read(path)));
      return anchorsOf.get(path)!;
    };
    for (const file of files) {
      // Inline code is not a link either (`[x](y)` shown as text).
      const text = prose(read(file)).replace(/`[^`\n]*`/g, "");
      for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
        const href = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue; // https:, mailto:: not ours to check
        checked++;
        const [pathPart, anchor] = href.split("#", 2) as [string, string | undefined];
        const target = pathPart ? relative(ROOT, resolve(ROOT, dirname(file), decodeURIComponent(pathPart))) : file;
        if (!existsSync(join(ROOT, target))) {
          broken.push(`${file}: [${href}] -> ${target} does not exist`);
          continue;
        }
        if (anchor === undefined || anchor === "") continue;
        if (!target.endsWith(".md")) {
          broken.push(`${file}: [${href}] -> an #anchor into ${target}, which is not a Markdown page`);
          continue;
        }
        if (!anchorsIn(target).has(decodeURIComponent(anchor))) {
          broken.push(`${file}: [${href}] -> ${target} has no heading with the anchor #${anchor}`);
        }
      }
    }
    expect(broken, `broken links:\n${broken.join("\n")}`).toEqual([]);
    // Guard the link pattern itself: the pages do link to each other.
    expect(checked).toBeGreaterThan(100);
  });

  it("configuration.md documents every environment variable the bot reads, and only those", () => {
    const page = read("docs/configuration.md");
    const documented = new Set(firstCells(section(page, "## Environment variables")));
    // The configuration parser's schema, plus what the main reads itself (NODE_ENV, KUBERNETES_SERVICE_HOST).
    const fromMain = [...read("src/main.ts").matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!);
    const readByBot = new Set([...Object.keys(EnvSchema.shape), ...fromMain]);
    const undocumented = missing(readByBot, documented);
    const notRead = missing(documented, readByBot);
    expect({ undocumented, notRead }, `docs/configuration.md "Environment variables": read but undocumented, documented but not read`).toEqual({
      undocumented: [],
      notRead: [],
    });
  });

  it("configuration.md's other environment variables (sandbox, tests, bench, image) are each used somewhere", () => {
    const page = read("docs/configuration.md");
    const names = firstCells(section(page, "## Environment of the sandbox, the tests and the tools"));
    expect(names.length).toBeGreaterThan(5);
    const code = ["src", "sandbox", "test", "scripts", ".ci"].flatMap((d) => sourceFiles(d)).map((f) => read(f));
    const unused = names.filter((n) => !code.some((text) => text.includes(n)));
    expect(unused, `documented but found in no source under src/, sandbox/, test/, scripts/, .ci/: ${unused.join(", ")}`).toEqual([]);
  });

  it("configuration.md documents every targets-file key at every depth, and only keys that exist", () => {
    const keys = schemaKeys(TargetsFileSchema);
    // Guard the walker itself: nested keys are found.
    expect(keys).toContain("targets[].metrics.latency.thresholdMs");
    expect(keys).toContain("policy.requireSecondApprover");
    const documented = new Set(firstCells(section(read("docs/configuration.md"), "## Targets file")));
    const undocumented = missing(keys, documented);
    const unknown = missing(documented, new Set(keys));
    expect({ undocumented, unknown }, `docs/configuration.md "Targets file": schema keys undocumented, documented keys the schema lacks`).toEqual({
      undocumented: [],
      unknown: [],
    });
  });

  it("commands.md shows every subcommand's usage and flag, and names no subcommand or flag the grammar lacks", () => {
    const page = read("docs/commands.md");
    const flat = page.replaceAll("\\|", "|");
    const problems: string[] = [];
    const flagsOf = new Map<string, Set<string>>();
    const withoutUsages = COMMANDS.reduce((t, c) => t.replaceAll(c.usage, ""), flat);
    for (const c of COMMANDS) {
      flagsOf.set(c.name, grammarFlags(c));
      if (!flat.includes(`\`${c.usage}\``)) problems.push(`usage of ${c.name} not shown as code: \`${c.usage}\``);
      if (!new RegExp(`^#+ .*\\b${c.name}\\b`, "m").test(page)) problems.push(`no heading naming the subcommand ${c.name}`);
      for (const f of flagsOf.get(c.name)!) {
        if (!c.usage.includes(`--${f}`)) problems.push(`${c.name}'s grammar takes --${f} but its usage (help) does not show it`);
        // Explained in words too, not only listed in the usage line.
        if (!new RegExp(`\`--${f}\\b`).test(withoutUsages)) problems.push(`--${f} of ${c.name} is in its usage but explained nowhere on the page`);
      }
    }
    // Every `/rollout ...` the page shows names a real subcommand (or asks for the start form) with its real flags.
    for (const m of flat.matchAll(/`\/rollout(?: ([^`]*))?`/g)) {
      const words = (m[1] ?? "").trim().split(/\s+/).filter(Boolean);
      const sub = (words[0] ?? "").toLowerCase();
      if (sub === "" || (asksForForm(sub) && words.length === 1)) continue;
      const flags = flagsOf.get(sub);
      if (!flags) {
        problems.push(`\`/rollout ${m[1]}\`: no subcommand ${sub}`);
        continue;
      }
      for (const f of words.flatMap((w) => [...w.matchAll(/--([a-z][a-z-]*)/g)].map((x) => x[1]!))) {
        if (!flags.has(f)) problems.push(`\`/rollout ${m[1]}\`: ${sub} takes no --${f}`);
      }
    }
    expect(problems, `docs/commands.md vs commands/:\n${problems.join("\n")}`).toEqual([]);
  });

  it("operations.md's troubleshooting explains every warning and error the bot can log", () => {
    const page = section(read("docs/operations.md"), "## Troubleshooting");
    const logged = sourceFiles("src")
      .filter((f) => !f.startsWith(join("src", "sandbox")))
      .flatMap((f) => logMessages(read(f)).map((msg) => ({ f, msg })));
    // Guard the extraction itself: a multi-line call and a template literal are found.
    expect(logged.map((l) => l.msg)).toContain("cannot reach Redis at ");
    expect(logged.map((l) => l.msg)).toContain("could not see which Deployment the stable's Service selects");
    const unexplained = logged.filter((l) => !page.includes(`\`${l.msg.trim()}`)).map((l) => `${l.f}: "${l.msg}"`);
    expect(unexplained, `log lines missing from docs/operations.md "Troubleshooting":\n${unexplained.join("\n")}`).toEqual([]);
  });

  it("operations.md's metrics table lists every metric the bot exports, and its alert rules load in promtool and name only those", async () => {
    const page = read("docs/operations.md");
    // activeByCluster given: the by-cluster gauge exists only when the targets file declares clusters.
    const { body } = await createOpsMetrics({ activeByState: async () => ({}), activeByCluster: async () => ({}), queueDepth: async () => ({}) }).scrape();
    const exported = [...body.matchAll(/^# TYPE rollout_bot_(\S+) (\S+)$/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
    // prom-client's default process metrics are described as a family, not one by one.
    const ours = exported.filter((m) => !/^(process_|nodejs_)/.test(m.name)).map((m) => m.name);
    expect(ours).toContain("transitions_total");
    const documented = new Set(firstCells(section(page, "## Metrics")));
    expect({ undocumented: missing(ours, documented), notExported: missing(documented, new Set(ours)) }).toEqual({ undocumented: [], notExported: [] });

    const rules = /^```yaml\n(groups:[\s\S]*?)^```/m.exec(section(page, "## Metrics"))?.[1];
    expect(rules, "an example alert rules block in operations.md").toBeDefined();
    const named = [...rules!.matchAll(/\brollout_bot_([a-z_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ""));
    const all = new Set(exported.map((m) => m.name));
    expect(
      named.filter((n) => !all.has(n)),
      "alert rules naming metrics the bot does not export",
    ).toEqual([]);
    const dir = mkdtempSync(join(tmpdir(), "docs-rules-"));
    try {
      writeFileSync(join(dir, "rules.yaml"), rules!);
      const r = spawnSync(PROMTOOL, ["check", "rules", join(dir, "rules.yaml")], { encoding: "utf8" });
      expect(r.error, `${PROMTOOL} could not run`).toBeUndefined();
      expect(r.status, `promtool check rules:\n${r.stdout}${r.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("every ```yaml targets block parses with the bot's own targets-file parser, without problems", () => {
    const blocks: { file: string; line: number; text: string }[] = [];
    for (const file of files) {
      const text = read(file);
      for (const m of text.matchAll(/^```yaml targets[ \t]*\n([\s\S]*?)^```[ \t]*$/gm)) {
        blocks.push({ file, line: text.slice(0, m.index).split("\n").length, text: m[1]! });
      }
    }
    // The marker is in use (a renamed marker would otherwise make this test pass on nothing).
    expect(blocks.length).toBeGreaterThan(8);
    const problems = blocks.flatMap((b) => {
      const r = parseTargetsFile(b.text, `${b.file}:${b.line}`);
      return r.ok ? [] : r.error;
    });
    expect(problems, `targets-file examples the bot would refuse:\n${problems.join("\n")}`).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------

function sourceFiles(dir: string): string[] {
  if (!existsSync(join(ROOT, dir))) return [];
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (name === "node_modules") return [];
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return /\.(ts|js|sh)$|^run$/.test(name) ? [path] : [];
  });
}

/**
 * The message of every `log.warn(...)` / `log.error(...)` / `log.fatal(...)` call in a source file: the first
 * string literal among the call's arguments, up to its first `${` (what every such line starts with).
 */
function logMessages(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\blog\??\.(warn|error|fatal)\(/g)) {
    let depth = 1;
    let i = m.index + m[0].length;
    let message: string | undefined;
    while (i < text.length && depth > 0) {
      const c = text[i]!;
      if (c === '"' || c === "`" || c === "'") {
        const end = text.indexOf(c, i + 1);
        if (message === undefined && depth === 1) message = text.slice(i + 1, end).split("${")[0]!;
        i = end + 1;
        continue;
      }
      if (c === "(" || c === "{" || c === "[") depth++;
      if (c === ")" || c === "}" || c === "]") depth--;
      i++;
    }
    if (message) out.push(message);
  }
  return out;
}

/**
 * The flags a subcommand's grammar takes, asked of the grammar itself: an unknown flag is refused with the
 * list of the ones it takes ("(it takes --to, --from, ...)" or "(it takes no flags)").
 */
function grammarFlags(c: (typeof COMMANDS)[number]): Set<string> {
  const r = c.parse(["--zz-docs-probe"]);
  // A grammar that reads no flags at all takes the token as a word (`help <subcommand>`).
  if (r.ok) return new Set();
  if (r.error.includes("(it takes no flags)")) return new Set();
  const list = /\(it takes ([^)]*)\)/.exec(r.error);
  if (!list) throw new Error(`${c.name}: cannot read its flags from "${r.error}"`);
  return new Set([...list[1]!.matchAll(/--([a-z][a-z-]*)/g)].map((x) => x[1]!));
}

type Def = { type: string; shape?: Record<string, z.ZodType>; innerType?: z.ZodType; element?: z.ZodType; in?: z.ZodType; options?: z.ZodType[] };
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Through optional, default, pipes... to the schema that holds the value. */
function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    const def = defOf(s);
    const inner = def.innerType ?? (def.type === "pipe" ? def.in : undefined);
    if (!inner) return s;
    s = inner;
  }
}

/**
 * Every key path of the targets file (`targets[].metrics.latency.thresholdMs`), breadth first. An object schema
 * met a second time (the file-level `policy` again as `targets[].policy`) is listed by its key alone: the docs
 * describe its keys once.
 */
function schemaKeys(schema: z.ZodType): string[] {
  const out: string[] = [];
  const expanded = new Set<z.ZodType>();
  let level: { s: z.ZodType; at: string }[] = [{ s: schema, at: "" }];
  while (level.length) {
    const next: { s: z.ZodType; at: string }[] = [];
    for (const { s, at } of level) {
      let inner = unwrap(s);
      let path = at;
      while (defOf(inner).type === "array") {
        inner = unwrap(defOf(inner).element!);
        path += "[]";
      }
      const options = defOf(inner).type === "union" ? (defOf(inner).options ?? []).map(unwrap) : [inner];
      for (const o of options) {
        const def = defOf(o);
        if (def.type !== "object" || expanded.has(o)) continue;
        expanded.add(o);
        for (const [k, child] of Object.entries(def.shape ?? {})) {
          const p = path ? `${path}.${k}` : k;
          out.push(p);
          next.push({ s: child, at: p });
        }
      }
    }
    level = next;
  }
  return out;
}

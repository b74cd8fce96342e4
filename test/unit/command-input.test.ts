import { describe, expect, it } from "vitest";
import { parseArgs, tokenize } from "../../commands/args.ts";
import { runCommand } from "../../commands/index.ts";
import type { CommandDeps } from "../../commands/types.ts";
import { slackAuditWords } from "../../src/slack/views/audit-words.ts";
import { markStarted, newRollout } from "../../src/engine/rollout.ts";
import { TargetSchema, type Target } from "../../src/engine/target.ts";
import { echo, inlineCode, unescapeMrkdwn } from "../../src/slack/views/format.ts";
import { renderRolloutMessage } from "../../src/slack/views/rollout-message.ts";

/**
 * What a person sees for odd input: replies to `/rollout ...` texts, through runCommand, with just enough
 * of the bot behind it to refuse (nothing here starts a rollout).
 */

const autoTarget = TargetSchema.parse({ name: "auto-svc", smi: { trafficSplit: "auto-ts" }, stable: "auto-v1", auto: { enabled: true, interval: "10m" } });

function deps(targets: Target[] = []): CommandDeps {
  const none = async () => undefined;
  return {
    store: { activeFor: none, get: none, active: async () => [], recent: async () => [], latestOf: none, ofTarget: async () => [], claims: { holder: none } },
    queue: {},
    words: slackAuditWords,
    catalog: { adhoc: false, targets: new Map(targets.map((t) => [t.name, t])) },
    access: { prepare: async () => () => ({ ok: true }) },
    audit: { append: async () => undefined, timeline: async () => ({ entries: [], total: 0 }) },
    routers: { has: () => true, discoversStable: () => false, hasTestStage: () => false },
    metrics: { for: () => undefined },
    now: () => 1_700_000_000_000,
    log: { error: () => undefined, info: () => undefined },
  } as unknown as CommandDeps;
}

const caller = { userId: "UALICE", channelId: "C1" };
const reply = async (text: string, targets?: Target[]) => (await runCommand(deps(targets), caller, text)).text;

/** Backtick-quoted spans of a reply. */
const spans = (text: string) => [...text.matchAll(/`([^`]*)`/g)].map((m) => m[1]!);

describe("echo", () => {
  it("escapes & < >, turns backticks into ', flattens whitespace and clips, inside one code span", () => {
    expect(echo("<!here> & `x`")).toBe("`&lt;!here&gt; &amp; 'x'`");
    expect(echo("a\n\tb")).toBe("`a b`");
    expect(echo("x".repeat(200))).toBe(`\`${"x".repeat(79)}…\``);
    expect(echo("")).toBe("``");
  });

  it("decodes Slack's three entities once", () => {
    expect(unescapeMrkdwn("&lt;!here&gt; &amp;lt;")).toBe("<!here> &lt;");
  });

  it("keeps a clipped inline code span closed, never cutting an entity", () => {
    const code = inlineCode(`${"a".repeat(10)}&&&&`, 20);
    expect(code).toBe("`aaaaaaaaaa&amp; …`");
    expect(code.length).toBeLessThanOrEqual(20);
    expect(inlineCode("a`b", 20)).toBe("`a'b`");
  });
});

describe("echoed input cannot mention anyone or break the code span", () => {
  it.each([
    ["status <!here>", "`&lt;!here&gt;` is not a target name"],
    ["status &lt;!here&gt;", "`&lt;!here&gt;` is not a target name"], // as Slack sends it
    ["status <@U123>", "`&lt;@U123&gt;` is not a target name"],
    ["frob<!channel>", "unknown subcommand `frob&lt;!channel&gt;`"],
    ["start x --to v2 <!here>", "unexpected `&lt;!here&gt;`"],
    ["start x --to v2 --<!here>", "unknown flag `--&lt;!here&gt;`"],
    ["start x --to v2 --c`olour", "unknown flag `--c'olour`"],
    ["start x --to v2 `a` `b`", "unexpected `'a' 'b'`"],
    ["start x --to 'a\nb'", "--to `a b` is not a valid Kubernetes name"],
    ["start x --to v2 --router <!here>", "--router `&lt;!here&gt;` is not one of"],
    ["start x --to v2 --split a&b", "--split `a&amp;b` is not a valid TrafficSplit name"],
    ["start x --to v2 --auto <!here>", "--auto: `&lt;!here&gt;` is not a duration"],
    ["start x --to v2 --steps 10,<!here>,100", "--steps: step `&lt;!here&gt;` is not a whole number"],
    ["history <!here>", "`&lt;!here&gt;` is not a target name"],
    ["history x --limit <!here>", "--limit `&lt;!here&gt;` is not a whole number"],
    ["help <!here>", "there is no subcommand `&lt;!here&gt;`"],
    ["abort <@U1>#1", "`&lt;@U1&gt;#1` is not a rollout id"],
  ])("%j -> %s", async (text, message) => {
    const t = await reply(text);
    expect(t).toContain(message);
    expect(t.split("\n")[0]).not.toMatch(/<[!@#]/);
    expect((t.split("\n")[0]!.match(/`/g) ?? []).length % 2).toBe(0);
  });

  it("clips a long echo to about 80 characters", async () => {
    const t = await reply(`frob${"x".repeat(500)}`);
    expect(spans(t)[0]).toHaveLength(80);
    expect(spans(t)[0]!.endsWith("…")).toBe(true);
  });
});

describe("flag names that are Object.prototype properties", () => {
  it.each(["constructor", "__proto__", "toString", "hasOwnProperty"])("--%s is an unknown flag, not one given twice", async (name) => {
    const t = await reply(`start x --to v2 --${name} y`);
    expect(t).toContain(`:x: unknown flag \`--${name.toLowerCase()}\` for \`/rollout start\``);
    expect(t).not.toContain("twice");
  });

  it("a positional named like a prototype property is still required", () => {
    const r = parseArgs("/x", [], { positionals: [{ name: "constructor", required: true }], flags: {} });
    expect(r).toEqual({ ok: false, error: "`/x` needs a <constructor>" });
  });
});

describe("quotes", () => {
  it.each([
    ['--to="backend-v2"', ["--to=backend-v2"]],
    ["--to='backend-v2'", ["--to=backend-v2"]],
    ["--to=\u201cbackend-v2\u201d", ["--to=backend-v2"]],
    ["--to=\u2018backend-v2\u2019", ["--to=backend-v2"]],
    ["--to \u201cbackend-v2\u201d", ["--to", "backend-v2"]],
    ["--to \u2018backend-v2\u2019", ["--to", "backend-v2"]],
    ["--to \u201dbackend-v2\u201d", ["--to", "backend-v2"]],
    ["--to \u201ebackend-v2\u201c", ["--to", "backend-v2"]],
  ])("%j: the quotes are not part of the value", async (text, tokens) => {
    expect(tokenize(text)).toEqual(tokens);
    expect(await reply(`start nope ${text}`)).toBe(":x: unknown target `nope`: no targets are declared");
  });

  it("a quoted value with a space stays one token; an unpaired quote is a character", () => {
    expect(tokenize('--to="backend v2" it\'s')).toEqual(["--to=backend v2", "it's"]);
  });

  it("apostrophes inside words never pair up across words", () => {
    expect(tokenize("abort backend-svc it's broken, isn't it")).toEqual(["abort", "backend-svc", "it's", "broken,", "isn't", "it"]);
    expect(tokenize("it\u2019s and isn\u2019t")).toEqual(["it's", "and", "isn't"]);
  });

  it("the reply about a quoted --to=value names the value without its quotes", async () => {
    expect(await reply('start x --to="Backend-v2"')).toContain("--to `Backend-v2` is not a valid Kubernetes name");
  });
});

describe("usage", () => {
  it("start without --to shows the usage once", async () => {
    const t = await reply("start x");
    expect(t).toContain("`--to <version>` is required");
    expect(t.match(/Usage:/g)).toHaveLength(1);
    expect(t.match(/\/rollout start <target>/g)).toHaveLength(1);
  });

  it("start's usage names --router and --split <name>", async () => {
    const t = await reply("help start");
    expect(t).toContain("[--router smi|namerd|gateway]");
    expect(t).toContain("[--split <name>]");
  });
});

describe("--steps with spaces", () => {
  it.each([
    [
      "start x --to v2 --steps 10, 50, 100",
      '--steps `10, 50, 100` has spaces in it: write the steps without spaces (`10,50,100`) or in quotes (`"10, 50, 100"`)',
    ],
    ["start x --to v2 --steps=10, 50,100", "--steps `10, 50,100` has spaces in it"],
    ["start x --to v2 --steps 10 ,50,100", "--steps `10 ,50,100` has spaces in it"],
  ])("%j", async (text, message) => {
    const t = await reply(text);
    expect(t).toContain(message);
    expect(t).not.toContain("unexpected");
  });

  it("quoted steps with spaces are fine; unrelated extra tokens are still unexpected", async () => {
    expect(tokenize('start x --steps "10, 50, 100"')).toEqual(["start", "x", "--steps", "10, 50, 100"]);
    expect(await reply("start x --to v2 --steps 10,100 50")).toContain("unexpected `50`");
  });
});

describe("automatic steps without metrics", () => {
  it("a plain start of a target with auto.enabled names the targets-file setting, not --auto", async () => {
    const t = await reply("start auto-svc --to auto-v2", [autoTarget]);
    expect(t).toBe(
      ":x: `auto-svc` has `auto.enabled: true` in the targets file, but automatic steps need success-rate metrics, and `auto-svc` has no `metrics:` source: declare its metrics there, or set `auto.enabled: false`",
    );
  });

  it("a start with --auto still says to start it without --auto", async () => {
    expect(await reply("start auto-svc --to auto-v2 --auto 5m", [autoTarget])).toContain("start it without --auto");
  });
});

describe("invisible characters and autocorrected dashes", () => {
  it("drops zero-width characters", () => {
    expect(tokenize("start\u200b x\u200c \u200d--to\u2060 v2\ufeff")).toEqual(["start", "x", "--to", "v2"]);
  });

  it.each(["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\u2014\u2014", "-\u2014", "\u2013-"])(
    "%j at the start of a flag is --",
    (d) => {
      expect(tokenize(`x ${d}to v2`)).toEqual(["x", "--to", "v2"]);
    },
  );

  it("a dash inside a value is kept (and refused), not turned into --", async () => {
    expect(tokenize("x --to backend\u2014v2")).toEqual(["x", "--to", "backend\u2014v2"]);
    expect(await reply("start x --to backend\u2013v2")).toContain("--to `backend\u2013v2` is not a valid Kubernetes name");
  });

  it("a plain start typed on a phone works", async () => {
    expect(await reply("start\u200b nope \u2014to v2", [autoTarget])).toContain("unknown target `nope`");
  });
});

describe("upper case", () => {
  it("help Start is help start", async () => {
    expect(await reply("help Start")).toMatch(/^`\/rollout start <target>/);
  });

  it("status Backend#3 says the id's target is not a valid name and what was meant", async () => {
    expect(await reply("status Backend#3")).toBe(
      ":x: `Backend#3` is not a rollout id: its target `Backend` is not a valid name: it must be lower-case letters, digits and '-', starting and ending with a letter or digit (names are lower-case: `backend#3`). Ids look like `backend-svc#3`",
    );
  });

  it("a bad rollout number is named", async () => {
    expect(await reply("abort backend#x")).toContain("`backend#x` is not a rollout id: `x` after the `#` is not a rollout number");
    expect(await reply("history backend#x")).toContain("`backend#x` is not a rollout id: `x` after the `#` is not a rollout number");
  });

  it("status Backend suggests the lower-case name", async () => {
    expect(await reply("status Backend")).toContain("(names are lower-case: `backend`)");
  });
});

describe("mesh text in the rollout message", () => {
  const target = TargetSchema.parse({ name: "backend-svc", smi: { trafficSplit: "backend-ts" } });
  const withRaw = (raw: string) => {
    const r = newRollout({
      id: "backend-svc#7",
      target,
      stable: "backend-v1",
      canary: "backend-v2",
      steps: [10, 100],
      startedBy: "UALICE",
      channel: "C1",
      testStage: false,
      now: 1,
    });
    return markStarted(r, { percent: 10, raw, initialRaw: raw }, 2);
  };
  const meshNow = (raw: string) =>
    (renderRolloutMessage(withRaw(raw)).blocks.find((b) => JSON.stringify(b).includes("Mesh now")) as { elements: { text: string }[] }).elements[0]!.text;

  it("a long one-line rendering keeps its closing backtick within 2000 characters", () => {
    const t = meshNow(`backend-v1 90 / backend-v2 10 ${"&".repeat(3000)}`);
    expect(t.length).toBeLessThanOrEqual(2000);
    expect(t.startsWith("Mesh now: `backend-v1 90")).toBe(true);
    expect(t.endsWith("&amp; …`")).toBe(true);
  });

  it("backticks and mentions in it stay text", () => {
    expect(meshNow("a`b <!here>")).toBe("Mesh now: `a'b &lt;!here&gt;`");
  });
});

describe("docs/commands.md", () => {
  it("shows start's usage as help does", async () => {
    const { readFile } = await import("node:fs/promises");
    const page = await readFile(new URL("../../docs/commands.md", import.meta.url), "utf8");
    const usage = (await reply("help start")).split("\n")[0]!;
    expect(page).toContain(usage);
  });
});

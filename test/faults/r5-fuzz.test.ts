import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tokenize } from "../../commands/args.ts";
import { COMMANDS } from "../../commands/index.ts";
import { resolveTarget, type StartArgs } from "../../commands/start.ts";
import { DNS1123_LABEL } from "../../src/engine/names.ts";
import { parseTargetsFile } from "../../src/config.ts";
import { CHANNEL, parentMessages, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 6, R5: generated input never crashes the bot and every bad input gets a specific refusal.
 * - 10,000 generated `/rollout` texts through the pure grammar (tokenize + each subcommand's parse, and
 *   target resolution for starts): no throw; every refusal is a non-empty sentence that names what was
 *   wrong (echoes the offending part of the input, or names what is missing), never a generic one; every
 *   acceptance satisfies the grammar's promises (valid names, valid steps, ...).
 * - A few hundred signed requests through real HTTP: slash commands with generated text, block_actions
 *   with generated action_id/value, interaction payloads that are garbage or not JSON at all, Events API
 *   bodies. Always HTTP 200 (or 400 for a body that does not parse), never 5xx; no reply is the generic
 *   "something went wrong"; nothing is written to the mesh; afterwards the bot still starts a rollout.
 */

// ------------------------------------------------------------------------------------------ generators

const SUBS = ["start", "status", "list", "history", "advance", "finish", "hold", "resume", "abort", "help"];
const caseMix = (s: string) =>
  fc.constantFrom(s, s.toUpperCase(), s[0]!.toUpperCase() + s.slice(1));
const subcommand = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...SUBS).chain(caseMix) },
  { weight: 1, arbitrary: fc.constantFrom("frobnicate", "stat", "hlep", "--to", "#", "`", "*bold*", "<@U1>", "") },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);
const validName = fc.constantFrom("backend-svc", "backend-v1", "backend-v2", "world", "a", "x".repeat(63), "v2", "default", "0");
const badName = fc.constantFrom("Backend_V2", "-x", "x-", "x".repeat(64), "ü", "a.b", "a b", "backend-svc#1", "UPPER", "a--", "_");
const rolloutRef = fc.oneof(
  fc.tuple(fc.constantFrom("backend-svc", "world", "Bad_Name", "", "a"), fc.constantFrom("1", "0", "999999999", "1234567890", "x", "-1", "")).map(
    ([t, n]) => `${t}#${n}`,
  ),
  fc.constantFrom("#", "##", "backend-svc#1#2"),
);
const flagName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("to", "from", "steps", "namespace", "router", "split", "limit") },
  { weight: 1, arbitrary: fc.constantFrom("colour", "TO", "Steps", "", "-", "to-", "dry-run", "help") },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);
const dash = fc.constantFrom("--", "--", "--", "\u2014", "\u2013", "---", "-");
const stepsValue = fc.oneof(
  fc.array(fc.integer({ min: -5, max: 205 }), { maxLength: 25 }).map((a) => a.join(",")),
  fc.array(fc.constantFrom(10, 20, 50, 80, 100), { minLength: 1, maxLength: 5 }).map((a) => a.join(",")),
  fc.constantFrom("10,50,100", "100", "10,,100", "1e2", "0x10,100", " 10 , 100", "10.5,100", "\u0661\u0660\u0660", "010,100", ",", "", "10;50;100", "-10,100"),
);
const flagValueArb = fc.oneof(validName, badName, stepsValue, fc.constantFrom("smi", "namerd", "gateway", "linkerd", "5", "0", "51", "201", "x"), fc.string({ maxLength: 10 }));
const flag = fc.oneof(
  fc.tuple(dash, flagName).map(([d, n]) => `${d}${n}`),
  fc.tuple(dash, flagName, flagValueArb).map(([d, n, v]) => `${d}${n} ${v}`),
  fc.tuple(dash, flagName, flagValueArb).map(([d, n, v]) => `${d}${n}=${v}`),
);
const quoted = fc.tuple(fc.constantFrom('"', "\u201c", "\u2018", "'"), fc.string({ maxLength: 12 }), fc.constantFrom('"', "\u201d", "\u2019", "'", "")).map(
  ([a, s, b]) => `${a}${s}${b}`,
);
const token = fc.oneof(
  { weight: 4, arbitrary: flag },
  { weight: 3, arbitrary: validName },
  { weight: 2, arbitrary: badName },
  { weight: 1, arbitrary: rolloutRef },
  { weight: 1, arbitrary: quoted },
  { weight: 1, arbitrary: fc.string({ maxLength: 16, unit: "grapheme" }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 16, unit: "binary" }) },
);
const space = fc.constantFrom(" ", " ", " ", "  ", "\t", "\u00a0", "\n", "\u3000");
const structuredText = fc
  .tuple(subcommand, fc.array(fc.tuple(space, token), { maxLength: 9 }), fc.constantFrom("", " ", "\n"))
  .map(([sub, rest, tail]) => `${sub}${rest.map(([s, t]) => `${s}${t}`).join("")}${tail}`);
/** Well-formed starts with one thing wrong (or nothing): the most interesting region of the grammar. */
const nearlyValidStart = fc
  .record({
    target: fc.oneof(validName, badName),
    to: fc.option(fc.oneof(validName, badName), { nil: undefined }),
    from: fc.option(fc.oneof(validName, badName), { nil: undefined }),
    steps: fc.option(stepsValue, { nil: undefined }),
    extra: fc.option(fc.oneof(flag, validName), { nil: undefined }),
  })
  .map(({ target, to, from, steps, extra }) =>
    ["start", target, to && `--to ${to}`, from && `--from ${from}`, steps !== undefined && `--steps ${steps}`, extra].filter(Boolean).join(" "),
  );
const commandText = fc.oneof(
  { weight: 6, arbitrary: structuredText },
  { weight: 3, arbitrary: nearlyValidStart },
  { weight: 1, arbitrary: fc.string({ maxLength: 200, unit: "grapheme" }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200, unit: "binary" }) },
  { weight: 1, arbitrary: fc.string({ minLength: 1900, maxLength: 2200 }).map((s) => `start ${s}`) },
);

// ------------------------------------------------------------------------------------------ the oracle

/** Words of a generic or broken message: a refusal must never be one of these. */
const GENERIC = /undefined|\bnull\b|NaN|\[object|Error:|something went wrong|invalid input|bad request|^:x:?\s*$/i;
/** Refusals that name what is missing rather than echo the input. */
const NAMES_WHAT_IS_MISSING = [
  /^`\/rollout [a-z]+` needs a <[a-z|-]+>$/,
  /^`--to <version>` is required: /,
  /^`\/rollout help` takes at most one subcommand name$/,
  /^flag `--[a-z]+` needs a value/,
  /^--steps: step `\(empty\)` is not a whole number from 1 to 100$/,
  /^--steps: \d+ steps is too many \(at most 20\)$/,
  /`` is not a (valid Kubernetes|target) name: it is empty$/,
];
const OUR_OWN = new Set(["/rollout start", "--to <version>", ...SUBS.map((s) => `/rollout ${s}`)]);

/** Does the refusal name something the person typed? (Compared with the text as the grammar saw it.) */
function namesTheInput(error: string, text: string): boolean {
  const seen = `${tokenize(text).join(" ")} ${text}`.toLowerCase();
  const fragments = [...error.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.toLowerCase()).filter((f) => !OUR_OWN.has(f));
  if (fragments.some((f) => f.split(/\s+/).every((piece) => seen.includes(piece)))) return true;
  // Backticks typed by the person shift the quoting of the echo: then look for an echoed token itself.
  return text.includes("`") && tokenize(text).slice(1).some((t) => t.replaceAll("`", "").length > 0 && error.toLowerCase().includes(t.toLowerCase()));
}

/** The refusal without what it echoes of the input (quoted, or not when the input itself holds backticks). */
function ownWords(error: string, text: string): string {
  let own = error;
  if (text.includes("`")) for (const t of tokenize(text).sort((a, b) => b.length - a.length)) own = own.split(t).join("…");
  return own.replace(/`[^`]*`/g, "``");
}

type Verdict = { kind: "accepted"; command: string } | { kind: "refused"; command: string; error: string } | { kind: "unknown-subcommand" };

/** What the grammar alone says about a text, as runCommand's dispatch reads it (before any I/O). */
function grammar(text: string): Verdict {
  const [sub, ...rest] = tokenize(text);
  const name = (sub ?? "help").toLowerCase();
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) return { kind: "unknown-subcommand" };
  const parsed = command.parse(rest);
  if (!parsed.ok) return { kind: "refused", command: name, error: parsed.error };
  checkAccepted(name, parsed.value, rest);
  return { kind: "accepted", command: name };
}

const CATALOG = (() => {
  const parsed = parseTargetsFile("adhoc: false\ntargets:\n  - name: backend-svc\n    namespace: default\n    stable: backend-v1\n    smi: { trafficSplit: backend-ts }\n");
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  return parsed.value;
})();

/** What an accepted parse promises the code after it. */
function checkAccepted(command: string, value: unknown, tokens: string[]): void {
  if (command === "start") {
    const a = value as StartArgs;
    for (const n of [a.target, a.to, a.from, a.namespace]) if (n !== undefined) expect(n).toMatch(DNS1123_LABEL);
    expect(a.to).toBeTruthy();
    expect(a.from).not.toBe(a.to);
    if (a.steps) {
      expect(a.steps.at(-1)).toBe(100);
      a.steps.forEach((s, i) => {
        expect(Number.isInteger(s) && s >= 1 && s <= 100).toBe(true);
        if (i) expect(s).toBeGreaterThan(a.steps![i - 1]!);
      });
    }
    // Resolving against a catalog without ad-hoc targets: the declared one, or a refusal that names the target.
    const resolved = resolveTarget(CATALOG, a);
    if (resolved.ok) expect(resolved.value.name).toBe("backend-svc");
    else expect(resolved.error).toContain(`\`${a.target}\``);
  } else if (command === "help") {
    expect(tokens.length).toBeLessThanOrEqual(1);
  } else if (command === "history") {
    const h = value as { limit?: number };
    if (h.limit !== undefined) expect(Number.isInteger(h.limit) && h.limit >= 1 && h.limit <= 200).toBe(true);
  } else if (["advance", "finish", "hold", "resume", "abort"].includes(command)) {
    expect((value as { ref: string }).ref.length).toBeGreaterThan(0);
  }
}

function expectSpecific(error: string, text: string): void {
  expect(error.trim().length, `empty refusal for ${JSON.stringify(text)}`).toBeGreaterThan(0);
  expect(ownWords(error, text), `generic refusal for ${JSON.stringify(text)}`).not.toMatch(GENERIC);
  expect(error.length).toBeLessThan(4_500);
  const specific = namesTheInput(error, text) || NAMES_WHAT_IS_MISSING.some((re) => re.test(error));
  expect(specific, `refusal ${JSON.stringify(error)} does not say what in ${JSON.stringify(text)} is wrong`).toBe(true);
}

// ------------------------------------------------------------------------------------------ pure: 10,000

describe("the grammar, 10,000 generated texts", () => {
  it("never throws; every refusal is specific; every acceptance keeps the grammar's promises", () => {
    const tally = { accepted: 0, refused: 0, unknown: 0 };
    const refusalKinds = new Set<string>();
    const started = Date.now();
    fc.assert(
      fc.property(commandText, (text) => {
        const v = grammar(text);
        if (v.kind === "accepted") tally.accepted++;
        else if (v.kind === "unknown-subcommand") tally.unknown++;
        else {
          tally.refused++;
          expectSpecific(v.error, text);
          refusalKinds.add(`${v.command}: ${ownWords(v.error, text).replace(/\d+/g, "N").slice(0, 40)}`);
        }
      }),
      { numRuns: 10_000 },
    );
    expect(tally.accepted).toBeGreaterThan(100); // the generator reaches valid commands too
    expect(tally.refused).toBeGreaterThan(3_000);
    expect(refusalKinds.size).toBeGreaterThan(20);
    pureSummary = `${tally.accepted + tally.refused + tally.unknown} texts through the grammar in ${Date.now() - started} ms (${tally.refused} refused, each naming what was wrong, ${refusalKinds.size} kinds of refusal; ${tally.accepted} accepted, each keeping the grammar's promises; ${tally.unknown} unknown subcommands), no throw`;
  });
});

let pureSummary = "(grammar part did not run)";

// ------------------------------------------------------------------------------------------ over HTTP

const TARGETS = `
adhoc: false
targets:
  - name: backend-svc
    namespace: default
    stable: backend-v1
    smi: { trafficSplit: backend-ts }
    steps: [10, 80, 100]
`;

const GENERIC_REPLY = /something went wrong/i;
const USER = "UFUZZ";

describe("through real HTTP, signed", () => {
  let h: Harness;
  const statuses = new Map<number, number>();
  let sent = 0;
  beforeAll(async () => {
    h = await startHarness({ targetsYaml: TARGETS });
  });
  afterAll(async () => {
    await h.close();
  });

  const count = (status: number) => {
    sent++;
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  };

  /** Send in parallel batches; returns what was sent with its answer. */
  async function inBatches<T>(items: T[], send: (item: T) => Promise<{ status: number }>, size = 25) {
    const out: { item: T; status: number }[] = [];
    for (let i = 0; i < items.length; i += size) {
      const batch = items.slice(i, i + size);
      const answers = await Promise.all(batch.map(send));
      answers.forEach((a, j) => {
        count(a.status);
        out.push({ item: batch[j]!, status: a.status });
      });
    }
    return out;
  }

  /** A signed POST of a raw body, with a fresh response_url it may answer on. */
  async function postSigned(body: string, contentType = "application/x-www-form-urlencoded") {
    const responseUrl = h.slack.newResponseUrl({ channelId: CHANNEL, userId: USER });
    return h.driver.post(body, responseUrl, { contentType });
  }

  it("300 slash commands with generated text: 200, a specific private answer each, nothing written", async () => {
    // Only a start of the one declared target could do something; everything else is refused or read-only.
    const texts = fc.sample(
      commandText.filter((t) => {
        const [sub, target] = tokenize(t);
        return !(sub?.toLowerCase() === "start" && target === "backend-svc");
      }),
      { numRuns: 300 },
    );
    const slashUrls: string[] = [];
    const sentSlash = await inBatches(texts, async (text) => {
      const r = await h.driver.slash({ userId: USER, channelId: CHANNEL, text });
      slashUrls.push(r.responseUrl);
      return r;
    });
    expect(sentSlash.filter((s) => s.status !== 200).map((s) => [s.item, s.status])).toEqual([]);
    // Every command is answered privately, and never with the generic apology.
    const answers = await waitFor(
      () => {
        const all = slashUrls.map((u) => h.slack.responses(u));
        expect(all).toHaveLength(texts.length);
        return all.every((posts) => posts.length > 0) ? all : undefined;
      },
      { timeoutMs: 20_000, what: "an answer to every slash command" },
    );
    const generic = answers.flatMap((posts, i) => posts.filter((p) => GENERIC_REPLY.test(p.text ?? "")).map((p) => [texts[i], p.text]));
    expect(generic).toEqual([]);
    expect(h.kube.requests.filter((r) => r.mutating)).toEqual([]);
  });

  it("slash-command bodies that are not what Slack sends: 200 or 400, never 5xx", async () => {
    const bodies = [
      "",
      "text=start",
      "command=%2Frollout",
      "command=%2Frollout&text=%ZZ&user_id=U1",
      "command=%2Fother&text=help&user_id=U1&channel_id=C1",
      "command=%2Frollout&text=help&user_id=&channel_id=",
      "command=%2Frollout&text=help&text=status&user_id=U1&channel_id=C1",
      "payload=",
      "payload=null",
      "payload=%7B",
      "=&&&==",
      "command=%2Frollout&text=" + "x".repeat(50_000),
    ];
    const answers = await inBatches(bodies, (b) => postSigned(b));
    expect(answers.filter((a) => a.status !== 200 && a.status !== 400).map((a) => [a.item.slice(0, 80), a.status])).toEqual([]);
  });

  it("300 interaction payloads (generated block_actions, garbage JSON, not JSON): 200 or 400, never 5xx, nothing written", async () => {
    const actionId = fc.oneof(
      fc.constantFrom("rollout.advance", "rollout.finish", "rollout.abort", "rollout.hold", "rollout.resume", "rollout.refresh", "rollout.", "rollout.x", "advance", ""),
      fc.string({ maxLength: 30 }),
    );
    const value = fc.oneof(
      fc.constantFrom("backend-svc#1|0", "backend-svc#1|-1", "backend-svc#999999999|5", "world#2|1", "backend-svc#1", "|", "#|", "backend-svc#1|0|1", "x".repeat(3000)),
      fc.string({ maxLength: 40 }),
      fc.constant(undefined),
    );
    const blockActions = fc.record({ actionId, value, user: fc.oneof(fc.constant(USER), fc.string({ maxLength: 10 })), n: fc.integer({ min: 0, max: 3 }) }).map(
      ({ actionId, value, user, n }) => ({
        type: "block_actions",
        user: { id: user, username: "fuzz", team_id: h.driver.teamId },
        api_app_id: h.driver.apiAppId,
        token: "verification-token-deprecated",
        container: { type: "message", message_ts: "1700000000.000100", channel_id: CHANNEL, is_ephemeral: false },
        trigger_id: "1.2.3",
        team: { id: h.driver.teamId, domain: "fuzz" },
        channel: { id: CHANNEL, name: "deploys" },
        response_url: h.slack.newResponseUrl({ channelId: CHANNEL, userId: USER }),
        actions: Array.from({ length: n }, () => ({
          type: "button",
          action_id: actionId,
          block_id: "b",
          text: { type: "plain_text", text: "Advance" },
          ...(value !== undefined ? { value } : {}),
          action_ts: "1700000000.000200",
        })),
      }),
    );
    const garbageObject = fc.record(
      {
        type: fc.constantFrom("block_actions", "view_submission", "view_closed", "shortcut", "message_action", "interactive_message", "block_suggestion", "event_callback", "", "x"),
        user: fc.anything(),
        actions: fc.anything(),
        team: fc.anything(),
        channel: fc.anything(),
        view: fc.anything(),
        response_url: fc.oneof(fc.constant("http://127.0.0.1:9/nowhere"), fc.string(), fc.constant(undefined)),
      },
      { requiredKeys: ["type"] },
    );
    const payload = fc.oneof(
      { weight: 5, arbitrary: blockActions.map((p) => JSON.stringify(p)) },
      { weight: 2, arbitrary: garbageObject.map((p) => JSON.stringify(p)) },
      { weight: 1, arbitrary: fc.json() },
      { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
    );
    const bodies = fc.sample(payload, { numRuns: 280 }).map((p) => new URLSearchParams({ payload: p }).toString());
    // Events API and Socket-Mode-shaped JSON bodies on the same URL.
    const json = fc
      .sample(
        fc.oneof(
          fc.record({ type: fc.constantFrom("url_verification", "event_callback", "app_rate_limited", "x"), challenge: fc.anything(), event: fc.anything(), team_id: fc.anything() }),
          fc.json(),
        ),
        { numRuns: 20 },
      )
      .map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
    const answers = [...(await inBatches(bodies, (b) => postSigned(b))), ...(await inBatches(json, (b) => postSigned(b, "application/json")))];
    expect(answers.filter((a) => a.status !== 200 && a.status !== 400).map((a) => [a.item.slice(0, 200), a.status])).toEqual([]);
    await sleep(300); // answers to clicks go out after the ack
    const told = h.slack.ephemeralsFor(USER).map((e) => e.text ?? "");
    expect(told.filter((t) => GENERIC_REPLY.test(t))).toEqual([]);
    expect(h.kube.requests.filter((r) => r.mutating)).toEqual([]);
    expect(parentMessages(h)).toEqual([]);
  });

  it("afterwards the bot still answers and starts a rollout", async () => {
    h.kube.seed("trafficsplits", "default", {
      kind: "TrafficSplit",
      metadata: { name: "backend-ts", namespace: "default" },
      spec: { service: "backend-svc", backends: [{ service: "backend-v1", weight: 100 }, { service: "backend-v2", weight: 0 }] },
    } as never);
    const res = await h.driver.slash({ userId: "UALICE", channelId: CHANNEL, text: "start backend-svc --to backend-v2" });
    expect(res.status).toBe(200);
    await waitForMessage(h, "backend-svc#1", "Advance to 80%");
    const writes = h.kube.mutations("trafficsplits", "default", "backend-ts").length;
    expect(writes).toBe(1);
    const by = [...statuses.entries()].sort().map(([s, n]) => `${n}×${s}`).join(", ");
    const fivexx = [...statuses.entries()].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
    console.log(`R5: ${pureSummary}; ${sent} signed HTTP requests (slash commands, interactions, garbage) -> ${by}, ${fivexx} 5xx, no generic reply, 0 mesh writes before a valid start, which then works`);
  });
});

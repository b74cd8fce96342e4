/**
 * Grammar shared by the /rollout subcommands: `<sub> <positional>... --flag value --flag=value --switch`.
 * Pure; every problem is a sentence a person can act on.
 */
import { echo } from "../src/slack/views/format.ts";

export type FlagSpec = { takesValue: boolean; help: string; placeholder?: string };
export type Grammar = { positionals: { name: string; required: boolean }[]; flags: Record<string, FlagSpec> };
export type ParsedArgs = { positionals: Record<string, string>; flags: Record<string, string | true> };
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** Invisible characters pasted text carries (zero-width spaces and joiners, word joiner, BOM). */
const ZERO_WIDTH = /[\u200b-\u200d\u2060\ufeff]/g;
/** Hyphens and dashes (‐ ‑ ‒ – — ― −) that autocorrect (iOS, macOS) makes of a typed `--`. */
const DASH = "[\\u2010-\\u2015\\u2212]";
/** One or two dash-like characters, at least one of them not `-`, at the start of an unquoted token. */
const FLAG_DASHES = new RegExp(`^(?:${DASH}-|-${DASH}|${DASH}{1,2})`);

/**
 * Split the text Slack sends, much as a shell would: whitespace separates tokens, a quoted value ("…" or
 * '…', and the smart quotes clients substitute) at a token's start or after `=` is taken as is and joins
 * the token around it (`--to="backend-v2"` is `--to=backend-v2`); any other quote, or one with no partner,
 * is an ordinary character.
 * Dashes autocorrect made of `--` at the start of a token count as `--`; invisible characters are dropped.
 */
export function tokenize(text: string): string[] {
  const s = text
    .replace(ZERO_WIDTH, "")
    .replace(/[\u201c\u201d\u201e\u201f]/g, '"')
    .replace(/[\u2018\u2019\u201a\u201b]/g, "'");
  const tokens: string[] = [];
  let tok: string | undefined;
  let quotedStart = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      if (tok !== undefined) tokens.push(quotedStart ? tok : tok.replace(FLAG_DASHES, "--"));
      tok = undefined;
      continue;
    }
    // A quote opens only where a value begins (a token's start, or just after `=`): an apostrophe inside a
    // word (`it's`, `isn't`) is part of it, never the start of a quote that runs to the next word's.
    const opens = (c === '"' || c === "'") && (tok === undefined || tok.endsWith("="));
    const close = opens ? s.indexOf(c, i + 1) : -1;
    if (tok === undefined) quotedStart = close !== -1;
    if (close !== -1) {
      tok = (tok ?? "") + s.slice(i + 1, close);
      i = close;
    } else {
      tok = (tok ?? "") + c;
    }
  }
  if (tok !== undefined) tokens.push(quotedStart ? tok : tok.replace(FLAG_DASHES, "--"));
  // `""` stands for nothing: an empty token would only come back as "unexpected ``" or a nameless name.
  return tokens.filter((t) => t !== "");
}

export function parseArgs(command: string, tokens: string[], grammar: Grammar): ParseResult<ParsedArgs> {
  // Null-prototype records and own-key checks: `--constructor` or `--__proto__` is just an unknown flag.
  const positionals: Record<string, string> = Object.create(null);
  const flags: Record<string, string | true> = Object.create(null);
  const extra: string[] = [];
  let p = 0;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (tok.startsWith("--")) {
      const eq = tok.indexOf("=");
      const name = (eq === -1 ? tok.slice(2) : tok.slice(2, eq)).toLowerCase();
      const spec = Object.hasOwn(grammar.flags, name) ? grammar.flags[name] : undefined;
      if (!spec) {
        const known = Object.keys(grammar.flags).map((f) => `--${f}`);
        return {
          ok: false,
          error: `unknown flag ${echo(`--${name}`)} for \`${command}\`${known.length ? ` (it takes ${known.join(", ")})` : " (it takes no flags)"}`,
        };
      }
      if (Object.hasOwn(flags, name)) return { ok: false, error: `flag \`--${name}\` is given twice` };
      if (!spec.takesValue) {
        if (eq !== -1) return { ok: false, error: `flag \`--${name}\` takes no value` };
        flags[name] = true;
        continue;
      }
      const value = eq !== -1 ? tok.slice(eq + 1) : tokens[++i];
      if (value === undefined || value === "" || value.startsWith("--")) {
        return { ok: false, error: `flag \`--${name}\` needs a value${spec.placeholder ? ` (${spec.placeholder})` : ""}` };
      }
      flags[name] = value;
    } else if (p < grammar.positionals.length) {
      positionals[grammar.positionals[p++]!.name] = tok;
    } else {
      extra.push(tok);
    }
  }
  if (extra.length) return { ok: false, error: `unexpected ${echo(extra.join(" "))} for \`${command}\`` };
  const missing = grammar.positionals.find((g) => g.required && !Object.hasOwn(positionals, g.name));
  if (missing) return { ok: false, error: `\`${command}\` needs a <${missing.name}>` };
  return { ok: true, value: { positionals, flags } };
}

export function flagValue(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === "string" ? v : undefined;
}

/**
 * Grammar shared by the /rollout subcommands: `<sub> <positional>... --flag value --flag=value --switch`.
 * Pure; every problem is a sentence a person can act on.
 */

export type FlagSpec = { takesValue: boolean; help: string; placeholder?: string };
export type Grammar = { positionals: { name: string; required: boolean }[]; flags: Record<string, FlagSpec> };
export type ParsedArgs = { positionals: Record<string, string>; flags: Record<string, string | true> };
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** Split the text Slack sends; desktop and mobile clients turn `--` into dashes and quotes into smart quotes. */
export function tokenize(text: string): string[] {
  const normalized = text
    .replace(/[\u2012\u2013\u2014\u2015]/g, "--")
    .replace(/[\u201c\u201d\u2018\u2019]/g, '"')
    .replace(/\u00a0/g, " ");
  const tokens: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(normalized); m; m = re.exec(normalized)) tokens.push(m[1] ?? m[2]!);
  // `""` stands for nothing: an empty token would only come back as "unexpected ``" or a nameless name.
  return tokens.filter((t) => t !== "");
}

export function parseArgs(command: string, tokens: string[], grammar: Grammar): ParseResult<ParsedArgs> {
  const positionals: Record<string, string> = {};
  const flags: Record<string, string | true> = {};
  const extra: string[] = [];
  let p = 0;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (tok.startsWith("--")) {
      const eq = tok.indexOf("=");
      const name = (eq === -1 ? tok.slice(2) : tok.slice(2, eq)).toLowerCase();
      const spec = grammar.flags[name];
      if (!spec) {
        const known = Object.keys(grammar.flags).map((f) => `--${f}`);
        return { ok: false, error: `unknown flag \`--${name}\` for \`${command}\`${known.length ? ` (it takes ${known.join(", ")})` : " (it takes no flags)"}` };
      }
      if (name in flags) return { ok: false, error: `flag \`--${name}\` is given twice` };
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
  if (extra.length) return { ok: false, error: `unexpected \`${extra.join(" ")}\` for \`${command}\`` };
  const missing = grammar.positionals.find((g) => g.required && !(g.name in positionals));
  if (missing) return { ok: false, error: `\`${command}\` needs a <${missing.name}>` };
  return { ok: true, value: { positionals, flags } };
}

export function flagValue(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === "string" ? v : undefined;
}

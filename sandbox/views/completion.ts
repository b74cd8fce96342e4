/**
 * Completion for the page's command box: subcommands, their flags and target names, taken from the
 * commands' own usage lines so the box cannot drift from the grammar. Pure.
 */

export type CommandInfo = { name: string; usage: string; summary: string };
export type CompletionCatalog = { commands: { name: string; usage: string; summary: string; flags: string[]; takesTarget: boolean }[]; targets: string[] };
export type Suggestion = { text: string; label: string; detail: string };

export function completionCatalog(commands: readonly CommandInfo[], targets: readonly string[]): CompletionCatalog {
  return {
    commands: commands.map((c) => ({
      name: c.name,
      usage: c.usage,
      summary: c.summary,
      flags: [...new Set([...c.usage.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => `--${m[1]}`))],
      takesTarget: /[<[]target[>|\]]/.test(c.usage),
    })),
    targets: [...targets],
  };
}

/**
 * What may come next after `text` (the part after `/rollout `): each suggestion is the whole new text.
 * The word being typed is the last one (empty after a space).
 */
export function suggest(text: string, catalog: CompletionCatalog, max = 12): Suggestion[] {
  const words = text.split(/\s+/);
  const current = words[words.length - 1] ?? "";
  const before = words.slice(0, -1).filter((w) => w !== "");
  const head = text.slice(0, text.length - current.length);
  const lower = current.toLowerCase();
  if (before.length === 0) {
    return catalog.commands
      .filter((c) => c.name.startsWith(lower))
      .slice(0, max)
      .map((c) => ({ text: `${c.name} `, label: c.name, detail: c.summary }));
  }
  const cmd = catalog.commands.find((c) => c.name === before[0]!.toLowerCase());
  if (!cmd) return [];
  const used = new Set(before.filter((w) => w.startsWith("--")).map((w) => w.split("=")[0]!.toLowerCase()));
  if (current.startsWith("-")) {
    return cmd.flags
      .filter((f) => f.startsWith(lower) && !used.has(f))
      .slice(0, max)
      .map((f) => ({ text: `${head}${f} `, label: f, detail: cmd.usage }));
  }
  // The first positional of a command that takes a target, unless the word is a flag's value.
  const previous = before[before.length - 1] ?? "";
  const positionals = before.slice(1).filter((w, i, all) => !w.startsWith("--") && !(all[i - 1] ?? "").startsWith("--"));
  if (cmd.takesTarget && positionals.length === 0 && !previous.startsWith("--")) {
    return catalog.targets
      .filter((t) => t.startsWith(lower))
      .slice(0, max)
      .map((t) => ({ text: `${head}${t} `, label: t, detail: "target" }));
  }
  if (!previous.startsWith("--") || current === "") {
    return cmd.flags
      .filter((f) => !used.has(f))
      .slice(0, max)
      .map((f) => ({ text: `${head}${f} `, label: f, detail: cmd.usage }));
  }
  return [];
}

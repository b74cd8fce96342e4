import { echo } from "../src/slack/views/format.ts";
import type { ParseResult } from "./args.ts";
import type { Command, Reply } from "./types.ts";

export type HelpArgs = { topic?: string };

/** Built from the other commands' own usage and summary, so help cannot drift from the grammar. */
export function helpCommand(all: () => readonly Command<unknown>[]): Command<HelpArgs> {
  return {
    name: "help",
    usage: "/rollout help [subcommand]",
    summary: "show this help",
    parse(tokens): ParseResult<HelpArgs> {
      if (tokens.length > 1) return { ok: false, error: "`/rollout help` takes at most one subcommand name" };
      return { ok: true, value: tokens[0] ? { topic: tokens[0] } : {} };
    },
    async run(_deps, _caller, args): Promise<Reply> {
      const commands = all();
      if (args.topic) {
        const topic = args.topic.toLowerCase();
        const c = commands.find((x) => x.name === topic);
        if (!c) return { text: `:x: there is no subcommand ${echo(args.topic)}. Subcommands: ${commands.map((x) => x.name).join(", ")}`, outcome: "refused" };
        return { text: `\`${c.usage}\`\n${c.summary}` };
      }
      const lines = commands.map((c) => `• \`${c.usage}\`: ${c.summary}`);
      return { text: `*rollout-bot*: progressive traffic shifting from Slack.\n${lines.join("\n")}` };
    },
  };
}

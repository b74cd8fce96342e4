import { abortCommand } from "./abort.ts";
import { advanceCommand } from "./advance.ts";
import { tokenize } from "./args.ts";
import { finishCommand } from "./finish.ts";
import { helpCommand } from "./help.ts";
import { holdCommand } from "./hold.ts";
import { listCommand } from "./list.ts";
import { resumeCommand } from "./resume.ts";
import { startCommand } from "./start.ts";
import { statusCommand } from "./status.ts";
import type { Caller, Command, CommandDeps, Reply } from "./types.ts";

const help = helpCommand(() => COMMANDS);

export const COMMANDS: readonly Command<unknown>[] = [
  startCommand,
  statusCommand,
  listCommand,
  advanceCommand,
  finishCommand,
  holdCommand,
  resumeCommand,
  abortCommand,
  help,
] as Command<unknown>[];

/** Longest text we read; Slack allows more, but no valid command is anywhere near this. */
const MAX_TEXT = 2_000;

/** Parse and run one `/rollout ...` text. Never throws for anything a person can type. */
export async function runCommand(deps: CommandDeps, caller: Caller, text: string): Promise<Reply> {
  if (text.length > MAX_TEXT) return { text: `:x: that command is ${text.length} characters long; no /rollout command needs more than ${MAX_TEXT}` };
  const [sub, ...rest] = tokenize(text);
  const name = (sub ?? "help").toLowerCase();
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    return { text: `:x: unknown subcommand \`${sub}\`. Subcommands: ${COMMANDS.map((c) => c.name).join(", ")}. Try \`/rollout help\`.` };
  }
  const parsed = command.parse(rest);
  if (!parsed.ok) return { text: `:x: ${parsed.error}\nUsage: \`${command.usage}\`` };
  return command.run(deps, caller, parsed.value);
}

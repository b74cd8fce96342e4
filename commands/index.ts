import { echo, unescapeMrkdwn } from "../src/slack/views/format.ts";
import { abortCommand } from "./abort.ts";
import { advanceCommand } from "./advance.ts";
import { autoCommand } from "./auto.ts";
import { tokenize } from "./args.ts";
import { finishCommand } from "./finish.ts";
import { helpCommand } from "./help.ts";
import { historyCommand } from "./history.ts";
import { holdCommand } from "./hold.ts";
import { listCommand } from "./list.ts";
import { manualCommand } from "./manual.ts";
import { promoteCommand } from "./promote.ts";
import { chartCommand } from "./chart.ts";
import { resumeCommand } from "./resume.ts";
import { retryCommand } from "./retry.ts";
import { startCommand } from "./start.ts";
import { statusCommand } from "./status.ts";
import type { Caller, Command, CommandDeps, Reply } from "./types.ts";

const help = helpCommand(() => COMMANDS);

export const COMMANDS: readonly Command<unknown>[] = [
  startCommand,
  statusCommand,
  listCommand,
  historyCommand,
  advanceCommand,
  finishCommand,
  holdCommand,
  resumeCommand,
  autoCommand,
  manualCommand,
  abortCommand,
  // Newer subcommands after the established ones: completion lists offer the first few.
  promoteCommand,
  chartCommand,
  retryCommand,
  help,
] as Command<unknown>[];

/** Longest text we read; Slack allows more, but no valid command is anywhere near this. */
const MAX_TEXT = 2_000;

/** Commands that append their own audit entries (they decide something about a rollout). */
const DECISIONS: ReadonlySet<string> = new Set(["start", "advance", "finish", "hold", "resume", "auto", "manual", "abort", "promote", "retry"]);

/**
 * Parse and run one `/rollout ...` text. Never throws for anything a person can type. Every command is
 * audited: decisions by the code that decides (with the rollout and its weights), the rest here.
 * Slack sends `&`, `<` and `>` in the text as `&amp;`, `&lt;` and `&gt;`: they are decoded once, here, so
 * the grammar (and the audit trail) sees what the person typed; replies escape whatever they echo.
 */
export async function runCommand(deps: CommandDeps, caller: Caller, slackText: string): Promise<Reply> {
  const text = unescapeMrkdwn(slackText);
  const sub = tokenize(text.slice(0, 100))[0]?.toLowerCase() ?? "help";
  let reply: Reply;
  try {
    reply = await dispatch(deps, caller, text);
  } catch (err) {
    if (!DECISIONS.has(sub)) await record(deps, caller, text, sub, "error", err instanceof Error ? err.message : String(err));
    throw err;
  }
  if (!reply.audited) {
    const refused = reply.outcome === "refused";
    await record(deps, caller, text, sub, refused ? "refused" : "done", refused ? reply.text : undefined);
  }
  const { audited: _audited, outcome: _outcome, ...shown } = reply;
  return shown;
}

async function record(deps: CommandDeps, caller: Caller, text: string, sub: string, outcome: "done" | "refused" | "error", reason?: string) {
  await deps.audit
    .append({
      at: deps.now(),
      actor: caller.userId,
      action: `command:${sub.slice(0, 40)}`,
      via: "command",
      outcome,
      channel: caller.channelId,
      detail: `/rollout ${text}`.trim(),
      ...(reason ? { reason } : {}),
    })
    .catch((err: unknown) => deps.log.error({ err }, "could not append to the audit trail"));
}

async function dispatch(deps: CommandDeps, caller: Caller, text: string): Promise<Reply> {
  if (text.length > MAX_TEXT)
    return { text: `:x: that command is ${text.length} characters long; no /rollout command needs more than ${MAX_TEXT}`, outcome: "refused" };
  const [sub, ...rest] = tokenize(text);
  const name = (sub ?? "help").toLowerCase();
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    return {
      text: `:x: unknown subcommand ${echo(sub ?? "")}. Subcommands: ${COMMANDS.map((c) => c.name).join(", ")}. Try \`/rollout help\`.`,
      outcome: "refused",
    };
  }
  const parsed = command.parse(rest);
  if (!parsed.ok) return { text: `:x: ${parsed.error}\nUsage: \`${command.usage}\``, outcome: "refused" };
  return command.run(deps, caller, parsed.value);
}

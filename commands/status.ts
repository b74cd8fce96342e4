import { renderRolloutMessage } from "../src/slack/views/rollout-message.ts";
import { parseArgs, type ParseResult } from "./args.ts";
import { listCommand } from "./list.ts";
import { lookup } from "./lookup.ts";
import type { Caller, Command, CommandDeps, Reply } from "./types.ts";

export type StatusArgs = { ref?: string };

export const statusCommand: Command<StatusArgs> = {
  name: "status",
  usage: "/rollout status [target|rollout-id]",
  summary: "show a rollout (the running one of a target, or the latest); without an argument, all running ones",
  parse(tokens): ParseResult<StatusArgs> {
    const p = parseArgs("/rollout status", tokens, { positionals: [{ name: "target|rollout-id", required: false }], flags: {} });
    if (!p.ok) return p;
    const ref = p.value.positionals["target|rollout-id"];
    return { ok: true, value: ref ? { ref } : {} };
  },
  async run(deps: CommandDeps, caller: Caller, args: StatusArgs): Promise<Reply> {
    if (!args.ref) return listCommand.run(deps, caller, {});
    const found = await lookup(deps, args.ref, { latest: true, readBy: caller.userId });
    if ("reply" in found) return found.reply;
    // The same rendering as the channel message, without buttons: an ephemeral copy is for reading.
    const rendered = renderRolloutMessage(found.rollout);
    return { text: rendered.text, blocks: rendered.blocks.filter((b) => b.type !== "actions") };
  },
};

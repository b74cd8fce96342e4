import { act, type ActionKind } from "../src/control/act.ts";
import { findRollout } from "../src/control/lookup.ts";
import { parseArgs, type ParseResult } from "./args.ts";
import type { Caller, Command, CommandDeps, Reply } from "./types.ts";

export type RefArgs = { ref: string };

const PAST: Record<ActionKind, string> = {
  advance: "Advancing",
  finish: "Finishing",
  abort: "Aborting",
  hold: "Holding",
  resume: "Resuming",
};

/** The subcommands that move one rollout (`/rollout abort backend-svc`): same grammar, one transition each. */
export function actionCommand(kind: ActionKind, summary: string): Command<RefArgs> {
  const usage = `/rollout ${kind} <target|rollout-id>`;
  return {
    name: kind,
    usage,
    summary,
    parse(tokens): ParseResult<RefArgs> {
      const p = parseArgs(`/rollout ${kind}`, tokens, { positionals: [{ name: "target|rollout-id", required: true }], flags: {} });
      return p.ok ? { ok: true, value: { ref: p.value.positionals["target|rollout-id"]! } } : p;
    },
    async run(deps: CommandDeps, caller: Caller, args: RefArgs): Promise<Reply> {
      const found = await findRollout(deps.store, args.ref);
      if (!found.ok) return { text: `:x: ${found.error}` };
      const r = found.rollout;
      const result = await act(deps, { kind: "user", id: caller.userId }, kind, r.id, undefined, { channelId: caller.channelId, via: "command" });
      if (!result.ok) return { text: `${result.denied ? ":no_entry:" : ":x:"} ${result.reason}`, audited: true };
      return { text: `${PAST[kind]} \`${r.id}\` (${result.rollout.desiredPercent}% on \`${r.canary}\` requested).`, audited: true };
    },
  };
}

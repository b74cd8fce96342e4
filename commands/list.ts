import { runningRollouts } from "../src/app/reads.ts";
import { starterText } from "../src/slack/views/format.ts";
import { wavePositionText } from "../src/slack/views/wave-text.ts";
import { parseArgs, type ParseResult } from "./args.ts";
import type { Caller, Command, CommandDeps, Reply } from "./types.ts";

export const listCommand: Command<Record<string, never>> = {
  name: "list",
  usage: "/rollout list",
  summary: "list running rollouts (of channels you can see)",
  parse(tokens): ParseResult<Record<string, never>> {
    const p = parseArgs("/rollout list", tokens, { positionals: [], flags: {} });
    return p.ok ? { ok: true, value: {} } : p;
  },
  async run(deps: CommandDeps, caller: Caller): Promise<Reply> {
    const active = await runningRollouts(deps, caller.userId);
    if (!active.length) return { text: "No rollouts are running." };
    const lines = active.map(
      (r) =>
        `• \`${r.id}\` ${r.stable || "?"} → ${r.canary}: *${r.status}*, ${r.appliedPercent ?? 0}% on the canary (step ${Math.max(r.stepIndex + 1, 0)}/${r.steps.length})${r.wave ? `, wave ${wavePositionText(r, r.wave)}` : ""}, started by ${starterText(r)} in <#${r.channel}>`,
    );
    return { text: `${active.length} running rollout${active.length === 1 ? "" : "s"}:\n${lines.join("\n")}` };
  },
};

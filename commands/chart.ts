import { requestChart } from "../src/app/chart.ts";
import { parseArgs, type ParseResult } from "./args.ts";
import { lookup } from "./lookup.ts";
import { rateLimitedText } from "../src/slack/views/refusal.ts";
import type { Caller, Command, CommandDeps, Reply } from "./types.ts";

export type ChartArgs = { ref: string };

/** `/rollout chart <id>`: the success-rate chart, posted in the rollout's thread (running or ended). */
export const chartCommand: Command<ChartArgs> = {
  name: "chart",
  usage: "/rollout chart <target|rollout-id>",
  summary: "post the success-rate chart (stable vs canary, weights, decisions) in the rollout's thread",
  parse(tokens): ParseResult<ChartArgs> {
    const p = parseArgs("/rollout chart", tokens, { positionals: [{ name: "target|rollout-id", required: true }], flags: {} });
    return p.ok ? { ok: true, value: { ref: p.value.positionals["target|rollout-id"]! } } : p;
  },
  async run(deps: CommandDeps, caller: Caller, args: ChartArgs): Promise<Reply> {
    const found = await lookup(deps, args.ref, { latest: true, readBy: caller.userId });
    if ("reply" in found) return found.reply;
    const r = found.rollout;
    if (r.status === "rejected") return { text: `:x: Rollout \`${r.id}\` never started, so it has no chart.`, outcome: "refused" };
    const asked = await requestChart(deps, caller.userId, r.id);
    if (!asked.ok) {
      const e = asked.error;
      return { text: e.code === "rate-limited" ? `:hourglass: ${rateLimitedText(e)}` : `:x: there is no rollout ${r.id}`, outcome: "refused" };
    }
    return { text: `:chart_with_upwards_trend: Drawing the success-rate chart of \`${r.id}\`; it will appear in the rollout's thread in <#${r.channel}>.` };
  },
};

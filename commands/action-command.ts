import { act } from "../src/app/act.ts";
import type { ActionKind } from "../src/engine/policy.ts";
import { formatDuration, parseDuration } from "../src/engine/duration.ts";
import { durationProblemText } from "../src/slack/views/problems.ts";
import { isDenied } from "../src/engine/refusal.ts";
import { decisionNoteText, refusalText } from "../src/slack/views/refusal.ts";
import { lookup } from "./lookup.ts";
import { parseArgs, type ParseResult } from "./args.ts";
import type { Caller, Command, CommandDeps, Reply } from "./types.ts";

export type RefArgs = { ref: string; intervalMs?: number };

const PAST: Record<ActionKind, string> = {
  advance: "Advancing",
  finish: "Finishing",
  abort: "Aborting",
  hold: "Holding",
  resume: "Resuming",
  auto: "Switching to automatic steps for",
  manual: "Switching to manual steps for",
  reapply: "Re-applying the planned weights of",
  adopt: "Adopting the mesh's weights for",
  promote: "Skipping to 100% and finishing",
  retry: "Retrying",
  "approve-all": "Approving every remaining traffic increase of",
  "pause-flux": "Pausing Flux and re-applying the planned weights of",
};

/**
 * The subcommands that move one rollout (`/rollout abort backend-svc`): same grammar, one transition each.
 * `interval: true` adds a required `<interval>` (for `/rollout auto backend-svc 10m`).
 */
export function actionCommand(kind: ActionKind, summary: string, opts: { interval?: boolean } = {}): Command<RefArgs> {
  const usage = `/rollout ${kind} <target|rollout-id>${opts.interval ? " <interval>" : ""}`;
  const positionals = [{ name: "target|rollout-id", required: true }, ...(opts.interval ? [{ name: "interval", required: true }] : [])];
  return {
    name: kind,
    usage,
    summary,
    parse(tokens): ParseResult<RefArgs> {
      const p = parseArgs(`/rollout ${kind}`, tokens, { positionals, flags: {} });
      if (!p.ok) return p;
      const ref = p.value.positionals["target|rollout-id"]!;
      if (!opts.interval) return { ok: true, value: { ref } };
      const d = parseDuration(p.value.positionals.interval!, { minMs: 5_000, maxMs: 24 * 3_600_000 });
      return d.ok ? { ok: true, value: { ref, intervalMs: d.value } } : { ok: false, error: `interval: ${durationProblemText(d.error)}` };
    },
    async run(deps: CommandDeps, caller: Caller, args: RefArgs): Promise<Reply> {
      const found = await lookup(deps, args.ref);
      if ("reply" in found) return found.reply;
      const r = found.rollout;
      const result = await act(deps, {
        userId: caller.userId,
        kind,
        rolloutId: r.id,
        channelId: caller.channelId,
        via: "command",
        ...(args.intervalMs !== undefined ? { intervalMs: args.intervalMs } : {}),
      });
      if (!result.ok) {
        const e = result.error;
        if (e.code === "no-metrics-for-auto") {
          return { text: `:x: automatic steps need success-rate metrics, and \`${e.target}\` has no \`metrics:\` source`, outcome: "refused" };
        }
        return { text: `${isDenied(e) ? ":no_entry:" : ":x:"} ${refusalText(e)}`, outcome: "refused", audited: true };
      }
      const every = args.intervalMs !== undefined ? `: a step every ${formatDuration(args.intervalMs)} while the canary is healthy` : "";
      // The note says what the person should know about their decision (automatic steps that will stop before 100%).
      const n = result.value.note;
      const note = n ? ` Note: ${decisionNoteText(n)}` : "";
      return { text: `${PAST[kind]} \`${r.id}\` (${result.value.rollout.desiredPercent}% on \`${r.canary}\`)${every}.${note}`, outcome: "done", audited: true };
    },
  };
}

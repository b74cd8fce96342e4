import { act, type ActionKind } from "../src/control/act.ts";
import { findRollout } from "../src/control/lookup.ts";
import { formatDuration, parseDuration } from "../src/engine/duration.ts";
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
      return d.ok ? { ok: true, value: { ref, intervalMs: d.ms } } : { ok: false, error: `interval: ${d.error}` };
    },
    async run(deps: CommandDeps, caller: Caller, args: RefArgs): Promise<Reply> {
      const found = await findRollout(deps.store, args.ref);
      if (!found.ok) return { text: `:x: ${found.error}` };
      const r = found.rollout;
      let auto;
      if (args.intervalMs !== undefined) {
        if (!deps.metrics.for(r.target)) {
          return { text: `:x: automatic steps need success-rate metrics, and \`${r.target.name}\` has no \`metrics:\` source` };
        }
        const t = r.target.auto;
        auto = { intervalMs: args.intervalMs, maxWaitMs: t?.maxWait ?? 30 * 60_000, noticeMs: Math.min(t?.notice ?? 60_000, args.intervalMs / 2) };
      }
      const ctx = { channelId: caller.channelId, via: "command" as const, ...(auto ? { auto } : {}) };
      const result = await act(deps, { kind: "user", id: caller.userId }, kind, r.id, undefined, ctx);
      if (!result.ok) return { text: `${result.denied ? ":no_entry:" : ":x:"} ${result.reason}`, audited: true };
      const every = args.intervalMs !== undefined ? `: a step every ${formatDuration(args.intervalMs)} while the canary is healthy` : "";
      // The note says what the person should know about their decision (automatic steps that will stop before 100%).
      const note = result.note ? ` Note: ${result.note}` : "";
      return { text: `${PAST[kind]} \`${r.id}\` (${result.rollout.desiredPercent}% on \`${r.canary}\`)${every}.${note}`, audited: true };
    },
  };
}

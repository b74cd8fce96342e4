import { pastRollouts, rolloutTimeline } from "../src/app/reads.ts";
import { refProblem } from "./ref.ts";
import { isTerminal, type Rollout } from "../src/engine/rollout.ts";
import { clip, duration, echo, escapeMrkdwn, slackTime, split, starterText } from "../src/slack/views/format.ts";
import type { StoredAuditEntry } from "../src/store/audit.ts";
import { flagValue, parseArgs, type ParseResult } from "./args.ts";
import type { Caller, Command, CommandDeps, Reply } from "./types.ts";

export type HistoryArgs = { ref?: string; limit?: number };

const LIST_DEFAULT = 10;
const LIST_MAX = 50;
const TIMELINE_DEFAULT = 40;
const TIMELINE_MAX = 200;
/** Stay well inside what Slack shows in one message (the local peer enforces ~12k characters). */
const MAX_CHARS = 11_000;
const USAGE = "/rollout history [target|rollout-id] [--limit N]";

export function parseHistory(tokens: string[]): ParseResult<HistoryArgs> {
  const p = parseArgs("/rollout history", tokens, {
    positionals: [{ name: "target|rollout-id", required: false }],
    flags: { limit: { takesValue: true, help: "how many rollouts (or timeline entries) to show", placeholder: "N" } },
  });
  if (!p.ok) return p;
  const ref = p.value.positionals["target|rollout-id"];
  const problem = ref === undefined ? undefined : refProblem(ref);
  if (problem) return { ok: false, error: problem };
  const limitText = flagValue(p.value, "limit");
  let limit: number | undefined;
  if (limitText !== undefined) {
    const max = ref?.includes("#") ? TIMELINE_MAX : LIST_MAX;
    limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > max) return { ok: false, error: `--limit ${echo(limitText)} is not a whole number from 1 to ${max}` };
  }
  return { ok: true, value: { ...(ref ? { ref } : {}), ...(limit ? { limit } : {}) } };
}

export const historyCommand: Command<HistoryArgs> = {
  name: "history",
  usage: USAGE,
  summary: "past rollouts with outcome and duration (of one target, or all); with a rollout id, its full timeline from the audit trail",
  parse: parseHistory,
  async run(deps: CommandDeps, caller: Caller, args: HistoryArgs): Promise<Reply> {
    if (args.ref?.includes("#")) return timeline(deps, caller.userId, args.ref, args.limit ?? TIMELINE_DEFAULT);
    const limit = args.limit ?? LIST_DEFAULT;
    const rollouts = await pastRollouts(deps, caller.userId, args.ref, limit);
    if (!rollouts.length) return { text: args.ref ? `\`${args.ref}\` has no rollouts yet.` : "No rollouts yet." };
    const now = deps.now();
    const lines = rollouts.map((r) => `• ${summaryLine(r, now)}`);
    const title = args.ref ? `Rollouts of \`${args.ref}\`` : "Rollouts";
    return { text: fit(`*${title}*, newest first (\`/rollout history <id>\` for a timeline):`, lines, "oldest-last") };
  },
};

/** One rollout: id, versions, outcome and how long it took (or has been running). Pure. */
export function summaryLine(r: Rollout, now: number): string {
  const took = duration((r.endedAt ?? now) - r.createdAt);
  const versions = `${r.stable || "?"} → ${r.canary}`;
  let outcome: string;
  switch (r.status) {
    case "completed":
      outcome = `*completed* in ${took}`;
      break;
    case "aborted":
      outcome = `*aborted* after ${took}${lastBefore(r, "abort-requested")}`;
      break;
    case "rejected":
      outcome = `*rejected* after ${took}${r.problem ? ` (${escapeMrkdwn(clip(r.problem, 200))})` : ""}`;
      break;
    default:
      outcome = `*${r.status}*, ${r.appliedPercent ?? 0}% on the canary, running for ${took}`;
  }
  return `\`${r.id}\` ${versions}: ${outcome} · started by ${starterText(r)} ${slackTime(r.createdAt)}`;
}

function lastBefore(r: Rollout, kind: "abort-requested"): string {
  const e = [...r.events].reverse().find((x) => x.kind === kind);
  return e?.from !== undefined ? ` at ${e.from}%` : "";
}

async function timeline(deps: CommandDeps, userId: string, id: string, limit: number): Promise<Reply> {
  const { rollout: r, entries, total } = await rolloutTimeline(deps, userId, id, limit);
  if (!r && !entries.length) return { text: `:x: there is no rollout \`${id}\``, outcome: "refused" };
  if (!entries.length) return { text: `\`${id}\` has no audit entries.` };
  const head = r
    ? `*Timeline of \`${id}\`*: ${r.stable || "?"} → ${r.canary}, ${isTerminal(r) ? `*${r.status}*` : `*${r.status}* (${r.appliedPercent ?? 0}% on the canary)`}, ${duration((r.endedAt ?? deps.now()) - r.createdAt)}`
    : `*Timeline of \`${id}\`*`;
  const earlier = total - entries.length;
  return {
    text: fit(
      `${head}${earlier > 0 ? ` (${earlier} earlier entr${earlier === 1 ? "y" : "ies"} not shown; use --limit)` : ""}:`,
      entries.map((e) => `• ${entryLine(e, r)}`),
      "oldest-first",
    ),
  };
}

/** One audit entry: when, who, what, weights before → after, outcome. Pure. */
export function entryLine(e: StoredAuditEntry, r: Pick<Rollout, "stable" | "canary"> | undefined): string {
  const who = e.actor.startsWith("bot:") ? `rollout-bot (${e.actor.slice(4)})` : `<@${e.actor}>`;
  const names = r ? `${r.stable || "stable"}/${r.canary} ` : "";
  const weights =
    e.before !== undefined && e.after === e.before
      ? `: at ${e.before}% (${names}${split(e.before)})`
      : e.before !== undefined && e.after !== undefined
        ? `: ${e.before}% → ${e.after}% (${names}${split(e.before)} → ${split(e.after)})`
        : e.after !== undefined
          ? `: → ${e.after}% (${names}${split(e.after)})`
          : "";
  // Reasons the bot wrote itself carry mentions; what came from the mesh is escaped.
  const fromOutside = e.via === "worker" || e.via === "auto";
  const text = (s: string) => clip(fromOutside ? escapeMrkdwn(s) : s, 300);
  const outcome = e.outcome === "done" ? `done${e.reason ? ` (${text(e.reason)})` : ""}` : `*${e.outcome}*${e.reason ? `: ${text(e.reason)}` : ""}`;
  const detail = e.detail ? ` \`${clip(escapeMrkdwn(e.detail).replace(/`/g, "'"), 200)}\`` : "";
  return `${slackTime(e.at)} ${who} *${e.action}* (${e.via}${e.channel && !fromOutside ? ` in <#${e.channel}>` : ""})${weights}${detail} — ${outcome}`;
}

/** Header plus as many lines as fit in one message, dropping the oldest (first or last in `order`). */
function fit(header: string, lines: string[], order: "oldest-first" | "oldest-last"): string {
  let kept = lines;
  let total = header.length + kept.reduce((n, l) => n + l.length + 1, 0);
  while (kept.length > 1 && total > MAX_CHARS) {
    const gone = order === "oldest-first" ? kept[0]! : kept.at(-1)!;
    total -= gone.length + 1;
    kept = order === "oldest-first" ? kept.slice(1) : kept.slice(0, -1);
  }
  const dropped = lines.length - kept.length;
  return `${header}${dropped ? `\n_(${dropped} more not shown: too long for one message)_` : ""}\n${kept.join("\n")}`;
}

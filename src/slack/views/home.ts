import type { Board, BoardRollout } from "../../app/slack-side.ts";
import { wavePositionText } from "./wave-text.ts";
import type { Rollout } from "../../engine/rollout.ts";
import { describeVerdict } from "./verdict-text.ts";
import { clip, duration, escapeMrkdwn, slackTime, starterText } from "./format.ts";
import { argoButtons } from "./argo-message.ts";
import { flaggerButtons } from "./flagger-message.ts";
import { moreMenu } from "./promote.ts";
import { actionButtons, buttonValue, scheduleText } from "./rollout-message.ts";

/**
 * The App Home tab as a board: every running rollout (target, versions, weights as a bar, verdict, next
 * automatic step, who started it, a link to its message) with the message's own buttons (same action ids,
 * same listeners, same policy), then the last completed and aborted ones with their duration. Pure.
 */

type Block = Record<string, unknown>;
export type { Board, BoardRollout } from "../../app/slack-side.ts";

/** Block Kit allows 100 blocks in a Home tab; a running rollout takes up to 4. */
const MAX_RUNNING = 20;
const MAX_ENDED = 10;

/** The canary's share as a bar of ten cells (Slack has no progress element). */
export function weightBar(percent: number): string {
  const filled = Math.round(Math.min(100, Math.max(0, percent)) / 10);
  return `${"▰".repeat(filled)}${"▱".repeat(10 - filled)} ${percent}%`;
}

const STATUS: Record<Rollout["status"], string> = {
  deploying: "deploying",
  starting: "starting",
  active: "in progress",
  held: "held",
  finishing: "finishing",
  "at-gate": "at the gate",
  completed: "completed",
  aborting: "aborting",
  aborted: "aborted",
  rejected: "rejected",
};

function runningBlocks({ rollout: r, link }: BoardRollout): Block[] {
  const name = link ? `<${link}|${r.id}>` : r.id;
  const weight = r.appliedPercent ?? 0;
  const moving = r.appliedPercent !== r.desiredPercent ? ` (applying ${r.desiredPercent}%)` : "";
  const lines = [
    `*${name}* · \`${escapeMrkdwn(r.stable || "?")}\` → \`${escapeMrkdwn(r.canary)}\` · ${STATUS[r.status]}`,
    `\`${weightBar(weight)}\`${moving} on \`${escapeMrkdwn(r.canary)}\``,
    r.snapshot ? `Verdict: ${describeVerdict(r.snapshot.verdict)}` : "Verdict: no reading yet",
  ];
  if (r.wave) lines.push(`Wave: ${escapeMrkdwn(wavePositionText(r, r.wave))}`);
  if (r.problem) lines.push(`:warning: ${escapeMrkdwn(r.problem)}`);
  const schedule = scheduleText(r);
  const blocks: Block[] = [
    { type: "section", block_id: `home:${r.id}:what`, text: { type: "mrkdwn", text: clip(lines.join("\n"), 3000) } },
    {
      type: "context",
      block_id: `home:${r.id}:who`,
      elements: [
        { type: "mrkdwn", text: clip(`${schedule ? `${schedule} · ` : ""}Started by ${starterText(r)} ${slackTime(r.createdAt)} in <#${r.channel}>`, 2000) },
      ],
    },
  ];
  const buttons = r.flagger ? flaggerButtons(r) : r.argo ? argoButtons(r, r.argo.state) : actionButtons(r);
  const more = r.argo || r.flagger ? undefined : moreMenu(r, buttonValue(r));
  if (more) buttons.push(more);
  if (buttons.length) blocks.push({ type: "actions", block_id: `home:${r.id}`, elements: buttons });
  blocks.push({ type: "divider" });
  return blocks;
}

function endedLine(r: Rollout): string {
  const icon = r.status === "completed" ? ":white_check_mark:" : ":x:";
  const took = r.endedAt ? ` after ${duration(r.endedAt - r.createdAt)}` : "";
  return `${icon} *${r.id}* \`${escapeMrkdwn(r.stable || "?")}\` → \`${escapeMrkdwn(r.canary)}\` ${r.status}${took}${r.endedAt ? ` ${slackTime(r.endedAt)}` : ""}`;
}

export function homeView(board: Board): { type: "home"; blocks: Block[] } {
  const blocks: Block[] = [];
  if (board.notice) blocks.push({ type: "section", block_id: "notice", text: { type: "mrkdwn", text: clip(board.notice, 3000) } });
  const running = board.running.slice(0, MAX_RUNNING);
  blocks.push({ type: "header", block_id: "running", text: { type: "plain_text", text: `Running rollouts (${board.running.length})`, emoji: true } });
  if (!running.length)
    blocks.push({ type: "section", block_id: "none-running", text: { type: "mrkdwn", text: "Nothing is rolling out. `/rollout` opens the start form." } });
  for (const b of running) blocks.push(...runningBlocks(b));
  if (board.running.length > running.length) {
    blocks.push({
      type: "context",
      block_id: "more-running",
      elements: [{ type: "mrkdwn", text: `…and ${board.running.length - running.length} more: \`/rollout list\` shows all.` }],
    });
  }
  const ended = board.ended.slice(0, MAX_ENDED);
  blocks.push({ type: "header", block_id: "ended", text: { type: "plain_text", text: "Recently completed and aborted", emoji: true } });
  blocks.push({
    type: "section",
    block_id: "ended-list",
    text: { type: "mrkdwn", text: ended.length ? clip(ended.map(endedLine).join("\n"), 3000) : "None yet." },
  });
  return { type: "home", blocks };
}

import type { Rollout } from "../../engine/rollout.ts";
import { describeVerdict } from "./verdict-text.ts";
import { clip } from "./format.ts";

/**
 * Emergency promote ("Skip to 100%") on a rollout message: an overflow menu, and the confirm dialog that
 * says what it risks and what the canary's verdict is now. Pure.
 */

export const MORE = "rollout.more";
export const PROMOTE_CONFIRM = "rollout.promote-confirm";
const PROMOTE = "promote:";
const CHART = "chart:";

/** What an option of the menu asks for, and the rollout and step it was drawn for. */
export function readMoreOption(value: unknown): { what: "promote" | "chart"; value: string } | undefined {
  if (typeof value !== "string") return undefined;
  if (value.startsWith(PROMOTE)) return { what: "promote", value: value.slice(PROMOTE.length) };
  if (value.startsWith(CHART)) return { what: "chart", value: value.slice(CHART.length) };
  return undefined;
}

/** Skipping to 100% makes sense while the rollout runs below 100% with nothing in flight or unresolved. */
export function canPromote(r: Rollout): boolean {
  return (
    (r.status === "active" || (r.status === "held" && !r.drift)) && r.appliedPercent !== null && r.appliedPercent === r.desiredPercent && r.appliedPercent < 100
  );
}

/**
 * The menu beside the buttons (Slack wants 2 to 5 options): skip to 100%, and the success-rate chart. `v` is
 * the buttons' value (rollout and step seen), so a late pick is recognised like a late click.
 */
export function moreMenu(r: Rollout, v: string): Record<string, unknown> | undefined {
  if (!canPromote(r)) return undefined;
  return {
    type: "overflow",
    action_id: MORE,
    options: [
      { text: { type: "plain_text", text: "Skip to 100% (emergency)", emoji: true }, value: `${PROMOTE}${v}` },
      { text: { type: "plain_text", text: "Post the success-rate chart", emoji: true }, value: `${CHART}${v}` },
    ],
  };
}

/** Words for what the last reading says, for a person about to skip the remaining steps. */
export function verdictLine(r: Rollout): string {
  const s = r.snapshot;
  if (!s)
    return r.target.metrics && r.target.metrics.source !== "none"
      ? "No success-rate reading yet."
      : "This target has no success-rate source: nobody has measured the canary.";
  return `Current verdict: ${describeVerdict(s.verdict)}`;
}

/** The confirm dialog (a modal: an overflow option cannot carry its own confirm). */
export function promoteConfirmView(r: Rollout, meta: { step: number; channelId?: string }): Record<string, unknown> {
  const skipped = r.steps.filter((_, i) => i > r.stepIndex && r.steps[i]! < 100);
  const risk =
    `*All traffic for \`${r.target.name}\` goes to \`${r.canary}\` now*, and it is made permanent: ` +
    `\`${r.stable || "stable"}\` stops getting traffic. ${skipped.length ? `The steps ${skipped.join("%, ")}% are skipped: the canary is never observed at them. ` : ""}` +
    `Now at ${r.appliedPercent ?? 0}%.`;
  return {
    type: "modal",
    callback_id: PROMOTE_CONFIRM,
    private_metadata: JSON.stringify({ id: r.id, step: meta.step, ...(meta.channelId ? { channel: meta.channelId } : {}) }),
    title: { type: "plain_text", text: "Skip to 100%?" },
    submit: { type: "plain_text", text: "Skip to 100%" },
    close: { type: "plain_text", text: "Cancel" },
    blocks: [
      { type: "section", block_id: "risk", text: { type: "mrkdwn", text: clip(`:warning: ${risk}`, 3000) } },
      { type: "section", block_id: "verdict", text: { type: "mrkdwn", text: clip(verdictLine(r), 3000) } },
      {
        type: "context",
        block_id: "who",
        elements: [{ type: "mrkdwn", text: "Needs the right to finish; the person who started the rollout cannot do it where a second approver is required." }],
      },
    ],
  };
}

/** The dialog, after the decision was refused: why, in place of the question. */
export function promoteRefusedView(text: string): Record<string, unknown> {
  return {
    type: "modal",
    callback_id: PROMOTE_CONFIRM,
    title: { type: "plain_text", text: "Not promoted" },
    close: { type: "plain_text", text: "Close" },
    blocks: [{ type: "section", block_id: "refused", text: { type: "mrkdwn", text: clip(text, 3000) } }],
  };
}

/** Read the dialog's private_metadata back (it came from us, but a signed payload is still checked). */
export function readPromoteMeta(raw: unknown): { id: string; step: number; channel?: string } | undefined {
  try {
    const m = JSON.parse(String(raw)) as { id?: unknown; step?: unknown; channel?: unknown };
    if (typeof m.id !== "string" || typeof m.step !== "number") return undefined;
    return { id: m.id, step: m.step, ...(typeof m.channel === "string" ? { channel: m.channel } : {}) };
  } catch {
    return undefined;
  }
}

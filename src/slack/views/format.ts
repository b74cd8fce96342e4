import type { Actor } from "../../engine/rollout.ts";

/** Slack renders <!date^...> in each reader's own time zone; the fallback is UTC for clients that cannot. */
export function slackTime(ms: number): string {
  const sec = Math.floor(ms / 1000);
  const iso = new Date(sec * 1000).toISOString().replace(".000Z", "Z");
  return `<!date^${sec}^{date_short_pretty} {time_secs}|${iso}>`;
}

export function actorText(a: Actor): string {
  return a.kind === "user" ? `<@${a.id}>` : `rollout-bot (${a.why})`;
}

/** `90/10` as stable/canary percentages. */
export function split(canaryPercent: number): string {
  return `${100 - canaryPercent}/${canaryPercent}`;
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** Slack mrkdwn needs &, < and > escaped in text that came from outside (mesh renderings, error texts). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Keep a text under a Block Kit limit, saying that it was cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 2)} …`;
}

/** The longest echo of a person's input in a reply, in characters. */
export const ECHO_MAX = 80;

/**
 * Something a person typed, quoted back as inline code: `&`, `<` and `>` escaped (so `<!here>` or `<@U1>`
 * is never a live mention), backticks turned into `'` (they would end the code span), runs of whitespace
 * (newlines too) as one space, and at most `max` characters ending in `…`. Pure.
 */
export function echo(input: string, max = ECHO_MAX): string {
  const flat = input.replace(/\s+/g, " ").replace(/`/g, "'");
  const chars = Array.from(flat);
  return `\`${escapeMrkdwn(chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : flat)}\``;
}

/** Slack's three entities back to characters, in one pass (slash-command text arrives escaped). Pure. */
export function unescapeMrkdwn(text: string): string {
  return text.replace(/&(amp|lt|gt);/g, (_, e: string) => (e === "amp" ? "&" : e === "lt" ? "<" : ">"));
}

/** Mesh text as one inline code span of at most `max` characters, closing backtick included. Pure. */
export function inlineCode(text: string, max: number): string {
  const inner = escapeMrkdwn(text.replace(/`/g, "'"));
  if (inner.length + 2 <= max) return `\`${inner}\``;
  // Cut inside the span, and never through an entity (`&amp;` cut to `&am` would show as such).
  return `\`${inner.slice(0, Math.max(0, max - 4)).replace(/&[a-z]{0,3}$/, "")} …\``;
}

/** Who started a rollout, as a channel shows it: a person, or Argo Rollouts for a revision it runs. */
export function starterText(r: { startedBy: string; argo?: unknown; flagger?: unknown }): string {
  if (r.flagger) return "Flagger";
  return r.argo ? "Argo Rollouts" : `<@${r.startedBy}>`;
}

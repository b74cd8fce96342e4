import { z } from "zod";
import { echo } from "../slack/views/format.ts";

/** `90s`, `10m`, `2h`, `1h30m`, `1d`: what people type for intervals and deadlines. Pure. */
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export type DurationResult = { ok: true; ms: number } | { ok: false; error: string };

export function parseDuration(text: string, opts: { minMs?: number; maxMs?: number } = {}): DurationResult {
  const t = text.trim().toLowerCase();
  if (!/^(\d{1,5}[smhd])+$/.test(t)) {
    return { ok: false, error: `${echo(text)} is not a duration: write it like \`90s\`, \`10m\`, \`2h\` or \`1h30m\`` };
  }
  let ms = 0;
  for (const m of t.matchAll(/(\d+)([smhd])/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  const min = opts.minMs ?? 1_000;
  const max = opts.maxMs ?? 7 * 86_400_000;
  if (ms < min) return { ok: false, error: `${echo(text)} is too short (at least ${formatDuration(min)})` };
  if (ms > max) return { ok: false, error: `${echo(text)} is too long (at most ${formatDuration(max)})` };
  return { ok: true, ms };
}

export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, sec] of [["d", 86_400], ["h", 3_600], ["m", 60], ["s", 1]] as const) {
    if (rest >= sec) {
      parts.push(`${Math.floor(rest / sec)}${unit}`);
      rest %= sec;
    }
  }
  return parts.join("") || "0s";
}

/**
 * A duration in a config file, as milliseconds. Text uses the same grammar as commands; a number is
 * already milliseconds (a parsed target is parsed again when command flags are laid over it).
 */
export const durationSchema = (opts: { minMs?: number; maxMs?: number } = {}) =>
  z.union([
    z.number().int().min(opts.minMs ?? 0),
    z.string().transform((text, ctx) => {
      const r = parseDuration(text, opts);
      if (!r.ok) {
        ctx.addIssue({ code: "custom", message: r.error });
        return z.NEVER;
      }
      return r.ms;
    }),
  ]);

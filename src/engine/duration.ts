import { z } from "zod";
import { err, ok, type Result } from "./result.ts";

/** `90s`, `10m`, `2h`, `1h30m`, `1d`: what people type for intervals and deadlines. Pure. */
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Why a typed duration is not accepted: not one at all, or outside the bounds (in ms). */
export type DurationProblem =
  { code: "not-duration"; text: string } | { code: "too-short"; text: string; minMs: number } | { code: "too-long"; text: string; maxMs: number };

export type DurationResult = Result<number, DurationProblem>;

export function parseDuration(text: string, opts: { minMs?: number; maxMs?: number } = {}): DurationResult {
  const t = text.trim().toLowerCase();
  if (!/^(\d{1,5}[smhd])+$/.test(t)) return err({ code: "not-duration", text });
  let ms = 0;
  for (const m of t.matchAll(/(\d+)([smhd])/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  const min = opts.minMs ?? 1_000;
  const max = opts.maxMs ?? 7 * 86_400_000;
  if (ms < min) return err({ code: "too-short", text, minMs: min });
  if (ms > max) return err({ code: "too-long", text, maxMs: max });
  return ok(ms);
}

export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, sec] of [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ] as const) {
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
    z
      .number()
      .int()
      .min(opts.minMs ?? 0),
    z.string().transform((text, ctx) => {
      const r = parseDuration(text, opts);
      if (!r.ok) {
        // The code is the message; config.ts words it (problemText in src/slack/views/problems.ts).
        ctx.addIssue({ code: "custom", message: r.error.code, params: { problem: r.error } });
        return z.NEVER;
      }
      return r.value;
    }),
  ]);

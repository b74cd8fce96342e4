import { createHmac, timingSafeEqual } from "node:crypto";

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/**
 * Slack's v0 request signature. Unlike Bolt's own check, a timestamp too far in the future is refused as
 * well as a stale one: a captured request must not be replayable later by dating it ahead.
 */
export function verifySlackSignature(opts: {
  signingSecret: string;
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: string;
  nowMs: number;
  maxSkewSeconds?: number;
}): VerifyResult {
  const { timestamp, signature } = opts;
  if (!timestamp || !signature) return { ok: false, reason: "missing X-Slack-Request-Timestamp or X-Slack-Signature" };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "malformed timestamp" };
  const skew = Math.abs(Math.floor(opts.nowMs / 1000) - Number(timestamp));
  if (skew > (opts.maxSkewSeconds ?? 300)) return { ok: false, reason: `timestamp is ${skew}s away from now` };
  const expected = `v0=${createHmac("sha256", opts.signingSecret).update(`v0:${timestamp}:${opts.rawBody}`).digest("hex")}`;
  const a = Buffer.from(expected);
  const b = Buffer.from(signature);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: "signature mismatch" };
  return { ok: true };
}

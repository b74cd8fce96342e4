import { createHmac, timingSafeEqual } from "node:crypto";

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** Slack's signatures: `v0=` and 64 hex digits. */
const SIGNATURE = /^v0=[0-9a-f]{64}$/;

/**
 * What can be checked before the body is read: both headers present, the signature in Slack's v0 form, and
 * the timestamp within `maxSkewSeconds` of now in either direction (unlike Bolt's own check, a timestamp too
 * far in the future is refused as well as a stale one: a captured request must not be replayable later by
 * dating it ahead). A request that fails here is refused without reading its body.
 */
export function checkSignatureHeaders(opts: {
  timestamp: string | undefined;
  signature: string | undefined;
  nowMs: number;
  maxSkewSeconds?: number;
}): VerifyResult {
  const { timestamp, signature } = opts;
  if (!timestamp || !signature) return { ok: false, reason: "missing X-Slack-Request-Timestamp or X-Slack-Signature" };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "malformed timestamp" };
  const skew = Math.abs(Math.floor(opts.nowMs / 1000) - Number(timestamp));
  if (skew > (opts.maxSkewSeconds ?? 300)) return { ok: false, reason: `timestamp is ${skew}s away from now` };
  if (!SIGNATURE.test(signature)) return { ok: false, reason: "malformed signature" };
  return { ok: true };
}

/** Slack's v0 request signature over the timestamp and the raw body (the headers checked as above first). */
export function verifySlackSignature(opts: {
  signingSecret: string;
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: string;
  nowMs: number;
  maxSkewSeconds?: number;
}): VerifyResult {
  const headers = checkSignatureHeaders(opts);
  if (!headers.ok) return headers;
  const expected = `v0=${createHmac("sha256", opts.signingSecret).update(`v0:${opts.timestamp}:${opts.rawBody}`).digest("hex")}`;
  const a = Buffer.from(expected);
  const b = Buffer.from(opts.signature!);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: "signature mismatch" };
  return { ok: true };
}

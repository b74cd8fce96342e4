import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Slack request signing (v0), as described on Slack's "Verifying requests from Slack" page:
 * `v0=` + hex(HMAC-SHA256(signingSecret, "v0:" + timestamp + ":" + rawBody)).
 * The body must be the exact bytes sent on the wire, never a re-serialisation.
 */
export function signSlackRequest(signingSecret: string, timestamp: number | string, rawBody: string): string {
  const digest = createHmac("sha256", signingSecret).update(`v0:${timestamp}:${rawBody}`, "utf8").digest("hex");
  return `v0=${digest}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: "missing_headers" | "bad_timestamp" | "stale" | "bad_signature" };

/**
 * Verify a request the way Bolt does (reject timestamps older than `maxAgeSeconds`; compare in
 * constant time). Used by the driver's own tests to stand in for the bot's receiver.
 */
export function verifySlackSignature(opts: {
  signingSecret: string;
  rawBody: string;
  timestamp: string | undefined;
  signature: string | undefined;
  nowSeconds?: number;
  maxAgeSeconds?: number;
}): SignatureCheck {
  if (opts.timestamp === undefined || opts.signature === undefined) return { ok: false, reason: "missing_headers" };
  if (!/^\d+$/.test(opts.timestamp)) return { ok: false, reason: "bad_timestamp" };
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (now - Number(opts.timestamp) > (opts.maxAgeSeconds ?? 300)) return { ok: false, reason: "stale" };
  const expected = Buffer.from(signSlackRequest(opts.signingSecret, opts.timestamp, opts.rawBody));
  const given = Buffer.from(opts.signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: "bad_signature" };
  return { ok: true };
}

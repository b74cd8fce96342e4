import { describe, expect, it } from "vitest";
import { signSlackRequest, verifySlackSignature } from "../../../sandbox/peers/slack/signing.ts";

/**
 * Slack's published example from "Verifying requests from Slack" (api.slack.com/authentication/
 * verifying-requests-from-slack): a slash command body, its signing secret, timestamp and signature.
 */
const VECTOR = {
  secret: "8f742231b10e8888abcd99yyyzzz85a5",
  timestamp: 1531420618,
  body:
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V" +
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=" +
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN" +
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
  signature: "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
};

describe("Slack request signing", () => {
  it("reproduces Slack's published test vector", () => {
    expect(signSlackRequest(VECTOR.secret, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
    expect(signSlackRequest(VECTOR.secret, String(VECTOR.timestamp), VECTOR.body)).toBe(VECTOR.signature);
  });

  it("any change to secret, timestamp or body changes the signature", () => {
    expect(signSlackRequest(`${VECTOR.secret}x`, VECTOR.timestamp, VECTOR.body)).not.toBe(VECTOR.signature);
    expect(signSlackRequest(VECTOR.secret, VECTOR.timestamp + 1, VECTOR.body)).not.toBe(VECTOR.signature);
    expect(signSlackRequest(VECTOR.secret, VECTOR.timestamp, `${VECTOR.body} `)).not.toBe(VECTOR.signature);
  });

  it("verifies the vector and rejects stale, tampered and missing signatures", () => {
    const base = {
      signingSecret: VECTOR.secret,
      rawBody: VECTOR.body,
      timestamp: String(VECTOR.timestamp),
      signature: VECTOR.signature,
      nowSeconds: VECTOR.timestamp + 10,
    };
    expect(verifySlackSignature(base)).toEqual({ ok: true });
    expect(verifySlackSignature({ ...base, nowSeconds: VECTOR.timestamp + 301 })).toEqual({ ok: false, reason: "stale" });
    expect(verifySlackSignature({ ...base, rawBody: `${VECTOR.body}&x=1` })).toEqual({ ok: false, reason: "bad_signature" });
    expect(verifySlackSignature({ ...base, signature: undefined })).toEqual({ ok: false, reason: "missing_headers" });
    expect(verifySlackSignature({ ...base, timestamp: "soon" })).toEqual({ ok: false, reason: "bad_timestamp" });
  });
});

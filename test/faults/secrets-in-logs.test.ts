import { Writable } from "node:stream";
import { afterAll, expect, it } from "vitest";
import { createLogger } from "../../src/logger.ts";
import { CHANNEL, clickButton, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { SEED, seedSplit } from "./support.ts";

/**
 * Issue 6: secrets never reach the logs. The bot runs with the production logger (src/logger.ts, with its
 * redaction) at `trace`, writing into a captured stream, through a whole rollout that also meets a forged
 * request (401), a Kubernetes 503, a Slack 429 and a Slack invalid_auth. Then the captured output is
 * searched for the bot token, the signing secret and the kubeconfig's bearer token, whole and in part.
 */

const ALICE = "UALICE";
const ID = "backend-svc#1";

const lines: string[] = [];
const capture = new Writable({
  write(chunk: Buffer, _enc, done) {
    lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    done();
  },
});

let h: Harness | undefined;
afterAll(async () => {
  await h?.close();
});

it("a rollout with a forged request, a Kubernetes 503, a Slack 429 and invalid_auth, logged at trace: no secret in the logs", async () => {
  h = await startHarness({ log: createLogger("trace", capture) });
  seedSplit(h);

  // A forged request (signed with the wrong secret) and one with no signature: 401, logged.
  const forged = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED, signatureOverride: `v0=${"1".repeat(64)}` });
  expect(forged.status).toBe(401);
  expect((await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "help", omitSignature: true })).status).toBe(401);

  // Start: the first write gets a 503, the first post a 429 with Retry-After.
  h.kube.failNext({ method: "PATCH", pathIncludes: "trafficsplits", status: 503, times: 1 });
  h.slack.rateLimit("chat.postMessage", { retryAfterSeconds: 1, times: 1 });
  await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: SEED });
  await waitForMessage(h, ID, "Advance to 80%", 15_000);

  // Advance: Slack answers the message update with invalid_auth (a revoked token), then recovers.
  h.slack.failNext("chat.update", "invalid_auth", 1);
  await clickButton(h, ID, ALICE, "Advance to 80%");
  await waitForMessage(h, ID, "Advance to 100%", 15_000);
  await clickButton(h, ID, ALICE, "Advance to 100%");
  await waitForMessage(h, ID, "Finish", 15_000);
  await clickButton(h, ID, ALICE, "Finish");
  await waitForMessage(h, ID, "Completed", 15_000);
  await h.stopBot();

  // The log really holds the detailed and the failing paths (else the search below proves nothing).
  const text = lines.join("\n");
  const levels = new Set(lines.map((l) => (JSON.parse(l) as { level: number }).level));
  expect([...levels].some((l) => l <= 20)).toBe(true); // debug/trace lines were written
  expect(text).toContain("rejected an unsigned or badly signed request");
  expect(text).toMatch(/503/);
  expect(text).toMatch(/rate limit/i);
  expect(text).toContain("invalid_auth");

  const secrets: Record<string, string> = {
    "bot token": h.botToken,
    "bot token (random part)": h.botToken.replace(/^xoxb-test-/, ""),
    "signing secret": h.signingSecret,
    "signing secret (random part)": h.signingSecret.replace(/^secret-/, ""),
    "kubeconfig bearer token": h.kube.token,
    "kubeconfig bearer token (base64)": Buffer.from(h.kube.token).toString("base64"),
  };
  const leaks = Object.entries(secrets).flatMap(([what, secret]) => lines.filter((l) => l.includes(secret)).map((l) => `${what} in: ${l.slice(0, 300)}`));
  expect(leaks).toEqual([]);
  // The Web API client logs its request headers at debug: the Authorization header is there, redacted.
  expect(text).toMatch(/"Authorization\\?":\\?"\[\[REDACTED\]\]/);
  // Authorization headers, if logged at all, are redacted.
  expect(lines.filter((l) => /Bearer\s+[A-Za-z0-9-]{8,}/.test(l))).toEqual([]);

  console.log(
    `Secrets: ${lines.length} log lines at trace (forged request 401, Kubernetes 503, Slack 429, invalid_auth, full rollout) -> ` +
      `0 occurrences of the bot token, the signing secret or the kubeconfig bearer token`,
  );
});

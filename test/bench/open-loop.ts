import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";
import { signSlackRequest } from "../../sandbox/peers/slack/index.ts";
import { sleep } from "../support/wait.ts";

/**
 * Signed Slack requests sent on a fixed schedule (open loop): request i goes at start + i / rate whatever
 * became of the earlier ones, and its latency runs from that scheduled moment to the end of the bot's answer.
 * A bot that stalls therefore cannot hide it by slowing the sender down (coordinated omission).
 */

export type OpenLoopResult = {
  /** Scheduled send -> answer complete, ms, one per request answered 200. */
  latencyMs: number[];
  /** The same by request, in the order of `bodies` (undefined: not answered 200). */
  latencyByRequest: (number | undefined)[];
  /** Requests answered with anything else than 200, or not at all within the timeout. */
  failed: number;
  /** How late the sender itself sent each request (its timers and event loop), ms. */
  sendLagMs: number[];
  durationMs: number;
  /** When each request was due to be sent (ms since the epoch), in the order of `bodies`. */
  scheduledAt: number[];
};

/** One signed POST to the bot, timestamped as Slack does (seconds); resolves to the HTTP status (0: no answer). */
export function sendSigned(agent: Agent, url: string, signingSecret: string, rawBody: string, timeoutMs = 10_000): Promise<number> {
  const timestamp = Math.floor(Date.now() / 1000);
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: "POST",
        agent,
        timeout: timeoutMs,
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "content-length": Buffer.byteLength(rawBody),
          "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
          "x-slack-request-timestamp": String(timestamp),
          "x-slack-signature": signSlackRequest(signingSecret, timestamp, rawBody),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", () => resolve(0));
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", (err) => {
      // Not a 200: say why on stderr, since the row only counts them (0: the connection failed or timed out).
      process.stderr.write(`  open loop: a request failed: ${(err as NodeJS.ErrnoException).code ?? err.message}\n`);
      resolve(0);
    });
    req.end(rawBody);
  });
}

/** Send `bodies` at `ratePerSecond`, open loop, and wait for every answer. */
export async function openLoop(opts: { url: string; signingSecret: string; bodies: readonly string[]; ratePerSecond: number }): Promise<OpenLoopResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const gapMs = 1000 / opts.ratePerSecond;
  const latencyMs: number[] = [];
  const latencyByRequest: (number | undefined)[] = opts.bodies.map(() => undefined);
  let failed = 0;
  const sendLagMs: number[] = [];
  const inFlight: Promise<void>[] = [];
  const t0 = performance.now() + 20;
  for (let i = 0; i < opts.bodies.length; i++) {
    const due = t0 + i * gapMs;
    const wait = due - performance.now();
    // Timers fire up to a millisecond or so late; that lag is charged to the bot (conservative) and reported.
    if (wait > 0) await sleep(wait);
    sendLagMs.push(performance.now() - due);
    inFlight.push(
      sendSigned(agent, opts.url, opts.signingSecret, opts.bodies[i]!).then((status) => {
        if (status === 200) latencyMs.push((latencyByRequest[i] = performance.now() - due));
        else {
          failed++;
          if (status !== 0) process.stderr.write(`  open loop: request ${i} answered HTTP ${status}\n`);
        }
      }),
    );
  }
  await Promise.all(inFlight);
  agent.destroy();
  const scheduledAt = opts.bodies.map((_, i) => performance.timeOrigin + t0 + i * gapMs);
  return { latencyMs, latencyByRequest, failed, sendLagMs, durationMs: performance.now() - t0, scheduledAt };
}

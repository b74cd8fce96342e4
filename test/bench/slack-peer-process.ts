/**
 * The Slack peer in a process of its own, for the benchmarks: Slack is another machine in production, so
 * its CPU (rendering, validating and storing thousands of messages) must not be charged to the bot's event
 * loop, nor to the bench's load generator. An instant Prometheus (instant-prometheus.ts), another machine
 * too, shares the process. Prints `{"apiUrl": ..., "controlUrl": ..., "prometheusUrl": ...}` on one line once
 * listening; exits when stdin closes.
 *
 *   node --import tsx test/bench/slack-peer-process.ts <botToken> <channelId>...
 *
 * The control server (loopback, bench only) hands out requests shaped by the peer's own SlackDriver, each
 * with a response_url the peer knows, so the bench can sign and send them on its own schedule:
 *   POST /slash {requests: [{userId, channelId, text}]}  -> {bodies: string[]}
 *   POST /click {userId, channelId, rolloutId, label}    -> {body} (404 while the message lacks that button)
 *   GET  /calls?since=<ms>&until=<ms>                    -> {byMethod: {method: n}, status429: n, promQueries: n}
 *   GET  /shown?percent=<n>                              -> {at: {rolloutId: ms}}: when each rollout's channel
 *                                                           message first showed it running at that weight
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { startSlackPeer, SlackDriver, type DriverResponse, type SigningOptions } from "../../sandbox/peers/slack/index.ts";
import { readBody } from "../../sandbox/peers/read-body.ts";
import { startInstantPrometheus } from "./instant-prometheus.ts";

const [botToken, ...channels] = process.argv.slice(2);
if (!botToken || channels.length === 0) {
  process.stderr.write("usage: slack-peer-process.ts <botToken> <channelId>...\n");
  process.exit(2);
}
const peer = await startSlackPeer({ botToken, channels: channels.map((id) => ({ id })) });
const prometheus = await startInstantPrometheus();

/** The driver's requests, captured instead of sent: the bench signs and times them itself. */
class CapturingDriver extends SlackDriver {
  override post(rawBody: string, responseUrl: string, _opts?: SigningOptions): Promise<DriverResponse> {
    return Promise.resolve({ status: 0, headers: new Headers(), text: "", body: undefined, responseUrl, rawBody });
  }
}
const driver = new CapturingDriver({ botUrl: "http://unused.invalid/", signingSecret: "unused", peer });

type SlashAsk = { requests: { userId: string; channelId: string; text: string }[] };
type ClickAsk = { userId: string; channelId: string; rolloutId: string; label: string };

const control = createServer((req, res) => {
  void (async () => {
    const url = new URL(req.url ?? "/", "http://control");
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "POST" && url.pathname === "/slash") {
      const ask = JSON.parse(await readBody(req)) as SlashAsk;
      const bodies: string[] = [];
      for (const r of ask.requests) bodies.push((await driver.slash(r)).rawBody);
      return answer(200, { bodies });
    }
    if (req.method === "POST" && url.pathname === "/click") {
      const ask = JSON.parse(await readBody(req)) as ClickAsk;
      const parent = peer.messages(ask.channelId).find((m) => JSON.stringify(m.blocks ?? []).includes(`Rollout ${ask.rolloutId}:`));
      const button = parent && peer.buttons(ask.channelId, parent.ts).find((b) => b.text === ask.label);
      if (!parent || !button) return answer(404, { error: `no "${ask.label}" button on ${ask.rolloutId}'s message yet` });
      const sent = await driver.click({ userId: ask.userId, channelId: ask.channelId, messageTs: parent.ts, button });
      return answer(200, { body: sent.rawBody });
    }
    if (req.method === "GET" && url.pathname === "/calls") {
      const since = Number(url.searchParams.get("since") ?? 0);
      const until = Number(url.searchParams.get("until") ?? Number.MAX_SAFE_INTEGER);
      const byMethod: Record<string, number> = {};
      let status429 = 0;
      for (const c of peer.calls) {
        if (c.at < since || c.at >= until) continue;
        byMethod[c.method] = (byMethod[c.method] ?? 0) + 1;
        if (c.status === 429) status429++;
      }
      return answer(200, { byMethod, status429, promQueries: prometheus.queries() });
    }
    if (req.method === "GET" && url.pathname === "/shown") {
      // What a person in the channel sees: the parent message (posted or updated), not the thread.
      const shows = new RegExp(`^Rollout (\\S+) \\([^)]*\\): active, ${Number(url.searchParams.get("percent"))}% on `);
      const at: Record<string, number> = {};
      for (const c of peer.calls) {
        if (!c.ok || (c.method !== "chat.postMessage" && c.method !== "chat.update") || c.args.thread_ts !== undefined) continue;
        const id = shows.exec(String(c.args.text ?? ""))?.[1];
        if (id !== undefined && at[id] === undefined) at[id] = c.at;
      }
      return answer(200, { at });
    }
    answer(404, { error: "not found" });
  })().catch((err: unknown) => {
    if (!res.headersSent) res.writeHead(500);
    res.end(String(err));
  });
});
await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", resolve));
const controlUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;

process.stdout.write(`${JSON.stringify({ apiUrl: peer.apiUrl, controlUrl, prometheusUrl: prometheus.url })}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  control.close();
  void prometheus.close();
  void peer.close().finally(() => process.exit(0));
});

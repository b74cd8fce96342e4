/**
 * The Slack peer in a process of its own, for the scheduling benchmark: Slack is another machine in
 * production, so its CPU (rendering, validating and storing thousands of messages) must not be charged to
 * the bot's event loop. Prints `{"apiUrl": ...}` on one line once listening; exits when stdin closes.
 *
 *   node --import tsx test/bench/slack-peer-process.ts <botToken> <channelId>...
 */
import { startSlackPeer } from "../../src/sandbox/peers/slack/index.ts";

const [botToken, ...channels] = process.argv.slice(2);
if (!botToken || channels.length === 0) {
  process.stderr.write("usage: slack-peer-process.ts <botToken> <channelId>...\n");
  process.exit(2);
}
const peer = await startSlackPeer({ botToken, channels: channels.map((id) => ({ id })) });
process.stdout.write(`${JSON.stringify({ apiUrl: peer.apiUrl })}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  void peer.close().finally(() => process.exit(0));
});

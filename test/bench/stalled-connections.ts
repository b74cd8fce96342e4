import { spawn } from "node:child_process";
import { pino } from "pino";
import { StrictHttpReceiver } from "../../src/slack/receiver.ts";

/**
 * Issue 20, item 6, measured: the memory 40 stalled connections hold in the bot's Slack receiver. Each sends
 * plausible headers (a fresh timestamp, a signature of Slack's form) and all of a `SIZE` body but its last
 * byte, then stalls. The clients run in a child process, so only the receiver's side is counted here.
 *
 *   node --expose-gc --import tsx test/bench/stalled-connections.ts [kB per body, default 900]
 */

const SIZE = Number(process.argv[2] ?? 900) * 1024;
const CONNECTIONS = 40;

const CLIENT = `
const { connect } = require("node:net");
const [port, size, n] = process.argv.slice(1).map(Number);
const body = Buffer.alloc(size - 1, 120);
const head = ["POST /slack/events HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/x-www-form-urlencoded",
  "X-Slack-Request-Timestamp: " + Math.floor(Date.now() / 1000), "X-Slack-Signature: v0=" + "ab".repeat(32),
  "Content-Length: " + size, "", ""].join("\\r\\n");
let refused = 0;
for (let i = 0; i < n; i++) {
  const s = connect(port, "127.0.0.1");
  s.on("data", (d) => { if (String(d).startsWith("HTTP/1.1 503")) refused++; });
  s.on("error", () => {});
  s.write(head);
  s.write(body);
}
setTimeout(() => { process.stdout.write(String(refused)); }, 2500);
setTimeout(() => process.exit(0), 4000);
`;

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const used = () => {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers + m.external;
};

const receiver = new StrictHttpReceiver({ signingSecret: "secret", port: 0, host: "127.0.0.1", log: pino({ level: "silent" }) });
await receiver.start();
const before = used();
const child = spawn(process.execPath, ["-e", CLIENT, String(receiver.port), String(SIZE), String(CONNECTIONS)], { stdio: ["ignore", "pipe", "inherit"] });
let out = "";
child.stdout.on("data", (d: Buffer) => (out += d.toString()));
await new Promise((r) => setTimeout(r, 3_000));
const during = used();
await new Promise((r) => child.on("exit", r));
const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
console.log(
  `${CONNECTIONS} stalled connections of ${SIZE / 1024} kB: the receiver holds ${mib(during - before)} MiB ` +
    `(${out || "?"} answered 503 at once; ${mib(receiver.bodyBytesInFlight ?? 0)} MiB of bodies being read)`,
);
await receiver.stop();
process.exit(0);

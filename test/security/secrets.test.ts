import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnvSchema, parseEnv, parseTargetsFile } from "../../src/config.ts";
import { redactUrl, redactUrlsIn } from "../../src/engine/urls.ts";
import { createLogger } from "../../src/logger.ts";
import { freePort } from "../../sandbox/peers/net.ts";
import { CHANNEL, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";

/**
 * Issue 20, item 4: credentials never travel in URLs, and no error text names a URL's userinfo or query
 * string. A URL with `user:password@` is refused when the configuration is read (saying how to pass the
 * credentials instead); Prometheus gets its bearer token from a file or the environment; and a run whose
 * Prometheus refuses the token, then takes the rotated one, and whose other Prometheus URL carries a key in
 * its query string, leaves no configured secret in any Slack call or log line.
 */

const ENV = { SLACK_SIGNING_SECRET: "s", SLACK_BOT_TOKEN: "xoxb-1" };

describe("configuration: a URL with credentials is refused, saying how to pass them", () => {
  it("PROMETHEUS_URL and SLACK_API_URL with user:password@", () => {
    const r = parseEnv({ ...ENV, PROMETHEUS_URL: "http://admin:hunter2@prometheus:9090", SLACK_API_URL: "https://u:p@slack.example/api/" });
    expect(r.ok).toBe(false);
    const lines = r.ok ? [] : r.error;
    expect(lines).toEqual([
      expect.stringMatching(/^SLACK_API_URL must not carry a user name or password \(user:password@\): the bot authenticates with SLACK_BOT_TOKEN$/),
      expect.stringMatching(/^PROMETHEUS_URL must not carry a user name or password .*PROMETHEUS_BEARER_TOKEN_FILE .* or PROMETHEUS_BEARER_TOKEN$/),
    ]);
    expect(lines.join("\n")).not.toContain("hunter2");
  });

  it("the bearer token one way only", () => {
    const r = parseEnv({ ...ENV, PROMETHEUS_BEARER_TOKEN: "t", PROMETHEUS_BEARER_TOKEN_FILE: "/f" });
    expect(r.ok ? [] : r.error).toEqual(["PROMETHEUS_BEARER_TOKEN and PROMETHEUS_BEARER_TOKEN_FILE are both set: give the token one way"]);
  });

  it("targets file: namerd, Linkerd admin, Prometheus and the shown test URLs", () => {
    const yaml = `targets:
  - name: world
    router: namerd
    stable: world-v1
    namerd: { url: "http://ops:pw1@namerd:4180", dtabNamespace: internal, prefix: /host/world, ingressUrl: "http://a:pw2@l5d/" }
    metrics: { source: linkerd1, linkerd1AdminUrl: "http://ops:pw3@l5d:9990" }
  - name: shop
    namespace: shop
    stable: shop-v1
    metrics: { source: prometheus, prometheusUrl: "https://bot:pw4@prom.example", preset: linkerd2 }
`;
    const r = parseTargetsFile(yaml, "targets.yaml");
    const lines = r.ok ? [] : r.error;
    expect(lines.filter((l) => l.includes("must not carry a user name or password"))).toHaveLength(4);
    expect(lines.find((l) => l.includes("prometheusUrl"))).toContain("prometheusBearerTokenFile");
    expect(lines.find((l) => l.includes("namerd.url"))).toContain("takes no credentials");
    expect(lines.find((l) => l.includes("linkerd1AdminUrl"))).toContain("takes no credentials");
    expect(lines.join("\n")).not.toMatch(/pw\d/);
  });
});

describe("the one redaction helper", () => {
  it("cuts userinfo, query strings and fragments from a URL and from every URL in a text", () => {
    expect(redactUrl("https://u:p@host:1/a/b?token=x#y")).toBe("https://host:1/a/b");
    expect(redactUrl("http://127.0.0.1:9090")).toBe("http://127.0.0.1:9090");
    expect(redactUrlsIn("namerd is unreachable (GET http://ops:s3cr%40t@namerd:4180/api/1/dtabs/x?k=v): ECONNREFUSED")).toBe(
      "namerd is unreachable (GET http://namerd:4180/api/1/dtabs/x): ECONNREFUSED",
    );
    expect(redactUrlsIn("a 'https://x.y/p?sig=abc' and <redis://:pw@r:6379/0>")).toBe("a 'https://x.y/p' and <redis://r:6379/0>");
  });
});

describe("a run: no configured secret in any Slack call or log line", () => {
  const TOKEN = `prom-token-${Math.random().toString(36).slice(2, 12)}`;
  const QUERY_KEY = `qkey${Math.random().toString(36).slice(2, 12)}`;
  const lines: string[] = [];
  const capture = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      done();
    },
  });
  const dir = mkdtempSync(join(tmpdir(), "rollout-secrets-"));
  const tokenFile = join(dir, "token");
  const seen: string[] = [];
  let prom: Server;
  let promUrl = "";
  let h: Harness;
  let closed = 0;

  beforeAll(async () => {
    // A Prometheus that takes only `Authorization: Bearer <TOKEN>` (Prometheus itself does this behind a proxy).
    prom = createServer((req, res) => {
      seen.push(req.headers.authorization ?? "");
      req.resume();
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(401, { status: "error", errorType: "unauthorized", error: "bad bearer token" });
      json(200, { status: "success", data: { resultType: "vector", result: [{ metric: {}, value: [Date.now() / 1000, "120"] }] } });
    });
    await new Promise<void>((r) => prom.listen(0, "127.0.0.1", r));
    promUrl = `http://127.0.0.1:${(prom.address() as AddressInfo).port}`;
    closed = await freePort();
    writeFileSync(tokenFile, "an-old-token\n");
    const target = (name: string, metrics: string) => `
  - name: ${name}
    namespace: ${name}
    stable: web-v1
    steps: [10, 50, 100]
    smi: { trafficSplit: ${name}, apexService: web }
    metrics: ${metrics}`;
    h = await startHarness({
      log: createLogger("trace", capture),
      extraEnv: { PROMETHEUS_URL: promUrl, PROMETHEUS_BEARER_TOKEN_FILE: tokenFile },
      targetsYaml: `targets:${target("shop", "{ source: prometheus, preset: linkerd2, refreshSeconds: 5, scrapeIntervalSeconds: 1 }")}${target(
        "leaky",
        `{ source: prometheus, prometheusUrl: "http://127.0.0.1:${closed}/?api_key=${QUERY_KEY}", preset: linkerd2, refreshSeconds: 5, scrapeIntervalSeconds: 1 }`,
      )}\n`,
    });
  });
  afterAll(async () => {
    await h?.close();
    await new Promise<void>((r) => prom.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("the token is read from its file before each query (a rotated token is taken), and errors name URLs without their query", async () => {
    await h.driver.slash({ userId: "UALICE", channelId: CHANNEL, text: "start shop --to web-v2" });
    await h.driver.slash({ userId: "UALICE", channelId: CHANNEL, text: "start leaky --to web-v2" });
    // The old token is refused: the message says so, naming Prometheus by its URL.
    await waitForMessage(h, "shop#1", `Prometheus at ${promUrl} answered unauthorized`, 15_000);
    // The query-string key is cut from the error text shown in the channel.
    await waitForMessage(h, "leaky#1", `Prometheus at http://127.0.0.1:${closed}/ did not answer`, 15_000);
    // The Secret is rotated in place: the next reading takes it.
    writeFileSync(tokenFile, `${TOKEN}\n`);
    await waitForMessage(h, "shop#1", (t) => !t.includes("answered unauthorized"), 15_000);
    expect(seen).toContain("Bearer an-old-token");
    expect(seen).toContain(`Bearer ${TOKEN}`);
    await h.stopBot();

    const secrets: Record<string, string> = {
      "bot token": h.botToken,
      "signing secret": h.signingSecret,
      "Prometheus bearer token": TOKEN,
      "the key in a Prometheus URL's query string": QUERY_KEY,
    };
    const slack = [
      ...h.slack.calls.map((c) => `${c.method} ${JSON.stringify(c.args)}`),
      ...h.slack.ephemeralsFor("UALICE").map((e) => JSON.stringify(e)),
      ...h.slack.messages(CHANNEL, { includeReplies: true }).map((m) => JSON.stringify(m)),
    ];
    // The searches below search something: the channel and the log hold the errors.
    expect(slack.join("\n")).toContain("answered unauthorized");
    expect(lines.join("\n")).toContain("did not answer");
    expect(lines.length).toBeGreaterThan(50);
    const leaks = Object.entries(secrets).flatMap(([what, secret]) => [
      ...slack.filter((l) => l.includes(secret)).map((l) => `${what} in a Slack call: ${l.slice(0, 200)}`),
      ...lines.filter((l) => l.includes(secret)).map((l) => `${what} in a log line: ${l.slice(0, 200)}`),
    ]);
    expect(leaks).toEqual([]);
    console.log(
      `Secrets: ${slack.length} Slack calls and messages, ${lines.length} log lines at trace -> 0 occurrences of the bot token, signing secret, ` +
        `Prometheus bearer token or a URL's query key`,
    );
  });

  it("the token from the environment is redacted from logged configuration", () => {
    const env = EnvSchema.parse({ ...ENV, PROMETHEUS_BEARER_TOKEN: TOKEN });
    const out: string[] = [];
    const log = createLogger(
      "info",
      new Writable({
        write(chunk: Buffer, _e, done) {
          out.push(chunk.toString());
          done();
        },
      }),
    );
    log.info({ config: env, PROMETHEUS_BEARER_TOKEN: TOKEN }, "configuration");
    expect(out.join("")).not.toContain(TOKEN);
  });
});

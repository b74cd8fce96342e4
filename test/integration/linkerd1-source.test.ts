import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MetricsSettingsSchema } from "../../src/engine/metrics-settings.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { verdict } from "../../src/engine/verdict.ts";
import { describeVerdict } from "../../src/slack/views/verdict-text.ts";
import { createSuccessRateSource } from "../../src/metrics/factory.ts";
import { Linkerd1AdminSource, readCounters } from "../../src/metrics/linkerd1.ts";
import { MetricsError } from "../../src/metrics/source.ts";
import { startLinkerd1Admin, type Linkerd1Admin } from "../../src/sandbox/peers/linkerd1-admin.ts";
import { freePort } from "../../src/sandbox/peers/net.ts";
import { cleanupPrefix, randomPrefix, testRedis } from "../support/redis.ts";
import { sleep } from "../support/wait.ts";

const target = TargetSchema.parse({
  name: "world",
  namespace: "default",
  router: "namerd",
  namerd: { url: "http://namerd.linkerd:4180", dtabNamespace: "internal", prefix: "/host/world" },
  metrics: { source: "linkerd1", linkerd1AdminUrl: "http://l5d.linkerd:9990", linkerd1Router: "outgoing" },
});
const pair = { stable: "world-v1", canary: "world-v2" };
const idV1 = "#/io.l5d.k8s/default/http/world-v1";
const idV2 = "#/io.l5d.k8s/default/http/world-v2";

let admin: Linkerd1Admin;
let redis: Redis;
let redis2: Redis;
let prefix: string;

beforeAll(async () => {
  admin = await startLinkerd1Admin();
  redis = testRedis();
  redis2 = testRedis();
});
afterAll(async () => {
  await admin.stop();
  redis.disconnect();
  redis2.disconnect();
});
beforeEach(() => {
  prefix = randomPrefix("l5d1");
  admin.failWith(undefined);
  admin.setClient("outgoing", idV1, { success: 0 });
  admin.setClient("outgoing", idV2, { success: 0 });
});
afterEach(async () => {
  await cleanupPrefix(redis, prefix);
});

const makeSource = (r: Redis = redis) =>
  new Linkerd1AdminSource({ adminUrl: admin.url, router: "outgoing", clientId: "#/io.l5d.k8s/{namespace}/http/{version}", redis: r, keyPrefix: prefix });

describe("Linkerd1AdminSource", () => {
  it("first poll has no baseline; the second gives the success rate of the requests in between", async () => {
    const src = makeSource();
    admin.setClient("outgoing", idV1, { success: 5_000, failures: 5 });
    admin.setClient("outgoing", idV2, { success: 100, failures: 0 });
    const first = await src.snapshot(target, pair, 60);
    expect(first.stable).toEqual({ noTraffic: true });
    expect(first.canary).toEqual({ noTraffic: true });
    expect(first.windowSeconds).toBe(0);

    admin.setClient("outgoing", idV1, { success: 5_000 + 9_990, failures: 5 + 10 });
    admin.setClient("outgoing", idV2, { success: 100 + 960, failures: 40 });
    const second = await src.snapshot(target, pair, 60);
    expect(second.stable).toEqual({ requests: 10_000, successes: 9_990 });
    expect(second.canary).toEqual({ requests: 1_000, successes: 960 });
    expect(second.windowSeconds).toBeLessThan(60); // the span really covered, not the one asked for

    const v = verdict(second, { minSuccessRate: 0.95, minRequests: 50, confidence: 0.99, maxErrorRatio: 1.5, maxErrorIncrease: 0.002 });
    expect(describeVerdict(v)).toBe("canary 96.0% vs stable 99.9%, worse: canary errors 40× stable's (99% interval above 10×) over 1,000 canary requests");
  });

  it("keeps its readings in Redis: another instance on another connection continues the series", async () => {
    admin.setClient("outgoing", idV1, { success: 1_000, failures: 1 });
    admin.setClient("outgoing", idV2, { success: 200, failures: 2 });
    await makeSource(redis).snapshot(target, pair, 60);

    admin.setClient("outgoing", idV1, { success: 1_500, failures: 1 });
    admin.setClient("outgoing", idV2, { success: 290, failures: 12 });
    const other = await makeSource(redis2).snapshot(target, pair, 60);
    expect(other.stable).toEqual({ requests: 500, successes: 500 });
    expect(other.canary).toEqual({ requests: 100, successes: 90 });
    expect(await redis.keys(`${prefix}:*`)).toHaveLength(2); // one series per (target, version)
  });

  it("a counter going backwards (linkerd restarted) starts a fresh baseline", async () => {
    const src = makeSource();
    admin.setClient("outgoing", idV1, { success: 10_000, failures: 10 });
    admin.setClient("outgoing", idV2, { success: 1_000, failures: 10 });
    await src.snapshot(target, pair, 60);

    admin.setClient("outgoing", idV1, { success: 300, failures: 0 });
    admin.setClient("outgoing", idV2, { success: 50, failures: 1 });
    const afterRestart = await src.snapshot(target, pair, 60);
    expect(afterRestart.stable).toEqual({ noTraffic: true });
    expect(afterRestart.canary).toEqual({ noTraffic: true });

    admin.setClient("outgoing", idV1, { success: 400, failures: 0 });
    admin.setClient("outgoing", idV2, { success: 70, failures: 6 });
    const next = await src.snapshot(target, pair, 60);
    expect(next.stable).toEqual({ requests: 100, successes: 100 });
    expect(next.canary).toEqual({ requests: 25, successes: 20 });
  });

  it("measures over the window, not just since the last poll", async () => {
    const src = makeSource();
    admin.setClient("outgoing", idV2, { success: 0 });
    await src.snapshot(target, pair, 1);
    await sleep(1_100);
    admin.setClient("outgoing", idV2, { success: 100 });
    const a = await src.snapshot(target, pair, 1);
    expect(a.canary).toEqual({ requests: 100, successes: 100 });
    // A quick second poll still looks back a whole window, to the first reading.
    admin.setClient("outgoing", idV2, { success: 150, failures: 50 });
    const b = await src.snapshot(target, pair, 1);
    expect(b.canary).toEqual({ requests: 200, successes: 150 });
    expect(b.windowSeconds).toBeGreaterThanOrEqual(1);
  });

  it("no requests in between, or a client that does not exist: noTraffic", async () => {
    const src = makeSource();
    admin.setClient("outgoing", idV2, { success: 7 });
    await src.snapshot(target, pair, 60);
    const idle = await src.snapshot(target, pair, 60);
    expect(idle.canary).toEqual({ noTraffic: true });
    const missing = await src.snapshot(target, { stable: "world-v1", canary: "world-v9" }, 60);
    expect(missing.canary).toEqual({ noTraffic: true });
  });

  it("admin port down or failing: MetricsError with a readable reason", async () => {
    admin.failWith(503);
    await expect(makeSource().snapshot(target, pair, 60)).rejects.toThrow(new RegExp(`^Linkerd admin at ${admin.url} answered HTTP 503`));
    const closed = await freePort();
    const gone = new Linkerd1AdminSource({
      adminUrl: `http://127.0.0.1:${closed}`,
      router: "outgoing",
      clientId: "#/io.l5d.k8s/{namespace}/http/{version}",
      redis,
      keyPrefix: prefix,
    });
    const err = await gone.snapshot(target, pair, 60).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsError);
    expect((err as Error).message).toBe(`Linkerd admin at http://127.0.0.1:${closed} did not answer (connect ECONNREFUSED 127.0.0.1:${closed})`);
  });

  it("the factory builds it from the target's settings", async () => {
    const settings = MetricsSettingsSchema.parse({ source: "linkerd1", linkerd1AdminUrl: admin.url, linkerd1Router: "outgoing" });
    const src = createSuccessRateSource(settings, { redis, keyPrefix: prefix });
    expect(src?.kind).toBe("linkerd1");
    admin.setClient("outgoing", idV2, { success: 10, failures: 0 });
    await src!.snapshot(target, pair, 60);
    admin.setClient("outgoing", idV2, { success: 19, failures: 1 });
    expect((await src!.snapshot(target, pair, 60)).canary).toEqual({ requests: 10, successes: 9 });
  });
});

describe("readCounters", () => {
  it("reads the exact client, and ignores per-exception and per-service children", () => {
    const m = {
      [`rt/outgoing/client/${idV2}/success`]: 90,
      [`rt/outgoing/client/${idV2}/failures`]: 10,
      [`rt/outgoing/client/${idV2}/failures/com.twitter.finagle.ChannelClosedException`]: 10,
      [`rt/outgoing/client/${idV2}/service/svc/world/success`]: 900,
      [`rt/incoming/client/${idV2}/success`]: 5,
    };
    expect(readCounters(m, "outgoing", idV2)).toEqual({ success: 90, failures: 10 });
    expect(readCounters(m, "outgoing", idV1)).toBeUndefined();
  });

  it("sums clients whose id a transformer prefixed", () => {
    const m = {
      [`rt/incoming/client/%/io.l5d.k8s.localnode/10.0.0.1/${idV2}/success`]: 40,
      [`rt/incoming/client/%/io.l5d.k8s.localnode/10.0.0.2/${idV2}/success`]: 60,
      [`rt/incoming/client/%/io.l5d.k8s.localnode/10.0.0.2/${idV2}/failures`]: 3,
      [`rt/incoming/client/%/io.l5d.k8s.localnode/10.0.0.2/${idV1}/success`]: 1000,
    };
    expect(readCounters(m, "incoming", idV2)).toEqual({ success: 100, failures: 3 });
  });
});

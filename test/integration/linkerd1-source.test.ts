import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { foldCounters, type Evidence } from "../../src/engine/evidence.ts";
import { MetricsSettingsSchema } from "../../src/engine/metrics-settings.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { judge } from "../../src/engine/verdict.ts";
import { describeVerdict } from "../../src/slack/views/verdict-text.ts";
import { createSuccessRateSource } from "../../src/metrics/factory.ts";
import { Linkerd1AdminSource, readCounters } from "../../src/metrics/linkerd1.ts";
import { MetricsError, type SuccessRateSource } from "../../src/metrics/source.ts";
import { startLinkerd1Admin, type Linkerd1Admin } from "../../sandbox/peers/linkerd1-admin.ts";
import { freePort } from "../../sandbox/peers/net.ts";
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

beforeAll(async () => {
  admin = await startLinkerd1Admin();
});
afterAll(async () => {
  await admin.stop();
});
beforeEach(() => {
  admin.failWith(undefined);
  admin.setClient("outgoing", idV1, { success: 0 });
  admin.setClient("outgoing", idV2, { success: 0 });
});

const makeSource = () => new Linkerd1AdminSource({ adminUrl: admin.url, router: "outgoing", clientId: "#/io.l5d.k8s/{namespace}/http/{version}" });
const opts = { changes: [], staleAfterMs: 3_000 };
/** Read the admin now and fold it into the evidence, as the bot's snapshot job does. */
// Strictly later each time: two reads in one millisecond are one reading (the later waits for the next fold),
// which a fast machine can do here and production's seconds apart never do.
let lastAt = 0;
const later = () => (lastAt = Math.max(Date.now(), lastAt + 1));
// The source stamps a reading with the later of the instant asked and its own clock after the answer came,
// so the next instant asked must also be later than that stamp.
const readInto = async (e: Evidence | undefined, src: SuccessRateSource = makeSource()) => {
  const reading = await src.counters(target, pair, later());
  lastAt = Math.max(lastAt, reading.at);
  return foldCounters(e, reading, opts);
};
const settings = { minSuccessRate: 0.95, minRequests: 50, confidence: 0.99, maxErrorRatio: 2, maxErrorIncrease: 0.01 };

describe("Linkerd1AdminSource", () => {
  it("hands over the live counters; the evidence folds the exact difference against the last ones it kept", async () => {
    admin.setClient("outgoing", idV1, { success: 5_000, failures: 5 });
    admin.setClient("outgoing", idV2, { success: 100, failures: 0 });
    const first = await readInto(undefined);
    expect(first).toMatchObject({ intervals: 0, stable: { requests: 0 }, canary: { requests: 0 } });

    admin.setClient("outgoing", idV1, { success: 5_000 + 9_990, failures: 5 + 10 });
    admin.setClient("outgoing", idV2, { success: 100 + 960, failures: 40 });
    const second = await readInto(first);
    expect(second).toMatchObject({ intervals: 1, stable: { requests: 10_000, errors: 10 }, canary: { requests: 1_000, errors: 40 } });
    expect(describeVerdict(judge(second, settings))).toMatch(
      /^canary 96\.0% vs stable 99\.9%, worse: canary errors 40× stable's \(99% interval above \d+×\) over 1,000 canary requests since \d\d:\d\d UTC$/,
    );
  });

  it("the baseline lives in the evidence, not the source: a second instance continues where the first left off", async () => {
    admin.setClient("outgoing", idV1, { success: 1_000, failures: 1 });
    admin.setClient("outgoing", idV2, { success: 200, failures: 2 });
    const a = await readInto(undefined, makeSource());
    admin.setClient("outgoing", idV1, { success: 1_500, failures: 1 });
    admin.setClient("outgoing", idV2, { success: 290, failures: 12 });
    const b = await readInto(a, makeSource());
    expect(b).toMatchObject({ stable: { requests: 500, errors: 0 }, canary: { requests: 100, errors: 10 } });
  });

  it("a counter going backwards (linkerd restarted) drops that difference; the next one counts again", async () => {
    admin.setClient("outgoing", idV1, { success: 10_000, failures: 10 });
    admin.setClient("outgoing", idV2, { success: 1_000, failures: 10 });
    let e = await readInto(undefined);
    admin.setClient("outgoing", idV1, { success: 300, failures: 0 });
    admin.setClient("outgoing", idV2, { success: 50, failures: 1 });
    e = await readInto(e);
    expect(e).toMatchObject({ discarded: 2, stable: { requests: 0 }, canary: { requests: 0 } });
    admin.setClient("outgoing", idV1, { success: 400, failures: 0 });
    admin.setClient("outgoing", idV2, { success: 70, failures: 6 });
    e = await readInto(e);
    expect(e).toMatchObject({ stable: { requests: 100, errors: 0 }, canary: { requests: 25, errors: 5 } });
  });

  it("however quick the polls, each counts exactly what happened since the one before (never a window twice)", async () => {
    let e = await readInto(undefined);
    for (const [success, failures] of [
      [100, 0],
      [150, 50],
      [151, 50],
    ] as const) {
      admin.setClient("outgoing", idV2, { success, failures });
      e = await readInto(e);
    }
    expect(e.canary).toEqual({ requests: 201, errors: 50 });
  });

  it("a client that does not exist has no series", async () => {
    const missing = await makeSource().counters(target, { stable: "world-v1", canary: "world-v9" }, Date.now());
    expect(missing.canary).toEqual({});
    expect(Object.keys(missing.stable)).toEqual([idV1]);
  });

  it("admin port down or failing: MetricsError with a readable reason", async () => {
    admin.failWith(503);
    await expect(makeSource().counters(target, pair, Date.now())).rejects.toThrow(new RegExp(`^Linkerd admin at ${admin.url} answered HTTP 503`));
    const closed = await freePort();
    const gone = new Linkerd1AdminSource({ adminUrl: `http://127.0.0.1:${closed}`, router: "outgoing", clientId: "#/io.l5d.k8s/{namespace}/http/{version}" });
    const err = await gone.counters(target, pair, Date.now()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsError);
    expect((err as Error).message).toBe(`Linkerd admin at http://127.0.0.1:${closed} did not answer (connect ECONNREFUSED 127.0.0.1:${closed})`);
  });

  it("the factory builds it from the target's settings", async () => {
    const s = MetricsSettingsSchema.parse({ source: "linkerd1", linkerd1AdminUrl: admin.url, linkerd1Router: "outgoing" });
    const src = createSuccessRateSource(s, {});
    expect(src?.kind).toBe("linkerd1");
    admin.setClient("outgoing", idV2, { success: 10, failures: 0 });
    const a = await readInto(undefined, src);
    admin.setClient("outgoing", idV2, { success: 19, failures: 1 });
    expect((await readInto(a, src)).canary).toEqual({ requests: 10, errors: 1 });
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

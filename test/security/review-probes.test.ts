import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveTarget } from "../../src/app/start.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { describeFailure, KubeApiError } from "../../src/kube/call.ts";
import { MORE } from "../../src/slack/views/promote.ts";
import { ACTION } from "../../src/slack/views/rollout-message.ts";
import { startRefusalReply } from "../../src/slack/views/refusal.ts";
import { CHANNEL, rolloutMessage, startHarness, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { seedTrafficSplit } from "../support/split.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 20, security review: probes that got through the first hardening. A person with ordinary rights,
 * over signed requests to the real bot and the local peers (or the pure fence where that is the whole story).
 */

describe("--to on a declared target", () => {
  const catalog = {
    adhoc: false,
    targets: new Map(
      [
        { name: "shop", namespace: "shop", stable: "shop-v1", smi: { trafficSplit: "shop-ts" } },
        { name: "cart", namespace: "shop", stable: "cart-v1", smi: { trafficSplit: "cart-ts" } },
        { name: "api", namespace: "other", stable: "api-v1", smi: { trafficSplit: "api-ts" } },
        { name: "web", namespace: "gw", stable: "v1", router: "gateway", gateway: { httpRoute: "web", service: "web-{version}" } },
        { name: "admin", namespace: "gw", stable: "v1", router: "gateway", gateway: { httpRoute: "admin", service: "admin-{version}" } },
        { name: "store", namespace: "gw", stable: "store-v1", router: "gateway", gateway: { httpRoute: "store" } },
      ].map((t) => [t.name, TargetSchema.parse(t)] as const),
    ),
  };

  it("may not name another declared target's stable in the same namespace (its traffic, and later its scale-down)", () => {
    const out = resolveTarget(catalog, { target: "shop", to: "cart-v1" });
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(startRefusalReply(out.error)).toBe(
      ":no_entry: `--to cart-v1` is not allowed for `shop`: `cart-v1` is the stable version of target `cart` in the same namespace, so shifting `shop`'s traffic to it would reach into `cart`. Name a version of `shop`. Nothing was changed.",
    );
  });

  it("may name any other version, and a name that is another namespace's stable", () => {
    expect(resolveTarget(catalog, { target: "shop", to: "shop-v2" }).ok).toBe(true);
    expect(resolveTarget(catalog, { target: "shop", to: "api-v1" }).ok).toBe(true);
    // The same version under another target's naming template is another Deployment (admin-v1, not web-v1).
    expect(resolveTarget(catalog, { target: "admin", to: "v1" }).ok).toBe(true);
  });

  it("compares Deployments under each target's naming template", () => {
    expect(resolveTarget(catalog, { target: "store", to: "web-v1" })).toMatchObject({ ok: false, error: { code: "to-other-target", owner: "web" } });
    expect(resolveTarget(catalog, { target: "web", to: "store-v1" }).ok).toBe(true); // web-store-v1
  });
});

describe("--from on a Gateway target that declares neither stable nor rule", () => {
  // The rule to shift is then "the one routing to --from": on an HTTPRoute shared with another app
  // (`/api` -> api-v1, `/` -> web-v1), --from api-v1 would shift the /api rule, and Finish scale api-v1 down.
  const web = TargetSchema.parse({ name: "web", namespace: "shop", router: "gateway", gateway: { httpRoute: "shop-route" }, cleanup: "scale-down" });

  it("is refused unless allowFrom lists it: --from would pick which rule of the route is shifted", () => {
    const out = resolveTarget({ adhoc: false, targets: new Map([["web", web]]) }, { target: "web", from: "api-v1", to: "web-v2" });
    expect(out).toMatchObject({ ok: false, error: { code: "from-not-allowed", from: "api-v1" } });
  });

  it("is checked on the mesh where the rule is named (the router refuses a --from that rule does not route to)", () => {
    const named = TargetSchema.parse({ ...web, gateway: { ...web.gateway, rule: "web" } });
    expect(resolveTarget({ adhoc: false, targets: new Map([["web", named]]) }, { target: "web", from: "web-v1", to: "web-v2" }).ok).toBe(true);
  });
});

describe("a click names a rollout of a private channel the person is not in", () => {
  const ALICE = "UALICE";
  const MALLORY = "UMALLORY"; // in the public channel only
  const SECRET = "C0SECRET";
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({
      targetsYaml: `
targets:
  - name: pub
    namespace: default
    stable: pub-v1
    smi: { trafficSplit: pub-ts }
    steps: [10, 100]
    metrics: { source: none, refreshSeconds: 3600 }
  - name: secret-svc
    namespace: default
    stable: secret-v1
    smi: { trafficSplit: secret-ts }
    steps: [10, 100]
    metrics: { source: none, refreshSeconds: 3600 }
`,
    });
    h.slack.addChannel({ id: SECRET, name: "incident-7", is_private: true, members: [ALICE] });
    for (const [name, stable, canary] of [
      ["pub-ts", "pub-v1", "pub-v2"],
      ["secret-ts", "secret-v1", "secret-v2"],
    ] as const)
      seedTrafficSplit(h.kube, { name, service: name.replace("-ts", "") }, [
        { service: stable, weight: 100 },
        { service: canary, weight: 0 },
      ]);
  });
  afterAll(async () => h?.close());

  it("the overflow menu opens no dialog about it and posts no chart to its thread for a non-member: answered as if it did not exist", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start pub --to pub-v2" });
    await h.driver.slash({ userId: ALICE, channelId: SECRET, text: "start secret-svc --to secret-v2" });
    await waitForStatus(h, "pub#1", "active");
    await waitForStatus(h, "secret-svc#1", "active");
    const m = await waitFor(() => rolloutMessage(h, "pub#1"), { what: "pub#1's message" });
    const opens = h.slack.callsOf("views.open").length;
    const uploads = h.slack.callsOf("files.completeUploadExternal").length;
    for (const value of ["promote:secret-svc#1|0", "chart:secret-svc#1|0"]) {
      const res = await h.driver.click({
        userId: MALLORY,
        channelId: CHANNEL,
        messageTs: m.ts,
        button: { action_id: MORE, block_id: "forged" },
        option: { text: "forged", value },
        stale: true,
      });
      expect(res.status).toBe(200);
      await waitFor(() => h.slack.responses(res.responseUrl)[0], { what: `the answer to ${value}` });
      expect(h.slack.responses(res.responseUrl)[0]?.text).toContain("There is no rollout `secret-svc#1`");
    }
    await sleep(300);
    expect(h.slack.callsOf("views.open").length).toBe(opens);
    expect(h.slack.callsOf("files.completeUploadExternal").length).toBe(uploads);
  });

  it("Refresh naming it tells a non-member nothing about it (not even that it ended) and asks no reading", async () => {
    await h.driver.slash({ userId: ALICE, channelId: SECRET, text: "abort secret-svc#1" });
    await waitForStatus(h, "secret-svc#1", "aborted");
    const m = await waitFor(() => rolloutMessage(h, "pub#1"), { what: "pub#1's message" });
    const res = await h.driver.click({
      userId: MALLORY,
      channelId: CHANNEL,
      messageTs: m.ts,
      button: { action_id: ACTION.refresh, block_id: "forged", value: "secret-svc#1|0" },
      stale: true,
    });
    expect(res.status).toBe(200);
    const told = await waitFor(() => h.slack.responses(res.responseUrl)[0]?.text, { what: "the answer" });
    expect(told).toBe(":x: There is no rollout `secret-svc#1`; nothing was changed.");
  });
});

describe("a Kubernetes API that cannot be reached", () => {
  it("is named without userinfo or query string in the failure the bot words (scale-down, start form, preflight)", () => {
    const thrown = new Error(
      "request to https://admin:hunter2@kube.example:6443/apis/apps/v1/namespaces/shop/deployments?token=s3cret failed, reason: ECONNREFUSED",
    );
    const failure = describeFailure(thrown, 5_000);
    expect(failure).toEqual({
      kind: "network",
      message: "request to https://kube.example:6443/apis/apps/v1/namespaces/shop/deployments failed, reason: ECONNREFUSED",
    });
    expect(new KubeApiError("PATCH Deployment shop/shop-v1 scale", failure).message).not.toMatch(/hunter2|s3cret/);
  });
});

describe("an ad-hoc target beside declared ones (adhoc: true)", () => {
  const catalog = {
    adhoc: true,
    targets: new Map(
      [
        { name: "shop", namespace: "shop", stable: "shop-v1", smi: { trafficSplit: "shop-ts" }, policy: { finish: ["UBOSS"] } },
        { name: "front", namespace: "shop", stable: "front-v1" },
        { name: "web", namespace: "gw", stable: "v1", router: "gateway", gateway: { httpRoute: "web-route" } },
      ].map((t) => [t.name, TargetSchema.parse(t)] as const),
    ),
  };

  it("may not drive a declared target's TrafficSplit or HTTPRoute under another name (its policy would not apply)", () => {
    const out = resolveTarget(catalog, { target: "sneaky", namespace: "shop", split: "shop-ts" });
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(startRefusalReply(out.error)).toBe(
      ":no_entry: ad-hoc target `sneaky` would drive the routing of declared target `shop` (the same TrafficSplit or HTTPRoute in namespace `shop`): start `shop` itself, under its own rules. Nothing was changed.",
    );
    expect(resolveTarget(catalog, { target: "web-route", namespace: "gw", router: "gateway" })).toMatchObject({ ok: false, error: { owner: "web" } });
  });

  it("may use objects no declared target uses", () => {
    expect(resolveTarget(catalog, { target: "other", namespace: "shop", split: "other-ts" }).ok).toBe(true);
    expect(resolveTarget(catalog, { target: "web-route", namespace: "elsewhere", router: "gateway" }).ok).toBe(true);
  });
});

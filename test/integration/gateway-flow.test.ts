import { afterEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import type { StoredMessage } from "../../sandbox/peers/slack/index.ts";
import {
  CHANNEL,
  clickButton,
  firstCheckDone,
  rolloutMessage,
  startHarness,
  waitForMessage,
  type Harness,
  type HarnessOptions,
} from "../support/bot-harness.ts";
import { HTTPROUTE_CRD, crdValidator } from "../support/crd-schema.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 14: a Gateway API rollout driven only as Slack would drive it, against the real bot, real Redis
 * and the Kubernetes API peer serving HTTPRoute (every write checked against the reference CRD's schema).
 * What is asserted is what people see: the route in the API, the channel message, its thread, ephemerals.
 */

const ALICE = "UALICE";
const BOB = "UBOB";
const NS = "shop";
const TEST_URL = "http://web.shop.svc.cluster.local/api";

const TARGETS = `
targets:
  - name: web
    namespace: ${NS}
    router: gateway
    steps: [10, 100]
    gateway: { rule: api, testUrl: "${TEST_URL}" }
    metrics: { source: none, refreshSeconds: 3600 }
  - name: tidy
    namespace: ${NS}
    router: gateway
    steps: [100]
    cleanup: scale-down
    gateway: { httpRoute: tidy-route, rule: 0, service: "tidy-{version}" }
    metrics: { source: none, refreshSeconds: 3600 }
  - name: edge
    namespace: ${NS}
    router: gateway
    steps: [10, 100]
    gateway: { httpRoute: edge-route, rule: 1, service: "edge-{version}", finish: keep-zero }
    metrics: { source: none, refreshSeconds: 3600 }
  - name: watched
    namespace: ${NS}
    router: gateway
    steps: [10, 100]
    gateway: { httpRoute: web, rule: api }
    metrics: { source: none, refreshSeconds: 5 }
`;

const OTHER_RULE = {
  name: "static",
  matches: [{ path: { type: "PathPrefix", value: "/static" } }],
  backendRefs: [{ name: "static-files", port: 80, weight: 3 }],
};

/** A mesh (GAMMA) route: its parent is the Service `web`, as Linkerd writes it (group core). */
const meshRoute = (): KubeObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name: "web", namespace: NS },
  spec: {
    parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }],
    rules: [
      OTHER_RULE,
      {
        name: "api",
        matches: [{ path: { type: "PathPrefix", value: "/api" } }],
        backendRefs: [
          { name: "web-v1", port: 8080 },
          { name: "web-legacy", port: 8080, weight: 0 },
        ],
      },
    ],
  },
});

/** A gateway route (parent: a Gateway), rule chosen by index, Services named edge-<version>. */
const gatewayRoute = (): KubeObject => ({
  apiVersion: "gateway.networking.k8s.io/v1beta1",
  kind: "HTTPRoute",
  metadata: { name: "edge-route", namespace: NS },
  spec: {
    parentRefs: [{ name: "public", namespace: "infra" }],
    hostnames: ["shop.example.com"],
    rules: [OTHER_RULE, { backendRefs: [{ name: "edge-v1", port: 80, weight: 5 }] }],
  },
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function harness(kube: HarnessOptions["kube"] = {}): Promise<Harness> {
  h = await startHarness({ targetsYaml: TARGETS, kube: { validators: { httproutes: crdValidator(HTTPROUTE_CRD) }, ...kube } });
  return h;
}

type Rule = { matches?: unknown[]; filters?: unknown[]; backendRefs: { name: string; weight: number }[] };
const rules = (hh: Harness, name = "web") => (hh.kube.get("httproutes", NS, name)!.spec as { rules: Rule[] }).rules;
const weights = (rule: Rule) => rule.backendRefs.map((r) => `${r.name} ${r.weight}`);
const routeWrites = (hh: Harness, name = "web") => hh.kube.mutations("httproutes", NS, name).length;

/** Every text a reader sees in a message: its blocks' mrkdwn and plain text, in order. */
function texts(m: StoredMessage | undefined): string {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (typeof o.text === "string") out.push(o.text);
      for (const [k, c] of Object.entries(o)) if (k !== "text" || typeof c !== "string") walk(c);
    }
  };
  walk(m?.blocks ?? []);
  return out.join("\n");
}

const threadTexts = (hh: Harness, id: string) => {
  const m = rolloutMessage(hh, id);
  return m ? hh.slack.thread(CHANNEL, m.ts).map((t) => t.text ?? "") : [];
};
const buttonsOf = (hh: Harness, id: string) => {
  const m = rolloutMessage(hh, id);
  return m ? hh.slack.buttons(CHANNEL, m.ts).map((b) => b.text) : [];
};
const waitForButtons = (hh: Harness, id: string, labels: string[]) =>
  waitFor(() => (JSON.stringify(buttonsOf(hh, id)) === JSON.stringify(labels) ? true : undefined), { what: `rollout ${id} to offer ${labels.join(", ")}` });

describe("gateway rollouts through Slack", () => {
  it("mesh route: test stage with a curl, 10%, 100%, Finish; only the split rule's weights and the bot's test rule ever change", async () => {
    const hh = await harness();
    hh.kube.seed("httproutes", NS, meshRoute());
    const before = JSON.stringify(rules(hh)[0]);

    // No --from: the stable is the one Service the rule sends traffic to.
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2" });
    const first = await waitForMessage(hh, "web#1", "Start shifting (10%)");
    const shown = texts(first);
    expect(shown).toContain("Rollout web#1: web-v1 → web-v2");
    expect(shown).toContain("*Test stage*: production traffic is unchanged (0% to `web-v2`)");
    expect(shown).toContain(`\`\`\`curl -H 'x-rollout: web-v2' '${TEST_URL}'\n`);
    expect(weights(rules(hh)[1]!)).toEqual(["web-v1 100", "web-v2 0", "web-legacy 0"]);
    expect(rules(hh)[2]).toMatchObject({
      matches: [{ path: { type: "PathPrefix", value: "/api" }, headers: [{ type: "Exact", name: "x-rollout", value: "web-v2" }] }],
      backendRefs: [{ name: "web-v2", port: 8080, weight: 1 }],
    });

    await clickButton(hh, "web#1", BOB, "Start shifting (10%)");
    const at10 = await waitForMessage(hh, "web#1", "Advance to 100%");
    expect(texts(at10)).toContain("web-v1 *90%* · web-v2 *10%*");
    expect(weights(rules(hh)[1]!)).toEqual(["web-v1 90", "web-v2 10", "web-legacy 0"]);
    await clickButton(hh, "web#1", ALICE, "Advance to 100%");
    await waitForButtons(hh, "web#1", ["Finish", "Abort"]);
    expect(weights(rules(hh)[1]!)).toEqual(["web-v1 0", "web-v2 100", "web-legacy 0"]);
    expect(rules(hh)).toHaveLength(3); // the test rule stays until the end

    await clickButton(hh, "web#1", ALICE, "Finish");
    await waitForMessage(hh, "web#1", "Completed");
    expect(rules(hh)).toHaveLength(2);
    expect(weights(rules(hh)[1]!)).toEqual(["web-v2 100", "web-legacy 0"]);
    expect(JSON.stringify(rules(hh)[0])).toBe(before);
    const thread = threadTexts(hh, "web#1");
    expect(thread.some((t) => t.includes(`<@${BOB}> advanced to 10% (web-v1/web-v2 100/0 → 90/10)`))).toBe(true);
    expect(thread.some((t) => t.includes("Applied and verified 90/10") && t.includes("rule api: web-v1 90 / web-v2 10 / web-legacy 0"))).toBe(true);
    expect(await hh.bot.store.get("web#1")).toMatchObject({ status: "completed", appliedPercent: 100 });
    // 0%, 10%, 100%, finish: one write each, all admitted by the CRD's schema.
    expect(hh.kube.mutations("httproutes", NS, "web").map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });

  it("gateway route on a v1beta1-only cluster: a hand edit is held as drift and not overwritten; Abort restores stable and drops the test rule", async () => {
    const hh = await harness({ gatewayVersions: ["v1beta1"] });
    hh.kube.seed("httproutes", NS, gatewayRoute());
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start edge --to v2 --from v1" });
    await waitForMessage(hh, "edge#1", "Start shifting (10%)");
    await clickButton(hh, "edge#1", ALICE, "Start shifting (10%)");
    await waitForMessage(hh, "edge#1", "Advance to 100%");
    await firstCheckDone(hh, "edge#1");
    expect(weights(rules(hh, "edge-route")[1]!)).toEqual(["edge-v1 90", "edge-v2 10"]);
    expect(hh.kube.mutations("httproutes", NS, "edge-route").every((r) => r.path.includes("/v1beta1/"))).toBe(true);

    hh.kube.edit("httproutes", NS, "edge-route", (o) => {
      const refs = (o.spec as { rules: Rule[] }).rules[1]!.backendRefs;
      refs[0]!.weight = 40;
      refs[1]!.weight = 60;
    });
    const writes = routeWrites(hh, "edge-route");
    await clickButton(hh, "edge#1", ALICE, "Advance to 100%");
    const held = await waitForMessage(hh, "edge#1", "Held", 15_000);
    expect(texts(held)).toContain("HTTPRoute shop/edge-route was changed by someone else: expected 10% canary");
    expect(texts(held)).toContain("Nothing was overwritten.");
    // Re-apply offers the step that was asked for (100%), Adopt what the person wrote.
    await waitForButtons(hh, "edge#1", ["Re-apply 0/100", "Adopt 40/60", "Abort"]);
    expect(routeWrites(hh, "edge-route")).toBe(writes);
    expect(weights(rules(hh, "edge-route")[1]!)).toEqual(["edge-v1 40", "edge-v2 60"]);

    await clickButton(hh, "edge#1", BOB, "Abort");
    await waitForMessage(hh, "edge#1", "Aborted");
    expect(rules(hh, "edge-route")).toHaveLength(2);
    expect(weights(rules(hh, "edge-route")[1]!)).toEqual(["edge-v1 100", "edge-v2 0"]);
  });

  it("a hand edit of the split rule's matches is drift before the next write; Re-apply writes the weights and the test rule, keeping the person's matches", async () => {
    const hh = await harness();
    hh.kube.seed("httproutes", NS, meshRoute());
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2" });
    await waitForMessage(hh, "web#1", "Start shifting (10%)");
    await clickButton(hh, "web#1", ALICE, "Start shifting (10%)");
    await waitForMessage(hh, "web#1", "Advance to 100%");
    await firstCheckDone(hh, "web#1");

    const narrowed = [{ path: { type: "PathPrefix", value: "/api/v2" } }];
    hh.kube.edit("httproutes", NS, "web", (o) => {
      (o.spec as { rules: Rule[] }).rules[1]!.matches = structuredClone(narrowed);
    });
    const writes = routeWrites(hh);
    await clickButton(hh, "web#1", BOB, "Advance to 100%");
    const held = await waitForMessage(hh, "web#1", "Held", 15_000);
    expect(texts(held)).toContain("HTTPRoute shop/web rule `api`: its matches were changed by hand");
    expect(texts(held)).toContain("Nothing was overwritten.");
    await waitForButtons(hh, "web#1", ["Re-apply 0/100", "Adopt 90/10", "Abort"]);
    expect(routeWrites(hh)).toBe(writes);
    expect(weights(rules(hh)[1]!)).toEqual(["web-v1 90", "web-v2 10", "web-legacy 0"]);
    // The thread notice is its own Slack call, posted after the message update.
    await waitFor(() => threadTexts(hh, "web#1").some((t) => t.includes("rule `api`: its matches were changed by hand")) || undefined, {
      what: "the drift notice in the thread",
    });

    // Re-apply: the bot's weights and its test rule, rebuilt on the person's matches, which stay.
    await clickButton(hh, "web#1", ALICE, "Re-apply 0/100");
    await waitForButtons(hh, "web#1", ["Finish", "Abort"]);
    expect(weights(rules(hh)[1]!)).toEqual(["web-v1 0", "web-v2 100", "web-legacy 0"]);
    expect(rules(hh)[1]!.matches).toEqual(narrowed);
    expect(rules(hh)[2]).toMatchObject({
      matches: [{ path: { type: "PathPrefix", value: "/api/v2" }, headers: [{ type: "Exact", name: "x-rollout", value: "web-v2" }] }],
      backendRefs: [{ name: "web-v2", weight: 1 }],
    });
    // The edit is now the baseline: Finish goes ahead over it.
    await clickButton(hh, "web#1", ALICE, "Finish");
    await waitForMessage(hh, "web#1", "Completed");
    expect(rules(hh)).toHaveLength(2);
    expect(rules(hh)[1]!.matches).toEqual(narrowed);
  });

  it("the periodic check finds a hand edit of the rule's filters and of the bot's test rule; Adopt takes the filters, Abort ends it", async () => {
    const hh = await harness();
    hh.kube.seed("httproutes", NS, meshRoute());
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start watched --to web-v2 --from web-v1" });
    await waitForMessage(hh, "watched#1", "Start shifting (10%)");
    await clickButton(hh, "watched#1", ALICE, "Start shifting (10%)");
    await waitForMessage(hh, "watched#1", "Advance to 100%");
    const writes = routeWrites(hh);

    const filter = { type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: "x-env", value: "prod" }] } };
    hh.kube.edit("httproutes", NS, "web", (o) => {
      (o.spec as { rules: Rule[] }).rules[1]!.filters = [structuredClone(filter)];
    });
    // No click: the check every 5 s finds it.
    const held = await waitForMessage(hh, "watched#1", "Held", 20_000);
    expect(texts(held)).toContain("HTTPRoute shop/web rule `api`: its filters were changed by hand (the weights are still the verified 90/10");
    await waitForButtons(hh, "watched#1", ["Re-apply 90/10", "Adopt 90/10", "Abort"]);
    expect(routeWrites(hh)).toBe(writes);

    // Adopt: the filter is the person's and stays; the bot's test rule copies it, as it copies the matches.
    // The edit made kubectl-edit the owner of the atomic rules list: Adopt does not take it, so the write
    // that copies the filter is refused naming it, and only Re-apply takes the rules (forced, audited).
    await clickButton(hh, "watched#1", BOB, "Adopt 90/10");
    const owned = await waitForMessage(hh, "watched#1", "is owned by `kubectl-edit`", 15_000);
    expect(texts(owned)).toContain("`.spec.rules`");
    await waitForButtons(hh, "watched#1", ["Re-apply 90/10", "Abort"]);
    await clickButton(hh, "watched#1", BOB, "Re-apply 90/10");
    await waitForMessage(hh, "watched#1", "Advance to 100%");
    await waitFor(() => (JSON.stringify(rules(hh)[2]?.filters) === JSON.stringify([filter]) ? true : undefined), { what: "the test rule to carry the filter" });
    expect(rules(hh)[1]!.filters).toEqual([filter]);
    expect(weights(rules(hh)[1]!)).toEqual(["web-v1 90", "web-v2 10", "web-legacy 0"]);
    // Two more checks pass without finding anything: the adopted rule is the baseline now.
    await sleep(11_000);
    expect(await hh.bot.store.get("watched#1")).toMatchObject({ status: "active", appliedPercent: 10 });

    // The bot's own test rule, sent somewhere else by hand.
    hh.kube.edit("httproutes", NS, "web", (o) => {
      (o.spec as { rules: Rule[] }).rules[2]!.backendRefs[0]!.name = "web-v1";
    });
    const again = await waitForMessage(hh, "watched#1", "the bot's test rule was changed by hand", 20_000);
    expect(texts(again)).toContain("Held");
    await clickButton(hh, "watched#1", ALICE, "Abort");
    await waitForMessage(hh, "watched#1", "Aborted");
    expect(rules(hh)).toHaveLength(2);
    expect(weights(rules(hh)[1]!)).toEqual(["web-v1 100", "web-v2 0", "web-legacy 0"]);
    expect(rules(hh)[1]!.filters).toEqual([filter]);
  });

  it("a parent that refuses the route (ResolvedRefs=False) stops the rollout with the controller's reason", async () => {
    const hh = await harness();
    hh.kube.seed("httproutes", NS, meshRoute());
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2" });
    await waitForMessage(hh, "web#1", "Start shifting (10%)");
    hh.kube.gateway.refuse = { condition: "ResolvedRefs", reason: "BackendNotFound", message: "backend web-v2 has no endpoints" };
    await clickButton(hh, "web#1", ALICE, "Start shifting (10%)");
    const held = await waitForMessage(hh, "web#1", "Held", 15_000);
    expect(texts(held)).toContain(
      "HTTPRoute shop/web was refused by its parent Service shop/web (port 80): ResolvedRefs=False (BackendNotFound): backend web-v2 has no endpoints",
    );
    expect(await hh.bot.store.get("web#1")).toMatchObject({ status: "held", appliedPercent: 0 });
  });

  it("50 concurrent Advance clicks make one HTTPRoute write", async () => {
    const hh = await harness();
    hh.kube.seed("httproutes", NS, meshRoute());
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2" });
    const m = await waitForMessage(hh, "web#1", "Start shifting (10%)");
    const button = hh.slack.findButton(CHANNEL, m.ts, "Start shifting (10%)");
    const writes = routeWrites(hh);
    const users = Array.from({ length: 50 }, (_, i) => `UCLICK${String(i).padStart(2, "0")}`);
    const responses = await Promise.all(users.map((userId) => hh.driver.click({ userId, channelId: CHANNEL, messageTs: m.ts, button, stale: true })));
    expect(responses.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    await waitForMessage(hh, "web#1", "Advance to 100%");
    await sleep(300); // let any stray job run before counting
    expect(routeWrites(hh) - writes).toBe(1);
    expect(weights(rules(hh)[1]!)).toEqual(["web-v1 90", "web-v2 10", "web-legacy 0"]);
    expect((await hh.bot.store.get("web#1"))!.events.filter((e) => e.kind === "advanced")).toHaveLength(1);
  });

  it("a route that does not exist, or a rule without the stable, is refused privately and nothing is written", async () => {
    const hh = await harness();
    const missing = await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v2 --from web-v1" });
    const reply = await waitFor(() => hh.slack.responses(missing.responseUrl).find((p) => p.text?.includes("Cannot start")), { what: "rejection" });
    expect(reply.text).toContain("HTTPRoute shop/web does not exist");
    expect(reply.text).toContain("Nothing was changed");

    hh.kube.seed("httproutes", NS, meshRoute());
    const wrong = await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --to web-v3 --from web-v9" });
    const refused = await waitFor(() => hh.slack.responses(wrong.responseUrl).find((p) => p.text?.includes("Cannot start")), { what: "rejection" });
    expect(refused.text).toContain("HTTPRoute shop/web rule api has no backendRef to Service web-v9");
    expect(routeWrites(hh)).toBe(0);
    expect(hh.slack.messages(CHANNEL)).toEqual([]);
  });
  it("cleanup: scale-down scales the old Deployment by the target's naming (tidy-v1), not the bare version", async () => {
    const hh = await harness();
    hh.kube.seed("httproutes", NS, {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "tidy-route", namespace: NS },
      spec: { parentRefs: [{ group: "core", kind: "Service", name: "tidy", port: 80 }], rules: [{ backendRefs: [{ name: "tidy-v1", port: 80 }] }] },
    });
    for (const name of ["tidy-v1", "tidy-v2", "v1"])
      hh.kube.seed("deployments", NS, {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name, namespace: NS, generation: 1 },
        spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } } } },
        status: { observedGeneration: 1, replicas: 2, availableReplicas: 2, readyReplicas: 2, updatedReplicas: 2 },
      });
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start tidy --to v2 --from v1" });
    await waitForMessage(hh, "tidy#1", "Start shifting (100%)");
    await clickButton(hh, "tidy#1", ALICE, "Start shifting (100%)");
    await waitForMessage(hh, "tidy#1", "Finish");
    await clickButton(hh, "tidy#1", BOB, "Finish");
    await waitForMessage(hh, "tidy#1", "Completed", 15_000);
    expect(hh.kube.get("deployments", NS, "tidy-v1")?.spec).toMatchObject({ replicas: 0 });
    expect(hh.kube.get("deployments", NS, "tidy-v2")?.spec).toMatchObject({ replicas: 2 });
    expect(hh.kube.get("deployments", NS, "v1")?.spec).toMatchObject({ replicas: 2 });
    // By server-side apply of the Scale under the bot's field manager, which now owns exactly spec.replicas.
    const scaled = hh.kube.mutations("deployments", NS, "tidy-v1");
    expect(scaled.map((m) => `${m.method} ${m.subresource} ${new URLSearchParams(m.query).get("fieldManager")} ${m.status}`)).toEqual([
      "PATCH scale rollout-bot 200",
    ]);
  });

  it("cleanup: scale-down where an HPA owns spec.replicas: named in the thread, never forced; the rollout still completes", async () => {
    const hh = await harness();
    hh.kube.seed("httproutes", NS, {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "tidy-route", namespace: NS },
      spec: { parentRefs: [{ group: "core", kind: "Service", name: "tidy", port: 80 }], rules: [{ backendRefs: [{ name: "tidy-v1", port: 80 }] }] },
    });
    for (const name of ["tidy-v1", "tidy-v2"])
      hh.kube.seed("deployments", NS, {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name, namespace: NS, generation: 1 },
        spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } } } },
        status: { observedGeneration: 1, replicas: 2, availableReplicas: 2, readyReplicas: 2, updatedReplicas: 2 },
      });
    // The HPA's controller (kube-controller-manager) sets replicas through the scale subresource.
    const hpa = await fetch(`${hh.kube.url}/apis/apps/v1/namespaces/${NS}/deployments/tidy-v1/scale?fieldManager=kube-controller-manager`, {
      method: "PUT",
      headers: { authorization: `Bearer ${hh.kube.token}`, "content-type": "application/json" },
      body: JSON.stringify({ apiVersion: "autoscaling/v1", kind: "Scale", metadata: { name: "tidy-v1", namespace: NS }, spec: { replicas: 3 } }),
    });
    expect(hpa.status).toBe(200);
    await hh.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start tidy --to v2 --from v1" });
    await waitForMessage(hh, "tidy#1", "Start shifting (100%)");
    await clickButton(hh, "tidy#1", ALICE, "Start shifting (100%)");
    await waitForMessage(hh, "tidy#1", "Finish");
    await clickButton(hh, "tidy#1", BOB, "Finish");
    const done = await waitForMessage(hh, "tidy#1", "Completed", 15_000);
    const said = await waitFor(() => hh.slack.thread(CHANNEL, done.ts).find((t) => t.text?.includes("could not scale Deployment shop/tidy-v1 to 0")), {
      what: "the clean-up warning",
    });
    expect(said.text).toContain("its spec.replicas is owned by `kube-controller-manager`");
    expect(said.text).toContain('with subresource "scale"');
    expect(said.text).toContain("the bot does not take it by force, nothing was changed");
    expect(hh.kube.get("deployments", NS, "tidy-v1")?.spec).toMatchObject({ replicas: 3 });
    expect(hh.kube.mutations("deployments", NS, "tidy-v1").map((m) => `${m.status} ${new URLSearchParams(m.query).get("force")}`)).toEqual([
      "200 null",
      "409 false",
    ]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import { CHANNEL, clickButton, parentMessages, rolloutMessage, startHarness, waitForMessage, waitForStatus, type Harness } from "../support/bot-harness.ts";
import { percentOnSplit } from "../support/split.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 20, item 1: a declared target is a fence. The probes of the report, replayed as a person with the
 * right to start and finish `shop` would (signed slash commands and clicks against the real bot, the local
 * Slack and Kubernetes peers, real Redis): each is refused privately, and nothing moves, nothing is scaled,
 * nothing is posted in the channel. Then every combination of the flags that name objects, counted on the
 * Kubernetes peer: no write lands outside the target's own TrafficSplit.
 */

const ALICE = "UALICE"; // may start and finish shop
const TARGETS = `
policy:
  start: [${ALICE}]
  finish: [${ALICE}]
targets:
  - name: shop
    namespace: shop
    stable: shop-v1
    smi: { trafficSplit: shop-ts }
    steps: [50, 100]
    cleanup: scale-down
    metrics: { source: none, refreshSeconds: 3600 }
  - name: cart
    namespace: shop
    stable: cart-v1
    allowFrom: ["cart-blue"]
    smi: { trafficSplit: cart-ts }
    steps: [100]
    cleanup: scale-down
    metrics: { source: none, refreshSeconds: 3600 }
`;

let h: Harness;

function split(name: string, stable: string, canary: string): KubeObject {
  return {
    kind: "TrafficSplit",
    metadata: { name, namespace: "shop" },
    spec: {
      service: name.replace(/-ts$/, ""),
      backends: [
        { service: stable, weight: 100 },
        { service: canary, weight: 0 },
      ],
    },
  } as KubeObject;
}

/** A ready Deployment whose pods carry `app: <label>`, with `replicas`. */
function deployment(ns: string, name: string, replicas: number, label = name): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns, labels: { app: label } },
    spec: {
      replicas,
      selector: { matchLabels: { app: label } },
      template: { metadata: { labels: { app: label } }, spec: { containers: [{ name: "app", image: `${name}:1` }] } },
    },
    status: { observedGeneration: 1, replicas, availableReplicas: replicas, readyReplicas: replicas },
  } as KubeObject;
}

beforeAll(async () => {
  h = await startHarness({ targetsYaml: TARGETS });
  h.kube.seed("trafficsplits", "shop", split("shop-ts", "shop-v1", "shop-v2"));
  h.kube.seed("trafficsplits", "shop", split("cart-ts", "cart-v1", "cart-v2"));
  // What the report's probes aimed at: another service's database in the same namespace, and the cluster's DNS.
  h.kube.seed("deployments", "shop", deployment("shop", "payments-db", 3));
  h.kube.seed("deployments", "kube-system", deployment("kube-system", "coredns", 2));
  h.kube.seed("deployments", "shop", deployment("shop", "shop-v1", 3));
});
afterAll(async () => h?.close());

const replicas = (ns: string, name: string) => (h.kube.get("deployments", ns, name)?.spec as { replicas?: number } | undefined)?.replicas;

async function ask(userId: string, text: string): Promise<string> {
  const res = await h.driver.slash({ userId, channelId: CHANNEL, text });
  expect(res.status).toBe(200);
  const reply = await waitFor(() => h.slack.responses(res.responseUrl)[0], { what: `reply to ${text}` });
  expect(reply.response_type ?? "ephemeral").toBe("ephemeral");
  return reply.text ?? "";
}

/** Everything a refused probe must leave alone. */
async function world() {
  return {
    writes: h.kube.requests.filter((r) => r.mutating).length,
    posts: parentMessages(h).length,
    active: (await h.bot.store.active()).map((r) => r.id).join(","),
    scaled: [replicas("shop", "payments-db"), replicas("kube-system", "coredns"), replicas("shop", "shop-v1")].join(","),
  };
}

describe("the report's probes against a declared target", () => {
  it.each([
    ["a stable that is another service's database", "start shop --from payments-db --to shop-v2", "`--from payments-db` is not allowed for `shop`"],
    ["another namespace and its DNS server", "start shop --namespace kube-system --from coredns --to shop-v2", "`--namespace` cannot be used with `shop`"],
    ["another router", "start shop --router gateway --to shop-v2", "`--router` cannot be used with `shop`"],
    ["another TrafficSplit", "start shop --split cart-ts --to shop-v2", "`--split` cannot be used with `shop`"],
    ["a --from outside allowFrom", "start cart --from payments-db --to cart-v2", "or a version its `allowFrom` lets through (`cart-blue`)"],
  ])("%s is refused privately, naming the flag and the target, and nothing moves", async (_what, text, says) => {
    const before = await world();
    const reply = await ask(ALICE, text);
    expect(reply).toContain(":no_entry:");
    expect(reply).toContain(says);
    expect(reply).toContain("Nothing was changed");
    await sleep(100); // room for a stray job to write, so "nothing moved" means something
    expect(await world()).toEqual(before);
    const audited = (await h.bot.audit.recent(20)).find((e) => e.actor === ALICE && e.action === "start");
    expect(audited).toMatchObject({ outcome: "refused", target: text.split(" ")[1] });
  });
});

describe("fuzz: every combination of --namespace/--router/--split/--from over a declared target", () => {
  it("writes nothing outside the target's own TrafficSplit, counted on the Kubernetes peer", async () => {
    const namespaces = [undefined, "kube-system", "shop"];
    const routers = [undefined, "gateway", "smi"];
    const splits = [undefined, "cart-ts"];
    const froms = [undefined, "shop-v1", "payments-db", "coredns"];
    const mark = h.kube.requests.length;
    let combos = 0;
    let started = 0;
    let refused = 0;
    for (const ns of namespaces)
      for (const router of routers)
        for (const sp of splits)
          for (const from of froms) {
            const flags = [ns && `--namespace ${ns}`, router && `--router ${router}`, sp && `--split ${sp}`, from && `--from ${from}`].filter(Boolean);
            const reply = await ask(ALICE, ["start shop --to shop-v2", ...flags].join(" "));
            combos++;
            // Inside the fence: no flag but --from repeating the declared stable.
            const inside = !ns && !router && !sp && (from === undefined || from === "shop-v1");
            if (!inside) {
              expect(reply, flags.join(" ")).toContain(":no_entry:");
              refused++;
              continue;
            }
            expect(reply, flags.join(" ")).toContain("Starting rollout");
            const id = /`(shop#\d+)`/.exec(reply)![1]!;
            await waitForMessage(h, id, "Abort");
            await clickButton(h, id, ALICE, "Abort");
            await waitForStatus(h, id, "aborted");
            started++;
          }
    const writes = h.kube.requests.slice(mark).filter((r) => r.mutating);
    const outside = writes.filter((r) => !(r.resource === "trafficsplits" && r.namespace === "shop" && r.name === "shop-ts"));
    console.log(
      `fence fuzz: ${combos} combinations, ${refused} refused, ${started} inside the fence started and aborted; ${writes.length} writes, ${outside.length} outside shop/shop-ts`,
    );
    expect(combos).toBe(72);
    expect(started).toBe(2);
    expect(writes.length).toBeGreaterThan(0);
    expect(outside).toEqual([]);
    expect([replicas("shop", "payments-db"), replicas("kube-system", "coredns")]).toEqual([3, 2]);
    expect(percentOnSplit(h.kube.get("trafficsplits", "shop", "shop-ts")?.spec, "shop-v1")).toBe(100);
  }, 120_000);
});

describe("Finish's scale-down", () => {
  it("scales the stable's Deployment that preflight saw its Service select, and nothing else", async () => {
    const reply = await ask(ALICE, "start shop --to shop-v2");
    const id = /`(shop#\d+)`/.exec(reply)![1]!;
    await waitForMessage(h, id, "Advance to 100%");
    expect((await h.bot.store.get(id))?.stableWorkload).toEqual({ namespace: "shop", name: "shop-v1" });
    await clickButton(h, id, ALICE, "Advance to 100%");
    await waitForMessage(h, id, "Finish");
    await clickButton(h, id, ALICE, /^Finish/);
    await waitForStatus(h, id, "completed");
    await waitFor(() => (replicas("shop", "shop-v1") === 0 ? true : undefined), { what: "shop-v1 scaled to 0" });
    const scaled = h.kube.requests.filter((r) => r.mutating && r.resource === "deployments").map((r) => `${r.namespace}/${r.name}`);
    expect(scaled).toEqual(["shop/shop-v1"]);
    expect([replicas("shop", "payments-db"), replicas("kube-system", "coredns")]).toEqual([3, 2]);
  });

  it("scales nothing when the stable's Service did not select its Deployment at preflight, and says so in the thread", async () => {
    // cart-blue is allowed as --from, but its Service sends traffic to other pods: it does not serve cart.
    h.kube.seed("deployments", "shop", deployment("shop", "cart-blue", 4));
    h.kube.seed("services", "shop", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "cart-blue", namespace: "shop" },
      spec: { selector: { app: "something-else" }, ports: [{ port: 80 }] },
    } as KubeObject);
    // Seeded, not edited: a hand edit would make kubectl-edit own the backends, which is not what this proves.
    h.kube.seed("trafficsplits", "shop", split("cart-ts", "cart-blue", "cart-v2"));
    const reply = await ask(ALICE, "start cart --from cart-blue --to cart-v2");
    const id = /`(cart#\d+)`/.exec(reply)![1]!;
    await waitForMessage(h, id, "Finish");
    expect((await h.bot.store.get(id))?.stableWorkload).toBeUndefined();
    const before = h.kube.requests.filter((r) => r.mutating && r.resource === "deployments").length;
    await clickButton(h, id, ALICE, /^Finish/);
    await waitForStatus(h, id, "completed");
    const thread = () => h.slack.thread(CHANNEL, rolloutMessage(h, id)!.ts).map((m) => m.text ?? "");
    const warned = await waitFor(() => thread().find((t) => t.includes("did not scale Deployment shop/cart-blue down")), { what: "the thread's note" });
    expect(warned).toContain("it was not seen serving cart before the rollout began (its Service cart-blue must select it)");
    expect(h.kube.requests.filter((r) => r.mutating && r.resource === "deployments").length).toBe(before);
    expect(replicas("shop", "cart-blue")).toBe(4);
  });
});

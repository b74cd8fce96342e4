import { afterEach, describe, expect, it } from "vitest";
import { closedInProduction, parseTargetsFile, PRODUCTION_NEEDS_TARGETS } from "../../src/config.ts";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import { CHANNEL, parentMessages, startHarness, type Harness } from "../support/bot-harness.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Issue 20, item 3 and the ad-hoc fence: closed by default in production. Without a targets file the bot
 * does not start; with `adhoc: true` and no policy nobody may start or finish; a policy opens it, and its
 * `namespaces` keep ad-hoc targets where it says. Probes replayed as a person would, over signed requests.
 */

const MALLORY = "UMALLORY";
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function ask(hh: Harness, text: string): Promise<string> {
  const res = await hh.driver.slash({ userId: MALLORY, channelId: CHANNEL, text });
  expect(res.status).toBe(200);
  return (await waitFor(() => hh.slack.responses(res.responseUrl)[0], { what: `reply to ${text}` })).text ?? "";
}

function seedIngress(hh: Harness) {
  hh.kube.seed("trafficsplits", "kube-system", {
    kind: "TrafficSplit",
    metadata: { name: "ingress-nginx", namespace: "kube-system" },
    spec: { service: "ingress-nginx", backends: [{ service: "ingress-nginx", weight: 100 }] },
  } as KubeObject);
}

describe("closed by default in production", () => {
  it("without a targets file the bot refuses to start, with one line saying what to declare", () => {
    const none = closedInProduction({ adhoc: true, targets: new Map() }, { production: true, fromFile: false });
    expect(none).toEqual({ ok: false, error: [PRODUCTION_NEEDS_TARGETS] });
    expect(PRODUCTION_NEEDS_TARGETS).not.toContain("\n");
    expect(PRODUCTION_NEEDS_TARGETS).toContain("NODE_ENV=production and no targets file (ROLLOUT_TARGETS)");
    // Outside production nothing changes: a laptop without a file may still try ad-hoc targets.
    expect(closedInProduction({ adhoc: true, targets: new Map() }, { production: false, fromFile: false }).ok).toBe(true);
  });

  it("adhoc: true without a policy: the report's probe (kube-system ingress to 100% `evil`) is refused, and nothing moves", async () => {
    h = await startHarness({ targetsYaml: "adhoc: true\n", production: true });
    seedIngress(h);
    const reply = await ask(h, "start ingress-nginx --namespace kube-system --split ingress-nginx --from ingress-nginx --to evil --steps 100");
    expect(reply).toContain(":no_entry: Nobody may start rollouts of `ingress-nginx` yet");
    expect(reply).toContain("no `policy` in its targets file");
    expect(reply).toContain("Nothing was changed");
    await sleep(100);
    expect(h.kube.requests.filter((r) => r.mutating)).toEqual([]);
    expect(parentMessages(h)).toEqual([]);
    expect(await h.bot.store.active()).toEqual([]);
  });

  it("a policy opens it up, and its `namespaces` fence ad-hoc targets", async () => {
    const yaml = `adhoc: true\npolicy:\n  namespaces: [shop]\n`;
    const file = parseTargetsFile(yaml);
    const bare = parseTargetsFile("adhoc: true\n");
    if (!file.ok || !bare.ok) throw new Error("the targets files parse");
    const opened = closedInProduction(file.value, { production: true, fromFile: true });
    const shut = closedInProduction(bare.value, { production: true, fromFile: true });
    expect(opened.ok && opened.value.closed).toBeFalsy();
    expect(shut.ok && shut.value.closed).toBe(true);

    h = await startHarness({ targetsYaml: yaml, production: true });
    seedIngress(h);
    const outside = await ask(h, "start ingress-nginx --namespace kube-system --split ingress-nginx --from ingress-nginx --to evil");
    expect(outside).toBe(":no_entry: ad-hoc rollouts may not touch namespace `kube-system`: the policy allows `shop`. Nothing was changed.");
    const unnamed = await ask(h, "start cart --from cart-v1 --to cart-v2");
    expect(unnamed).toContain("may not touch namespace `default`");
    await sleep(100);
    expect(h.kube.requests.filter((r) => r.mutating)).toEqual([]);

    h.kube.seed("trafficsplits", "shop", {
      kind: "TrafficSplit",
      metadata: { name: "cart", namespace: "shop" },
      spec: {
        service: "cart",
        backends: [
          { service: "cart-v1", weight: 100 },
          { service: "cart-v2", weight: 0 },
        ],
      },
    } as KubeObject);
    const inside = await ask(h, "start cart --namespace shop --split cart --from cart-v1 --to cart-v2");
    expect(inside).toContain("Starting rollout `cart#1`");
    await waitFor(async () => ((await h!.bot.store.get("cart#1"))?.status !== "starting" ? true : undefined), { what: "cart#1 past starting" });
    expect(await h.bot.store.get("cart#1"), JSON.stringify((await h.bot.store.get("cart#1"))?.problem)).toMatchObject({ status: "active" });
    expect(h.kube.requests.filter((r) => r.mutating).every((r) => r.namespace === "shop")).toBe(true);
  });
});

import { describe, expect, it } from "vitest";
import { useSandbox } from "../support/sandbox.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 21's sandbox story, through the page's API against the real bot: route `shop` belongs to a
 * self-healing Argo CD, so a start is refused privately with the snippet; the panel's "apply the snippet to
 * the Application" lets the next start through; route `cart` belongs to Flux and its target says
 * `gitops: pause`.
 */

const ALICE = "U0ALICE01";
const sandbox = useSandbox();
const { get, post } = sandbox;
const world = () => sandbox.world();
const seen = async () => JSON.stringify(await get(`/api/state?user=${ALICE}`));

describe("the GitOps story", () => {
  it("Argo CD route: refused with the snippet; the panel applies it; the next start goes through and says who owns the route", async () => {
    expect(world().kube.get("httproutes", "store", "shop")?.metadata?.annotations).toEqual({
      "argocd.argoproj.io/tracking-id": "shop:gateway.networking.k8s.io/HTTPRoute:store/shop",
    });
    await post("/api/command", { user: ALICE, text: "start shop --to shop-v2" });
    await waitFor(async () => ((await seen()).includes("is owned by Argo CD Application `shop` in `argocd`: self-heal is on") ? true : undefined), {
      what: "the private refusal with the owner",
      timeoutMs: 15_000,
    });
    expect(await seen()).toContain("RespectIgnoreDifferences=true");
    expect(world().kube.mutations("httproutes", "store", "shop")).toEqual([]);

    const applied = await post("/api/gitops/apply-snippet", {});
    expect(applied.body.said).toContain("Added the snippet to Application `shop`");
    expect((await post("/api/gitops/apply-snippet", {})).body.said).toBe("Application `shop` already leaves the bot's fields alone");
    await post("/api/command", { user: ALICE, text: "start shop --to shop-v2" });
    await waitFor(
      async () =>
        (await seen()).includes("The bot&#39;s fields are left alone there") || (await seen()).includes("The bot's fields are left alone there")
          ? true
          : undefined,
      {
        what: "the owner line in the thread",
        timeoutMs: 15_000,
      },
    );
    // Argo CD applied the rules (forced): the bot's own apply is refused naming it, never forced silently;
    // the person's Re-apply takes them, and the rollout runs.
    const held = await world().bot().store.get("shop#2");
    expect(held).toMatchObject({ status: "held", drift: { owned: { managers: ["argocd-controller"], fields: [".spec.rules"] } } });
    expect(
      world()
        .kube.mutations("httproutes", "store", "shop")
        .map((m) => m.status),
    ).toEqual([409]);
    const msg = await waitFor(async () => (await get(`/api/state?user=${ALICE}`)).messages.find((m: { text: string }) => m.text.includes("shop#2")), {
      what: "shop's message",
    });
    const reapply = await waitFor(
      () =>
        world()
          .slack.buttons("C0DEPLOYS", msg.ts)
          .find((b) => b.text.startsWith("Re-apply")),
      { what: "Re-apply" },
    );
    await post("/api/click", { user: ALICE, ts: msg.ts, blockId: reapply.block_id, actionId: reapply.action_id });
    await waitFor(async () => ((await world().bot().store.get("shop#2"))?.status === "active" ? true : undefined), { what: "the rollout to run" });
    await waitFor(
      () =>
        world()
          .kube.mutations("httproutes", "store", "shop")
          .some((m) => m.status === 200)
          ? true
          : undefined,
      {
        what: "the forced apply",
      },
    );
  }, 45_000);

  it("Flux route with gitops: pause: the reconcile is disabled for the rollout", async () => {
    await post("/api/command", { user: ALICE, text: "start cart --to cart-v2" });
    await waitFor(
      () =>
        (world().kube.get("httproutes", "store", "cart")?.metadata?.annotations as Record<string, string> | undefined)?.[
          "kustomize.toolkit.fluxcd.io/reconcile"
        ] === "disabled"
          ? true
          : undefined,
      {
        what: "the Flux pause on route cart",
        timeoutMs: 15_000,
      },
    );
    await waitFor(async () => ((await seen()).includes("Flux's reconcile is paused for this rollout") ? true : undefined), {
      what: "the pause in the thread",
      timeoutMs: 15_000,
    });
  }, 30_000);
});

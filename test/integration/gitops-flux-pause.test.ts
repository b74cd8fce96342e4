import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FluxPeer } from "../../sandbox/peers/flux.ts";
import { GITOPS_TYPES, fluxKustomization } from "../../sandbox/peers/kube-api-gitops.ts";
import { CHANNEL, clickButton, startHarness, waitForEphemeral, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { HTTPROUTE_CRD, crdValidator } from "../support/crd-schema.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 21, the Pause button: a local kustomize-controller (sandbox/peers/flux.ts) owns the route. While its
 * Kustomization ignores the bot's fields the rollout runs; once that rule is gone Flux puts git's weights back,
 * the bot holds on a GitOps revert and offers Adopt, "Pause Flux for this rollout" and Abort. Only someone with
 * the advance right may press it; pressing it disables Flux's reconcile of the route for the rollout (recorded,
 * said in the thread, audited), writes the bot's weights back, and Finish takes the pause off. A late click of
 * the same button is refused privately and changes nothing. A bot stopped with the pause set leaves it only until
 * the rollout ends under the next process (Abort).
 */

const ALICE = "UALICE";
const BOB = "UBOB";
const NS = "shop";
const TARGETS = `
targets:
  - name: web
    namespace: ${NS}
    router: gateway
    stable: web-v1
    steps: [10, 100]
    gateway: { httpRoute: web }
    metrics: { source: none, refreshSeconds: 3600 }
    policy: { advance: [${ALICE}], finish: [${ALICE}] }
  - name: api
    namespace: ${NS}
    router: gateway
    stable: web-v1
    steps: [100]
    gateway: { httpRoute: api }
    metrics: { source: none, refreshSeconds: 3600 }
`;
const ignoring = (name: string) => ({
  paths: ["/spec/rules"],
  target: { group: "^gateway\\.networking\\.k8s\\.io$", kind: "HTTPRoute", name: `^${name}$`, namespace: "^shop$" },
});
const route = (name: string) => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name, namespace: NS },
  spec: { parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }], rules: [{ backendRefs: [{ name: "web-v1", port: 8080, weight: 1 }] }] },
});

let h: Harness;
let flux: FluxPeer;
beforeAll(async () => {
  h = await startHarness({
    targetsYaml: TARGETS,
    kube: {
      resources: GITOPS_TYPES,
      validators: { httproutes: crdValidator(HTTPROUTE_CRD), kustomizations: crdValidator("kustomize.toolkit.fluxcd.io_kustomizations.v1.9.4.yaml") },
    },
  });
  h.kube.seed("kustomizations", "flux-system", fluxKustomization("apps", { ignore: [ignoring("web")] }));
  h.kube.seed("kustomizations", "flux-system", fluxKustomization("api", { ignore: [ignoring("api")] }));
  flux = new FluxPeer(h.kube);
  flux.manage("apps", "httproutes", route("web"));
  flux.manage("api", "httproutes", route("api"));
});
afterAll(async () => {
  flux?.stop();
  await h?.close();
});

const weights = (name = "web") =>
  ((h.kube.get("httproutes", NS, name)!.spec as { rules: { backendRefs: { name: string; weight: number }[] }[] }).rules[0]!.backendRefs ?? []).map(
    (r) => `${r.name} ${r.weight}`,
  );
const annotations = (name = "web") => (h.kube.get("httproutes", NS, name)!.metadata as { annotations?: Record<string, string> }).annotations ?? {};

describe("Pause Flux for this rollout", () => {
  it("offered on a Flux revert, refused without the right, pauses Flux and re-applies; a late click is refused; Finish takes it off", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --from web-v1 --to web-v2" });
    // kustomize-controller applied the rules with force: the first apply is refused naming it; Re-apply takes them.
    await waitForMessage(h, "web#1", "Re-apply", 15_000);
    await clickButton(h, "web#1", ALICE, "Re-apply 100/0");
    await waitForMessage(h, "web#1", "Start shifting (10%)");
    await clickButton(h, "web#1", ALICE, "Start shifting (10%)");
    await waitForMessage(h, "web#1", "Advance to 100%");
    flux.reconcile();
    expect(flux.reverts).toEqual([]);
    expect(weights()).toEqual(["web-v1 90", "web-v2 10"]);

    // The ignore rule leaves git: Flux's next reconcile puts git's weights back.
    h.kube.edit("kustomizations", "flux-system", "apps", (ks) => {
      delete (ks.spec as Record<string, unknown>).ignore;
    });
    flux.reconcile();
    expect(flux.reverts).toHaveLength(1);
    expect(weights()).toEqual(["web-v1 1"]);
    await clickButton(h, "web#1", ALICE, "Advance to 100%");
    const held = await waitForMessage(h, "web#1", "Pause Flux for this rollout", 15_000);
    expect(h.slack.buttons(CHANNEL, held.ts).map((b) => b.text)).toEqual(["Adopt 100/0", "Pause Flux for this rollout", "Abort"]);
    const thread = () => h.slack.thread(CHANNEL, held.ts).map((t) => t.text ?? "");
    const said = await waitFor(() => thread().find((t) => t.includes("Flux (`kustomize-controller`) put")), { what: "the Flux revert in the thread" });
    expect(said).toContain("Kustomization `apps` corrects drift on this object at every reconcile");
    expect(said).toContain("Or press *Pause Flux for this rollout*");
    const pauseButton = h.slack.findButton(CHANNEL, held.ts, "Pause Flux for this rollout");

    // Bob may not advance: refused privately, nothing paused or written.
    const writesBefore = h.kube.mutations("httproutes").length;
    await clickButton(h, "web#1", BOB, "Pause Flux for this rollout");
    await waitForEphemeral(h, BOB, "advance");
    expect(annotations()["kustomize.toolkit.fluxcd.io/reconcile"]).toBeUndefined();
    expect(h.kube.mutations("httproutes")).toHaveLength(writesBefore);
    expect((await h.bot.store.get("web#1"))?.status).toBe("held");

    await clickButton(h, "web#1", ALICE, "Pause Flux for this rollout");
    // The Advance to 100% that met the revert is what gets written, now that Flux leaves the route alone.
    await waitForMessage(h, "web#1", "Finish");
    expect(annotations()).toMatchObject({ "kustomize.toolkit.fluxcd.io/reconcile": "disabled", "rollout-bot.io/paused-for": "web#1" });
    expect(weights()).toEqual(["web-v1 0", "web-v2 100"]);
    const r = await h.bot.store.get("web#1");
    expect(r?.gitopsPaused).toEqual([
      { group: "gateway.networking.k8s.io", version: "v1", plural: "httproutes", kind: "HTTPRoute", namespace: NS, name: "web" },
    ]);
    expect(r?.gitopsPauseAsked).toBeUndefined();
    flux.reconcile(); // paused: the bot's weights stay
    expect(flux.reverts).toHaveLength(1);
    expect(weights()).toEqual(["web-v1 0", "web-v2 100"]);
    await waitFor(() => thread().find((t) => t.includes("Pause Flux for this rollout. HTTPRoute `shop/web`: Flux's reconcile is paused for this rollout")), {
      what: "the pause in the thread",
    });
    expect(thread().find((t) => t.includes("pausing Flux (Kustomization `apps`)"))).toContain(
      "resumed the rollout: re-applying 100%, pausing Flux (Kustomization `apps`) on this object for the rollout, then taking the fields from `kustomize-controller` (force)",
    );

    // The same button clicked late (from the old message): refused privately, nothing written again.
    const writesAfter = h.kube.mutations("httproutes").length;
    await h.driver.click({ userId: ALICE, channelId: CHANNEL, messageTs: held.ts, button: pauseButton, stale: true });
    await waitForEphemeral(h, ALICE, "has no drift to resolve");
    expect(h.kube.mutations("httproutes")).toHaveLength(writesAfter);

    const { entries } = await h.bot.audit.timeline("web#1", 100);
    const pressed = entries.filter((e) => e.action === "pause-flux");
    expect(pressed.map((e) => e.outcome)).toEqual(["refused", "done", "refused"]);
    expect(pressed[1]!.detail).toContain("pausing Flux (Kustomization `apps`)");
    expect(entries.filter((e) => e.action === "gitops").map((e) => e.detail)).toContainEqual(
      expect.stringContaining("Flux's reconcile is paused for this rollout"),
    );

    await clickButton(h, "web#1", ALICE, "Finish");
    await waitForMessage(h, "web#1", "Completed");
    expect(annotations()).toEqual({});
    expect((await h.bot.store.get("web#1"))?.gitopsPaused).toBeUndefined();
    await waitFor(() => thread().find((t) => t.includes("Flux's reconcile is back on")), { what: "the resume in the thread" });
  });

  // Last: it stops this file's bot (afterAll still closes the peers).
  it("a pause the button set outlives a bot stopped mid-rollout only until the rollout ends under the next process (Abort)", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start api --from web-v1 --to web-v2" });
    await waitForMessage(h, "api#1", "Re-apply", 15_000);
    await clickButton(h, "api#1", ALICE, "Re-apply 100/0");
    await waitForMessage(h, "api#1", "Start shifting (100%)");
    await clickButton(h, "api#1", ALICE, "Start shifting (100%)");
    await waitForMessage(h, "api#1", "Finish");
    h.kube.edit("kustomizations", "flux-system", "api", (ks) => {
      delete (ks.spec as Record<string, unknown>).ignore;
    });
    flux.reconcile();
    expect(weights("api")).toEqual(["web-v1 1"]);
    // Finish meets Flux's revert: not made permanent, held, with the button.
    await clickButton(h, "api#1", ALICE, "Finish");
    await waitForMessage(h, "api#1", "Pause Flux for this rollout", 15_000);
    await clickButton(h, "api#1", ALICE, "Pause Flux for this rollout");
    await waitForMessage(h, "api#1", (t) => t.includes("Finish") && !t.includes("Pause Flux"));
    expect(annotations("api")).toMatchObject({ "kustomize.toolkit.fluxcd.io/reconcile": "disabled", "rollout-bot.io/paused-for": "api#1" });
    expect(weights("api")).toEqual(["web-v1 0", "web-v2 100"]);
    await h.stopBot();

    const second = await startHarness({ reuse: h, targetsYaml: TARGETS });
    try {
      flux.reconcile(); // still paused while the bot is away
      expect(weights("api")).toEqual(["web-v1 0", "web-v2 100"]);
      await clickButton(second, "api#1", ALICE, "Abort");
      await waitForMessage(second, "api#1", "Aborted");
      expect(annotations("api")).toEqual({});
      expect((await second.bot.store.get("api#1"))?.gitopsPaused).toBeUndefined();
      // Flux is back on: git's weights return at its next reconcile.
      flux.reconcile();
      expect(weights("api")).toEqual(["web-v1 1"]);
    } finally {
      await second.stopBot();
    }
  });
});

import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { withSnippet, type Snippet } from "../../src/engine/ownership.ts";
import type { KubeObject } from "../../sandbox/peers/kube-api.ts";
import { GITOPS_TYPES, argoApplication, fluxKustomization } from "../../sandbox/peers/kube-api-gitops.ts";
import { CHANNEL, clickButton, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { HTTPROUTE_CRD, crdValidator } from "../support/crd-schema.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 21 through Slack: a start whose route a GitOps owner would put back is refused privately with the
 * snippet; the snippet written to the owner lets the next start through, and the thread says who owns the
 * route; `gitops: pause` on a Flux-owned route disables Flux's reconcile for the rollout and takes it off
 * when the rollout ends (Abort here), audited and said in the thread.
 */

const ALICE = "UALICE";
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
  - name: paused
    namespace: ${NS}
    router: gateway
    stable: web-v1
    steps: [10, 100]
    gitops: pause
    gateway: { httpRoute: paused }
    metrics: { source: none, refreshSeconds: 3600 }
`;

const route = (name: string, metadata: Record<string, unknown>): KubeObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name, ...metadata },
  spec: { parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }], rules: [{ backendRefs: [{ name: "web-v1", port: 8080, weight: 1 }] }] },
});

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    targetsYaml: TARGETS,
    kube: {
      resources: GITOPS_TYPES,
      validators: {
        httproutes: crdValidator(HTTPROUTE_CRD),
        applications: crdValidator("argoproj.io_applications.v3.5.1.yaml"),
        kustomizations: crdValidator("kustomize.toolkit.fluxcd.io_kustomizations.v1.9.4.yaml"),
      },
    },
  });
});
afterAll(() => h?.close());
beforeEach(() => h.kube.reset());

async function startAndRefuse(text: string): Promise<string> {
  const res = await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text });
  const reply = await waitFor(() => h.slack.responses(res.responseUrl).find((p) => p.text?.includes("Cannot start")), { what: `refusal of "${text}"` });
  expect(reply.response_type ?? "ephemeral").toBe("ephemeral");
  return reply.text!;
}

const annotations = (name: string) => (h.kube.get("httproutes", NS, name)!.metadata as { annotations?: Record<string, string> }).annotations ?? {};

describe("GitOps owners at the start", () => {
  it("Argo CD self-heal refuses privately with the snippet; the snippet applied to the Application lets the next start through", async () => {
    h.kube.seed("httproutes", NS, route("web", { annotations: { "argocd.argoproj.io/tracking-id": "shop:gateway.networking.k8s.io/HTTPRoute:shop/web" } }));
    h.kube.seed("applications", "argocd", argoApplication("shop", { syncPolicy: { automated: { selfHeal: true } } }));
    const text = await startAndRefuse("start web --from web-v1 --to web-v2");
    expect(text).toContain("HTTPRoute `shop/web` is owned by Argo CD Application `shop` in `argocd`: self-heal is on");
    expect(text).toContain("Add this to Application `argocd/shop` in git");
    expect(text).toContain("jsonPointers:\n        - /spec/rules");
    expect(text).toContain("- RespectIgnoreDifferences=true");
    expect(text).toContain("While it is in place, Argo CD neither shows nor syncs a change to `/spec/rules`");
    expect(h.kube.requests.filter((r) => r.mutating)).toEqual([]); // reads and the router's dry run only
    expect((await h.bot.store.get("web#1"))?.status).toBe("rejected");

    // What the person adds in git, as the bot offered it (the same snippet the judgement produced).
    const snippet: Snippet = {
      kind: "argocd",
      application: { name: "shop", namespace: "argocd" },
      ignoreDifferences: { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "web", namespace: "shop", jsonPointers: ["/spec/rules"] },
      syncOption: "RespectIgnoreDifferences=true",
      system: {
        configMap: { name: "argocd-cm", namespace: "argocd" },
        key: "resource.customizations.ignoreDifferences.gateway.networking.k8s.io_HTTPRoute",
        rule: { managedFieldsManagers: ["rollout-bot"] },
      },
    };
    h.kube.edit("applications", "argocd", "shop", (app) => {
      app.spec = withSnippet(app.spec as Record<string, unknown>, snippet);
    });
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --from web-v1 --to web-v2" });
    const m = await waitForMessage(h, "web#2", "Start shifting (10%)");
    await waitFor(() => (h.slack.thread(CHANNEL, m.ts).some((t) => t.text?.includes("is owned by Argo CD Application")) ? true : undefined), {
      what: "the owner line in the thread",
    });
    const owned = h.slack.thread(CHANNEL, m.ts).find((t) => t.text?.includes("is owned by Argo CD Application"))!.text!;
    expect(owned).toContain("its `ignoreDifferences` covers the bot's fields, with `RespectIgnoreDifferences=true`. The bot's fields are left alone there.");
    await clickButton(h, "web#2", ALICE, "Abort");
    await waitForMessage(h, "web#2", "Aborted");
    const back = await waitFor(() => h.slack.thread(CHANNEL, m.ts).find((t) => t.text?.includes("Back to git")), { what: "the back-to-git note" });
    // Abort put all traffic on web-v1 as 100 (git had 1) and kept web-v2 at 0: git must now say so.
    expect(back.text).toContain("HTTPRoute `shop/web` (Argo CD Application `shop` in `argocd`): *the cluster now differs from git*");
    expect(back.text).toContain(
      "kind: HTTPRoute\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  rules:\n    - backendRefs:\n        - name: web-v1\n          port: 8080\n          weight: 100",
    );
  });

  it("gitops: pause on a Flux-owned route: reconcile disabled for the rollout, taken off at Abort, audited and in the thread", async () => {
    h.kube.seed(
      "httproutes",
      NS,
      route("paused", {
        labels: { "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system" },
        annotations: { "example.com/team": "shop" },
      }),
    );
    h.kube.seed("kustomizations", "flux-system", fluxKustomization("apps"));
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start paused --from web-v1 --to web-v2" });
    const m = await waitForMessage(h, "paused#1", "Start shifting (10%)");
    expect(annotations("paused")).toMatchObject({ "kustomize.toolkit.fluxcd.io/reconcile": "disabled", "rollout-bot.io/paused-for": "paused#1" });
    // Set by server-side apply: the pause's own field manager owns exactly the two annotations.
    const managed = h.kube.get("httproutes", NS, "paused")!.metadata!.managedFields as { manager: string; operation: string; fieldsV1: unknown }[];
    expect(managed.find((e) => e.manager === "rollout-bot-pause")).toMatchObject({
      operation: "Apply",
      fieldsV1: { "f:metadata": { "f:annotations": { "f:kustomize.toolkit.fluxcd.io/reconcile": {}, "f:rollout-bot.io/paused-for": {} } } },
    });
    expect(h.kube.mutations("httproutes", NS, "paused").map((m) => `${m.status} ${new URLSearchParams(m.query).get("fieldManager")}`)).toContain(
      "200 rollout-bot-pause",
    );
    expect((await h.bot.store.get("paused#1"))?.gitopsPaused).toEqual([
      { group: "gateway.networking.k8s.io", version: "v1", plural: "httproutes", kind: "HTTPRoute", namespace: NS, name: "paused" },
    ]);
    await waitFor(() => (h.slack.thread(CHANNEL, m.ts).some((t) => t.text?.includes("Flux's reconcile is paused for this rollout")) ? true : undefined), {
      what: "the pause in the thread",
    });

    await clickButton(h, "paused#1", ALICE, "Abort");
    await waitForMessage(h, "paused#1", "Aborted");
    expect(annotations("paused")).toEqual({ "example.com/team": "shop" }); // only the pause was taken off
    const r = await h.bot.store.get("paused#1");
    expect(r?.gitopsPaused).toBeUndefined();
    await waitFor(() => (h.slack.thread(CHANNEL, m.ts).some((t) => t.text?.includes("Flux's reconcile is back on")) ? true : undefined), {
      what: "the resume in the thread",
    });
    const { entries } = await h.bot.audit.timeline("paused#1", 100);
    expect(entries.filter((e) => e.action === "gitops").map((e) => e.detail)).toEqual([
      expect.stringContaining("reconcile is paused for this rollout"),
      expect.stringContaining("Back to git. HTTPRoute `shop/paused` (Flux Kustomization `apps` in `flux-system`): *the cluster now differs from git*"),
      expect.stringContaining("reconcile is back on"),
    ]);
  });

  it("gitops: pause does not cover Argo CD: refused, saying why", async () => {
    h.kube.seed(
      "httproutes",
      NS,
      route("paused", { annotations: { "argocd.argoproj.io/tracking-id": "shop:gateway.networking.k8s.io/HTTPRoute:shop/paused" } }),
    );
    h.kube.seed("applications", "argocd", argoApplication("shop", { syncPolicy: { automated: { selfHeal: true } } }));
    const text = await startAndRefuse("start paused --from web-v1 --to web-v2");
    expect(text).toContain("`gitops: pause` covers Flux only");
    expect(annotations("paused")["kustomize.toolkit.fluxcd.io/reconcile"]).toBeUndefined();
    expect(h.kube.requests.filter((r) => r.mutating)).toEqual([]);
  });

  // Last: it stops this file's bot (afterAll still closes the peers and the keys).
  it("gitops: pause outlives a bot stopped mid-rollout only until the rollout ends under the next process (Finish)", async () => {
    h.kube.seed(
      "httproutes",
      NS,
      route("paused", { labels: { "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system" } }),
    );
    h.kube.seed("kustomizations", "flux-system", fluxKustomization("apps"));
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start paused --from web-v1 --to web-v2" });
    await waitForMessage(h, "paused#3", "Start shifting (10%)");
    expect(annotations("paused")["kustomize.toolkit.fluxcd.io/reconcile"]).toBe("disabled");
    await h.stopBot();

    const second = await startHarness({ reuse: h, targetsYaml: TARGETS });
    try {
      await clickButton(second, "paused#3", ALICE, "Start shifting (10%)");
      await waitForMessage(second, "paused#3", "Advance to 100%");
      expect(annotations("paused")["kustomize.toolkit.fluxcd.io/reconcile"]).toBe("disabled");
      await clickButton(second, "paused#3", ALICE, "Advance to 100%");
      await waitForMessage(second, "paused#3", "Finish");
      await clickButton(second, "paused#3", ALICE, "Finish");
      await waitForMessage(second, "paused#3", "Completed");
      expect(annotations("paused")).toEqual({});
      expect((await second.bot.store.get("paused#3"))?.gitopsPaused).toBeUndefined();
    } finally {
      await second.stopBot();
    }
  });
});

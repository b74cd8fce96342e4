import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArgoCdPeer } from "../../sandbox/peers/argocd.ts";
import { GITOPS_TYPES, argoApplication } from "../../sandbox/peers/kube-api-gitops.ts";
import { CHANNEL, clickButton, startHarness, waitForMessage, type Harness } from "../support/bot-harness.ts";
import { HTTPROUTE_CRD, crdValidator } from "../support/crd-schema.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 21: a local self-healing Argo CD (sandbox/peers/argocd.ts) owns the route. While its
 * Application ignores the bot's fields the rollout runs; once that entry is gone Argo CD puts git's weights
 * back within 2 s, and the bot says so as a GitOps revert naming the manager, the time and the Application,
 * never as a hand edit, and offers Adopt, Abort and the snippet instead of Re-apply.
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
`;
const IGNORE = { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "web", namespace: NS, jsonPointers: ["/spec/rules"] };

let h: Harness;
let argo: ArgoCdPeer;
beforeAll(async () => {
  h = await startHarness({
    targetsYaml: TARGETS,
    kube: {
      resources: GITOPS_TYPES,
      validators: { httproutes: crdValidator(HTTPROUTE_CRD), applications: crdValidator("argoproj.io_applications.v3.5.1.yaml") },
    },
  });
  h.kube.seed(
    "applications",
    "argocd",
    argoApplication("shop", { ignoreDifferences: [IGNORE], syncPolicy: { automated: { selfHeal: true }, syncOptions: ["RespectIgnoreDifferences=true"] } }),
  );
  argo = new ArgoCdPeer(h.kube, { intervalMs: 300 });
  argo.manage("shop", "httproutes", {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "web", namespace: NS },
    spec: { parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }], rules: [{ backendRefs: [{ name: "web-v1", port: 8080, weight: 1 }] }] },
  });
  argo.start();
});
afterAll(async () => {
  argo?.stop();
  await h?.close();
});

/** Who owns the route's atomic rules list, as the peer's managedFields say. */
const managersOfRules = () =>
  ((h.kube.get("httproutes", NS, "web")!.metadata!.managedFields ?? []) as { manager: string; fieldsV1: { "f:spec"?: Record<string, unknown> } }[])
    .filter((e) => e.fieldsV1["f:spec"]?.["f:rules"] !== undefined)
    .map((e) => e.manager);

const weights = () =>
  ((h.kube.get("httproutes", NS, "web")!.spec as { rules: { backendRefs: { name: string; weight: number }[] }[] }).rules[0]!.backendRefs ?? []).map(
    (r) => `${r.name} ${r.weight}`,
  );

describe("a self-healing Argo CD owns the route", () => {
  it("ignored: the rollout runs; then a revert within 2 s is shown as a GitOps revert with the snippet, never as a hand edit", async () => {
    await h.driver.slash({ userId: ALICE, channelId: CHANNEL, text: "start web --from web-v1 --to web-v2" });
    // Argo CD applied the rules (server-side, forced): the bot's own apply is refused naming it, never forced
    // silently; nothing was written. Re-apply takes the rules (force=true), in the thread and the audit trail.
    const owned = await waitForMessage(h, "web#1", "Re-apply", 15_000);
    expect(h.slack.buttons(CHANNEL, owned.ts).map((b) => b.text)).toEqual(["Re-apply 100/0", "Abort"]);
    const ownedText = JSON.stringify(owned.blocks);
    expect(ownedText).toContain("is owned by Argo CD (`argocd-controller`) (Argo CD Application `shop` in `argocd`)");
    expect(ownedText).toContain("`.spec.rules`");
    expect(weights()).toEqual(["web-v1 1"]);
    expect(managersOfRules()).toEqual(["argocd-controller"]);
    await clickButton(h, "web#1", ALICE, "Re-apply 100/0");
    await waitForMessage(h, "web#1", "Start shifting (10%)");
    await waitFor(() => (managersOfRules().join() === "rollout-bot" ? true : undefined), { what: "the bot to own the rules" });
    expect(h.kube.mutations("httproutes").map((m) => `${m.status} ${new URLSearchParams(m.query).get("force")}`)).toEqual(["409 false", "200 true"]);
    const ownedThread = () => h.slack.thread(CHANNEL, owned.ts).map((t) => t.text ?? "");
    expect(ownedThread().find((t) => t.includes("held the rollout"))).toContain("Re-apply takes it over (a forced apply, recorded in the audit trail)");
    await waitFor(() => ownedThread().find((t) => t.includes("re-applying 0%, taking .spec.rules from `argocd-controller` (force)")), {
      what: "the forced Re-apply in the thread",
    });
    const { entries: audit } = await h.bot.audit.timeline("web#1", 50);
    expect(JSON.stringify(audit)).toContain("taking .spec.rules from `argocd-controller` (force)");
    await clickButton(h, "web#1", ALICE, "Start shifting (10%)");
    await waitForMessage(h, "web#1", "Advance to 100%");
    expect(weights()).toEqual(["web-v1 90", "web-v2 10"]);
    await new Promise((r) => setTimeout(r, 900)); // several passes of Argo CD: the ignored fields stay
    expect(weights()).toEqual(["web-v1 90", "web-v2 10"]);
    expect(argo.heals).toEqual([]);

    // Someone drops the ignore entry from the Application: Argo CD self-heals the route.
    const edited = Date.now();
    h.kube.edit("applications", "argocd", "shop", (app) => {
      delete (app.spec as Record<string, unknown>).ignoreDifferences;
    });
    await waitFor(() => (argo.heals.length ? true : undefined), { what: "Argo CD to self-heal", timeoutMs: 2_000 });
    expect(argo.heals[0]!.at - edited).toBeLessThan(2_000);
    expect(weights()).toEqual(["web-v1 1"]);

    await clickButton(h, "web#1", ALICE, "Advance to 100%");
    const held = await waitForMessage(h, "web#1", "Held", 15_000);
    const shown = JSON.stringify(held.blocks);
    const m = held;
    const thread = () => h.slack.thread(CHANNEL, m.ts).map((t) => t.text ?? "");
    const said = await waitFor(() => thread().find((t) => t.includes("Argo CD (`argocd-controller`) put")), { what: "the GitOps revert in the thread" });
    expect(said).toMatch(/Argo CD \(`argocd-controller`\) put 100\/0 back at \d\d:\d\d UTC: Application `shop` self-heals this object/);
    expect(said).toContain("This is a GitOps revert, not a hand edit");
    expect(said).toContain("jsonPointers:\n        - /spec/rules");
    expect(said).not.toContain("by hand");
    expect(shown).not.toContain("by hand");
    const buttons = h.slack.buttons(CHANNEL, held.ts).map((b) => b.text);
    expect(buttons).toEqual(["Adopt 100/0", "Abort"]);
    expect((await h.bot.store.get("web#1"))?.drift?.by).toMatchObject({
      manager: "argocd-controller",
      gitops: { owner: { kind: "argocd", name: "shop" }, reason: "self-heal" },
    });
  });
});

import { describe, expect, it } from "vitest";
import {
  DEFAULT_GITOPS,
  judgeOwnership,
  ownsField,
  parseTrackingId,
  withSnippet,
  withSystemSnippet,
  type ArgoCmRules,
  type ObjectSignals,
  type OwnerSpecs,
  type Snippet,
  type WrittenObject,
} from "../../src/engine/ownership.ts";

const route: WrittenObject = { group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "shop", name: "web", fields: ["/spec/rules"] };
const tracking = "shop:gateway.networking.k8s.io/HTTPRoute:shop/web";
const none: ObjectSignals = { labels: {}, annotations: {}, managedFields: [] };
const settings = DEFAULT_GITOPS;
const selfHeal = { syncPolicy: { automated: { selfHeal: true, prune: true } } };
const argoSigned: ObjectSignals = { ...none, annotations: { "argocd.argoproj.io/tracking-id": tracking } };
const fluxLabelled: ObjectSignals = { ...none, labels: { "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system" } };

describe("who owns an object the bot writes", () => {
  it("nothing names an owner: not owned", () => {
    expect(judgeOwnership(route, none, {}, settings)).toMatchObject({ verdict: "not-owned", owners: [] });
  });

  it("reads Argo CD tracking ids, in the control plane and in any namespace", () => {
    expect(parseTrackingId(tracking, "argocd")).toEqual({
      app: "shop",
      appNamespace: "argocd",
      group: "gateway.networking.k8s.io",
      kind: "HTTPRoute",
      namespace: "shop",
      name: "web",
    });
    expect(parseTrackingId("team-a_shop:apps/Deployment:shop/web-v1", "argocd")).toMatchObject({ app: "shop", appNamespace: "team-a", group: "apps" });
    expect(parseTrackingId("guestbook:/Service:default/guestbook-ui", "argocd")).toMatchObject({ group: "", kind: "Service" });
    expect(parseTrackingId("shop:HTTPRoute:shop/web", "argocd")).toBeUndefined();
  });

  it("a tracking annotation copied from another object is not ownership", () => {
    const copied = { ...none, annotations: { "argocd.argoproj.io/tracking-id": "shop:gateway.networking.k8s.io/HTTPRoute:shop/other" } };
    expect(judgeOwnership(route, copied, { argocd: { state: "read", spec: selfHeal } }, settings).verdict).toBe("not-owned");
  });

  it("Argo CD with self-heal puts the bot's weights back, and says what to add", () => {
    const v = judgeOwnership(route, argoSigned, { argocd: { state: "read", spec: selfHeal } }, settings);
    expect(v.verdict).toBe("will-revert");
    expect(v.owners[0]).toMatchObject({ owner: { kind: "argocd", name: "shop", namespace: "argocd", via: "annotation" }, reason: "self-heal" });
    expect(v.owners[0]!.snippet).toEqual({
      kind: "argocd",
      application: { name: "shop", namespace: "argocd" },
      ignoreDifferences: { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "web", namespace: "shop", jsonPointers: ["/spec/rules"] },
      syncOption: "RespectIgnoreDifferences=true",
      system: {
        configMap: { name: "argocd-cm", namespace: "argocd" },
        key: "resource.customizations.ignoreDifferences.gateway.networking.k8s.io_HTTPRoute",
        rule: { managedFieldsManagers: ["rollout-bot"] },
      },
    });
  });

  it("Argo CD's argocd-cm rules count as the Application's own; unread, they are unknown unless the Application decides alone", () => {
    const respect = { syncPolicy: { automated: { selfHeal: true }, syncOptions: ["RespectIgnoreDifferences=true"] } };
    const appEntry = { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "web", jsonPointers: ["/spec/rules"] };
    const key = "resource.customizations.ignoreDifferences.gateway.networking.k8s.io_HTTPRoute";
    const judge = (spec: Record<string, unknown>, cm: OwnerSpecs["argocd-cm"]) =>
      judgeOwnership(route, argoSigned, { argocd: { state: "read", spec }, ...(cm ? { "argocd-cm": cm } : {}) }, settings).owners[0]!;
    const rules = (r: ArgoCmRules) => ({ state: "read" as const, spec: r });
    const forbidden = { state: "unreadable" as const, why: "forbidden" as const, message: 'configmaps "argocd-cm" is forbidden' };
    // argocd-cm alone: by group_kind, by `all`, by JSON pointer, jq path or the bot's field manager.
    expect(judge(respect, rules({ [key]: { jsonPointers: ["/spec/rules"] } }))).toMatchObject({ verdict: "ignored", reason: "argocd-cm-ignore" });
    expect(judge(respect, rules({ "resource.customizations.ignoreDifferences.all": { jqPathExpressions: [".spec"] } })).verdict).toBe("ignored");
    expect(judge(respect, rules({ [key]: { managedFieldsManagers: ["rollout-bot"] } })).verdict).toBe("ignored");
    expect(judge(respect, rules({ [key]: { managedFieldsManagers: ["kube-controller-manager"] } }))).toMatchObject({ reason: "self-heal" });
    expect(judge(respect, rules({ "resource.customizations.ignoreDifferences.apps_Deployment": { jsonPointers: ["/spec"] } })).verdict).toBe("will-revert");
    // ...still only with RespectIgnoreDifferences=true on the Application.
    expect(judge(selfHeal, rules({ [key]: { jsonPointers: ["/spec/rules"] } }))).toMatchObject({ verdict: "will-revert", reason: "ignore-without-respect" });
    // The Application alone; both.
    expect(judge({ ...respect, ignoreDifferences: [appEntry] }, rules({}))).toMatchObject({ verdict: "ignored", reason: "ignore-differences" });
    expect(judge({ ...respect, ignoreDifferences: [appEntry] }, rules({ [key]: { jsonPointers: ["/spec/rules"] } })).reason).toBe("ignore-differences");
    // Unreadable (403, or missing): unknown, with the snippet and what the API said; an Application that covers decides alone.
    const unknown = judge(respect, forbidden);
    expect(unknown).toMatchObject({ verdict: "unknown", reason: "argocd-cm-unreadable", message: 'configmaps "argocd-cm" is forbidden' });
    expect(unknown.snippet?.kind).toBe("argocd");
    expect(judge(respect, { state: "missing" })).toMatchObject({ verdict: "unknown", reason: "argocd-cm-unreadable" });
    expect(judge({ ...respect, ignoreDifferences: [appEntry] }, forbidden)).toMatchObject({ verdict: "ignored", reason: "ignore-differences" });
    // Without RespectIgnoreDifferences the answer is "will revert" whatever argocd-cm says.
    expect(judge(selfHeal, forbidden)).toMatchObject({ verdict: "will-revert", reason: "self-heal" });
    // The system-level snippet, added to argocd-cm (and the sync option to the Application), makes it ignored.
    const before = judge(selfHeal, rules({}));
    const snippet = before.snippet as Extract<Snippet, { kind: "argocd" }>;
    const cm = withSystemSnippet({ [key]: { jsonPointers: ["/metadata/labels"] } }, snippet);
    expect(cm[key]).toEqual({ jsonPointers: ["/metadata/labels"], managedFieldsManagers: ["rollout-bot"] });
    expect(withSystemSnippet(cm, snippet)).toEqual(cm);
    expect(judge(respect, rules(cm))).toMatchObject({ verdict: "ignored", reason: "argocd-cm-ignore" });
  });

  it("Argo CD: auto-sync without self-heal and manual sync still revert, at the next sync", () => {
    const reason = (spec: Record<string, unknown>) => judgeOwnership(route, argoSigned, { argocd: { state: "read", spec } }, settings).owners[0]!.reason;
    expect(reason({ syncPolicy: { automated: {} } })).toBe("auto-sync");
    expect(reason({ syncPolicy: { automated: { enabled: false, selfHeal: true } } })).toBe("manual-sync");
    expect(reason({})).toBe("manual-sync");
  });

  it("Argo CD: ignoreDifferences covering the atomic list + RespectIgnoreDifferences is ignored; either alone is not", () => {
    const entry = { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "web", jsonPointers: ["/spec/rules"] };
    // An Argo CD whose argocd-cm holds no system-level rule: the Application alone decides.
    const judge = (spec: Record<string, unknown>) =>
      judgeOwnership(route, argoSigned, { argocd: { state: "read", spec }, "argocd-cm": { state: "read", spec: {} } }, settings).owners[0]!;
    const respect = { syncOptions: ["RespectIgnoreDifferences=true"] };
    expect(judge({ ignoreDifferences: [entry], syncPolicy: { ...selfHeal.syncPolicy, ...respect } })).toMatchObject({
      verdict: "ignored",
      reason: "ignore-differences",
    });
    expect(judge({ ignoreDifferences: [entry], ...selfHeal })).toMatchObject({ verdict: "will-revert", reason: "ignore-without-respect" });
    expect(judge({ syncPolicy: { ...selfHeal.syncPolicy, ...respect } })).toMatchObject({ verdict: "will-revert", reason: "self-heal" });
    // A pointer inside the atomic list does not cover the list; another route's entry does not either.
    expect(
      judge({ ignoreDifferences: [{ ...entry, jsonPointers: ["/spec/rules/0/backendRefs"] }], syncPolicy: { ...selfHeal.syncPolicy, ...respect } }).verdict,
    ).toBe("will-revert");
    expect(judge({ ignoreDifferences: [{ ...entry, name: "other" }], syncPolicy: { ...selfHeal.syncPolicy, ...respect } }).verdict).toBe("will-revert");
    // jq paths, wildcards and the bot's field manager count too.
    const policy = { syncPolicy: { ...selfHeal.syncPolicy, ...respect } };
    expect(judge({ ignoreDifferences: [{ group: "*", kind: "*", jqPathExpressions: [".spec"] }], ...policy }).verdict).toBe("ignored");
    expect(
      judge({ ignoreDifferences: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", managedFieldsManagers: ["rollout-bot"] }], ...policy }).verdict,
    ).toBe("ignored");
    expect(
      judge({ ignoreDifferences: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", managedFieldsManagers: ["kubectl"] }], ...policy }).verdict,
    ).toBe("will-revert");
  });

  it("Argo CD label tracking (older installs) names the Application in the control-plane namespace", () => {
    const labelled = { ...none, labels: { "app.kubernetes.io/instance": "shop" } };
    expect(judgeOwnership(route, labelled, { argocd: { state: "read", spec: selfHeal } }, settings).owners[0]!.owner).toEqual({
      kind: "argocd",
      name: "shop",
      namespace: "argocd",
      via: "label",
    });
  });

  it("an owner the bot cannot read, or that is gone, is unknown: never guessed as safe", () => {
    const forbidden = judgeOwnership(route, argoSigned, { argocd: { state: "unreadable", why: "forbidden", message: "applications is forbidden" } }, settings);
    expect(forbidden).toMatchObject({ verdict: "unknown", owners: [{ reason: "owner-unreadable", message: "applications is forbidden" }] });
    expect(judgeOwnership(route, argoSigned, { argocd: { state: "missing" } }, settings).owners[0]!.reason).toBe("owner-missing");
    expect(judgeOwnership(route, argoSigned, {}, settings).verdict).toBe("unknown");
  });

  it("a GitOps field manager alone names the controller but not its object: unknown", () => {
    const managed: ObjectSignals = {
      ...none,
      managedFields: [{ manager: "kustomize-controller", operation: "Apply", time: "2026-12-07T14:02:00Z", fieldsV1: { "f:spec": { "f:rules": {} } } }],
    };
    expect(judgeOwnership(route, managed, {}, settings)).toMatchObject({
      verdict: "unknown",
      owners: [{ owner: { kind: "flux-kustomization", via: "manager" }, reason: "owner-unnamed" }],
    });
    // Owning some other field (labels) is not owning what the bot writes.
    const elsewhere = { ...none, managedFields: [{ manager: "argocd-controller", fieldsV1: { "f:metadata": { "f:labels": { "f:app": {} } } } }] };
    expect(judgeOwnership(route, elsewhere, {}, settings).verdict).toBe("not-owned");
  });

  it("Flux: drift correction reverts; reconcile disabled, ssa Ignore, suspend or an ignore rule leave the bot alone", () => {
    const judge = (signals: ObjectSignals, spec: Record<string, unknown>) =>
      judgeOwnership(route, signals, { "flux-kustomization": { state: "read", spec } }, settings).owners[0]!;
    expect(judge(fluxLabelled, {})).toMatchObject({
      verdict: "will-revert",
      reason: "drift-correction",
      owner: { name: "apps", namespace: "flux-system" },
      snippet: {
        kind: "flux-kustomization",
        ignore: { paths: ["/spec/rules"], target: { group: "^gateway\\.networking\\.k8s\\.io$", kind: "HTTPRoute", name: "^web$", namespace: "^shop$" } },
      },
    });
    const annotated = (k: string, v: string) => ({ ...fluxLabelled, annotations: { [k]: v } });
    expect(judge(annotated("kustomize.toolkit.fluxcd.io/reconcile", "Disabled"), {}).reason).toBe("reconcile-disabled");
    expect(judge(annotated("kustomize.toolkit.fluxcd.io/ssa", "Ignore"), {}).reason).toBe("ssa-ignore");
    expect(judge(annotated("kustomize.toolkit.fluxcd.io/ssa", "Merge"), {}).verdict).toBe("will-revert"); // atomic lists are still put back
    expect(judge(fluxLabelled, { suspend: true }).reason).toBe("suspended");
    expect(judge(fluxLabelled, { ignore: [{ paths: ["/spec/rules"], target: { kind: "HTTPRoute", labelSelector: "tier=edge" } }] }).verdict).toBe(
      "will-revert",
    );
    const edge = { ...fluxLabelled, labels: { ...fluxLabelled.labels, tier: "edge" } };
    expect(judge(edge, { ignore: [{ paths: ["/spec/rules"], target: { kind: "HTTPRoute", labelSelector: "tier=edge" } }] }).reason).toBe("ignore-rule");
    expect(judge(fluxLabelled, { ignore: [{ paths: ["/spec"] }] }).reason).toBe("ignore-rule");
  });

  it("Flux helm-controller corrects drift only when drift detection is enabled", () => {
    const signals = { ...none, labels: { "helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "shop" } };
    const judge = (spec: Record<string, unknown>) => judgeOwnership(route, signals, { "flux-helmrelease": { state: "read", spec } }, settings).owners[0]!;
    expect(judge({}).reason).toBe("drift-detection-off");
    expect(judge({ driftDetection: { mode: "enabled" } })).toMatchObject({ verdict: "will-revert", reason: "helm-drift-correction" });
  });

  it("several owners: the worst verdict wins", () => {
    const both = { ...argoSigned, labels: fluxLabelled.labels };
    const v = judgeOwnership(route, both, { argocd: { state: "read", spec: {} }, "flux-kustomization": { state: "read", spec: { suspend: true } } }, settings);
    expect(v.owners.map((o) => [o.owner.kind, o.verdict])).toEqual([
      ["argocd", "will-revert"],
      ["flux-kustomization", "ignored"],
    ]);
    expect(v.verdict).toBe("will-revert");
  });

  it("other managers owning the bot's fields are listed (a server-side apply would conflict with them)", () => {
    const signals: ObjectSignals = {
      ...none,
      managedFields: [
        { manager: "rollout-bot", operation: "Apply", fieldsV1: { "f:spec": { "f:rules": {} } } },
        { manager: "kubectl-edit", operation: "Update", time: "2026-12-07T14:00:00Z", fieldsV1: { "f:spec": { "f:rules": {} } } },
        { manager: "flagger", operation: "Update", subresource: "status", fieldsV1: { "f:status": {} } },
      ],
    };
    expect(judgeOwnership(route, signals, {}, settings).fieldOwners).toEqual([
      { manager: "kubectl-edit", operation: "Update", time: "2026-12-07T14:00:00Z", fields: ["/spec/rules"] },
    ]);
    expect(ownsField({ "f:spec": { "f:replicas": {} } }, "/spec/replicas")).toBe(true);
    expect(ownsField({ "f:spec": { ".": {} } }, "/spec/replicas")).toBe(false);
  });

  it("every snippet, added to its owner, makes the same judgement say ignored", () => {
    const deployment: WrittenObject = { group: "apps", kind: "Deployment", namespace: "shop", name: "web-v1", fields: ["/spec/replicas"] };
    const cases: [WrittenObject, ObjectSignals, keyof OwnerSpecs, Record<string, unknown>][] = [
      [route, argoSigned, "argocd", selfHeal],
      [
        route,
        argoSigned,
        "argocd",
        {
          ignoreDifferences: [{ kind: "Service", jsonPointers: ["/spec"] }],
          syncPolicy: { automated: { selfHeal: true }, syncOptions: ["CreateNamespace=true"] },
        },
      ],
      [deployment, { ...none, annotations: { "argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/web-v1" } }, "argocd", selfHeal],
      [route, fluxLabelled, "flux-kustomization", { interval: "10m", prune: true }],
      [
        { ...route, group: "split.smi-spec.io", kind: "TrafficSplit", fields: ["/spec/backends"] },
        fluxLabelled,
        "flux-kustomization",
        { ignore: [{ paths: ["/metadata/labels"] }] },
      ],
      [
        route,
        { ...none, labels: { "helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "shop" } },
        "flux-helmrelease",
        { driftDetection: { mode: "enabled" } },
      ],
    ];
    for (const [obj, signals, kind, spec] of cases) {
      const before = judgeOwnership(obj, signals, { [kind]: { state: "read", spec } }, settings);
      expect(before.verdict, `${kind} ${obj.kind} before`).toBe("will-revert");
      const snippet = before.owners[0]!.snippet!;
      const after = withSnippet(spec, snippet);
      expect(judgeOwnership(obj, signals, { [kind]: { state: "read", spec: after } }, settings).verdict, `${kind} ${obj.kind} after`).toBe("ignored");
      expect(withSnippet(after, snippet), "adding it twice changes nothing").toEqual(after);
    }
  });
});

describe("back to git and who changed it", () => {
  it("the patch holds the bot's fields as the cluster holds them; differs says whether they moved since the start", async () => {
    const { backToGit, driftAuthor } = await import("../../src/engine/ownership.ts");
    const baseline = {
      object: { ...route, plural: "httproutes", versions: ["v1"] },
      apiVersion: "gateway.networking.k8s.io/v1",
      owner: { kind: "argocd" as const, name: "shop", namespace: "argocd", via: "annotation" as const },
      values: { "/spec/rules": [{ backendRefs: [{ name: "web-v1", weight: 1 }] }] },
    };
    const same = { spec: { rules: [{ backendRefs: [{ name: "web-v1", weight: 1 }] }], parentRefs: [] } };
    expect(backToGit(baseline, same)).toEqual({
      differs: false,
      patch: { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", metadata: { name: "web", namespace: "shop" }, spec: { rules: same.spec.rules } },
    });
    expect(backToGit(baseline, { spec: { rules: [{ backendRefs: [{ name: "web-v2", weight: 1 }] }] } }).differs).toBe(true);

    const signals: ObjectSignals = {
      ...argoSigned,
      managedFields: [
        { manager: "rollout-bot", operation: "Update", time: "2026-12-07T14:01:00Z", fieldsV1: { "f:spec": { "f:rules": {} } } },
        { manager: "argocd-controller", operation: "Apply", time: "2026-12-07T14:02:10Z", fieldsV1: { "f:spec": { "f:rules": {} } } },
      ],
    };
    const v = judgeOwnership(route, signals, { argocd: { state: "read", spec: selfHeal } }, settings);
    expect(driftAuthor(v, signals, settings)).toMatchObject({
      manager: "argocd-controller",
      time: "2026-12-07T14:02:10Z",
      gitops: { owner: { kind: "argocd", name: "shop" }, reason: "self-heal", snippet: { kind: "argocd" } },
    });
    const hand = {
      ...none,
      managedFields: [{ manager: "kubectl-edit", operation: "Update", time: "2026-12-07T14:03:00Z", fieldsV1: { "f:spec": { "f:rules": {} } } }],
    };
    expect(driftAuthor(judgeOwnership(route, hand, {}, settings), hand, settings)).toEqual({
      manager: "kubectl-edit",
      operation: "Update",
      time: "2026-12-07T14:03:00Z",
    });
  });
});

describe("after a GitOps revert", () => {
  it("Re-apply is refused (it would fight the owner); Adopt still works; a hand edit can still be re-applied", async () => {
    const { newRollout, markStarted, markDrift, reapply, adopt } = await import("../../src/engine/rollout.ts");
    const { TargetSchema } = await import("../../src/engine/target.ts");
    const { refusalText } = await import("../../src/slack/views/refusal.ts");
    const target = TargetSchema.parse({ name: "web", namespace: "shop", router: "gateway" });
    const started = markStarted(
      newRollout({ id: "web#1", target, stable: "web-v1", canary: "web-v2", steps: [10, 100], startedBy: "UALICE", channel: "C1", testStage: false, now: 1 }),
      { percent: 10, raw: "90/10", initialRaw: "100/0" },
      2,
    );
    const by = {
      manager: "argocd-controller",
      time: "2026-12-07T14:02:00Z",
      gitops: {
        owner: { kind: "argocd" as const, name: "shop", namespace: "argocd", via: "annotation" as const },
        verdict: "will-revert" as const,
        reason: "self-heal" as const,
      },
    };
    const reverted = markDrift(started, { percent: 0, raw: "100/0", by }, "Drift: reverted", 3);
    const refused = reapply(reverted, { kind: "user", id: "UALICE" }, 4);
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refusalText(refused.error)).toBe(
        "Rollout web#1 was put back by `argocd-controller` (Application `shop`): Re-apply would only start a tug of war. Adopt what git says, or Abort; to keep the bot's weights, add the snippet from the thread to Application `shop` first, then Adopt and advance again.",
      );
    }
    expect(adopt(reverted, { kind: "user", id: "UALICE" }, 4).ok).toBe(true);
    const handEdit = markDrift(started, { percent: 30, raw: "70/30", by: { manager: "kubectl-edit" } }, "Drift: by hand", 3);
    expect(reapply(handEdit, { kind: "user", id: "UALICE" }, 4).ok).toBe(true);
  });
});

describe("Pause Flux for this rollout", () => {
  it("offered and taken only on a Flux Kustomization's revert; refused for Argo CD, a hand edit, and a late click", async () => {
    const { newRollout, markStarted, markDrift } = await import("../../src/engine/rollout.ts");
    const { pauseFlux, fluxPausable } = await import("../../src/engine/flux-pause.ts");
    const { TargetSchema } = await import("../../src/engine/target.ts");
    const { refusalText } = await import("../../src/slack/views/refusal.ts");
    const { actionButtons } = await import("../../src/slack/views/rollout-message.ts");
    const target = TargetSchema.parse({ name: "web", namespace: "shop", router: "gateway" });
    const started = markStarted(
      newRollout({ id: "web#1", target, stable: "web-v1", canary: "web-v2", steps: [10, 100], startedBy: "UALICE", channel: "C1", testStage: false, now: 1 }),
      { percent: 10, raw: "90/10", initialRaw: "100/0" },
      2,
    );
    const gitops = (kind: "argocd" | "flux-kustomization" | "flux-helmrelease", manager: string) => ({
      manager,
      gitops: {
        owner: { kind, name: "apps", namespace: "flux-system", via: "label" as const },
        verdict: "will-revert" as const,
        reason: "drift-correction" as const,
      },
    });
    const alice = { kind: "user" as const, id: "UALICE" };
    const labels = (r: Parameters<typeof actionButtons>[0]) => actionButtons(r).map((b) => (b.text as { text: string }).text);

    const flux = markDrift(started, { percent: 0, raw: "100/0", by: gitops("flux-kustomization", "kustomize-controller") }, "Drift: reverted", 3);
    expect(fluxPausable(flux)).toBe(true);
    expect(labels(flux)).toEqual(["Adopt 100/0", "Pause Flux for this rollout", "Abort"]);
    const paused = pauseFlux(flux, alice, 4);
    expect(paused.ok).toBe(true);
    if (!paused.ok) return;
    expect(paused.value).toMatchObject({ status: "active", appliedPercent: 0, desiredPercent: 10, gitopsPauseAsked: true, takeOwnership: true, resync: true });
    expect(paused.value.drift).toBeUndefined();
    // Exactly once: the same click again finds nothing to pause.
    const late = pauseFlux(paused.value, alice, 5);
    expect(!late.ok && refusalText(late.error)).toBe("Rollout web#1 has no drift to resolve.");

    const argo = markDrift(started, { percent: 0, raw: "100/0", by: gitops("argocd", "argocd-controller") }, "Drift: reverted", 3);
    expect(labels(argo)).toEqual(["Adopt 100/0", "Abort"]);
    const argoRefused = pauseFlux(argo, alice, 4);
    expect(!argoRefused.ok && refusalText(argoRefused.error)).toContain("pausing it would mean editing the Application's sync policy");
    const helm = markDrift(started, { percent: 0, raw: "100/0", by: gitops("flux-helmrelease", "helm-controller") }, "Drift: reverted", 3);
    expect(labels(helm)).toEqual(["Adopt 100/0", "Abort"]);
    expect(pauseFlux(helm, alice, 4).ok).toBe(false);
    const hand = markDrift(started, { percent: 30, raw: "70/30", by: { manager: "kubectl-edit" } }, "Drift: by hand", 3);
    const handRefused = pauseFlux(hand, alice, 4);
    expect(!handRefused.ok && refusalText(handRefused.error)).toContain("the mesh was changed by `kubectl-edit`");

    // A wave: a pause is recorded per rollout, not per cluster, so it is neither offered nor taken.
    const { newWave } = await import("../../src/engine/wave.ts");
    const inWave = { ...flux, target: { ...flux.target, cluster: "prod-eu" }, wave: newWave(["prod-eu", "prod-us"], { mode: "manual" }) };
    expect(fluxPausable(inWave)).toBe(false);
    expect(labels(inWave)).toEqual(["Adopt 100/0", "Abort"]);
    const waveRefused = pauseFlux(inWave, alice, 4);
    expect(!waveRefused.ok && refusalText(waveRefused.error)).toContain("is a wave: a pause set in prod-eu");
  });
});

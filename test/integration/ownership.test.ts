import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { DEFAULT_GITOPS, withSnippet, type Snippet } from "../../src/engine/ownership.ts";
import { loadKubeConfig } from "../../src/kube/config.ts";
import { OwnershipReader, type WrittenAt } from "../../src/kube/ownership.ts";
import { startKubeApiPeer, type KubeApiPeer, type KubeObject } from "../../sandbox/peers/kube-api.ts";
import { GITOPS_TYPES, argoApplication, argoCdConfigMap, fluxKustomization } from "../../sandbox/peers/kube-api-gitops.ts";
import { GITOPS_ARGOCD_PERMISSIONS, GITOPS_PERMISSIONS, PERMISSIONS, roleRules } from "../../src/kube/permissions.ts";
import { HTTPROUTE_CRD, crdValidator } from "../support/crd-schema.ts";

/**
 * Issue 21: who owns the objects the bot writes, read from the Kubernetes API peer serving Argo CD
 * Applications and Flux Kustomizations (checked against their upstream CRDs on every write), judged by
 * src/engine/ownership.ts. Each snippet the bot offers, written to the peer's owner object, makes the next
 * judgement "ignored".
 */

const ROUTE: WrittenAt = {
  group: "gateway.networking.k8s.io",
  kind: "HTTPRoute",
  plural: "httproutes",
  versions: ["v1", "v1beta1"],
  namespace: "shop",
  name: "web",
  fields: ["/spec/rules"],
};
const SPLIT: WrittenAt = {
  group: "split.smi-spec.io",
  kind: "TrafficSplit",
  plural: "trafficsplits",
  versions: ["v1alpha4", "v1alpha3", "v1alpha2", "v1alpha1"],
  namespace: "shop",
  name: "web",
  fields: ["/spec/backends"],
};

function httpRoute(metadata: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "web", ...metadata },
    spec: { parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }], rules: [{ backendRefs: [{ name: "web-v1", port: 8080, weight: 100 }] }] },
  };
}

function split(metadata: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "split.smi-spec.io/v1alpha2",
    kind: "TrafficSplit",
    metadata: { name: "web", ...metadata },
    spec: { service: "web", backends: [{ service: "web-v1", weight: 100 }] },
  };
}

const TRACKING = { "argocd.argoproj.io/tracking-id": "shop:gateway.networking.k8s.io/HTTPRoute:shop/web" };
const FLUX = { "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system" };

let peer: KubeApiPeer;
let reader: OwnershipReader;

beforeAll(async () => {
  peer = await startKubeApiPeer({
    smiFlavour: "linkerd-smi",
    resources: GITOPS_TYPES,
    validators: {
      httproutes: crdValidator(HTTPROUTE_CRD),
      applications: crdValidator("argoproj.io_applications.v3.5.1.yaml"),
      kustomizations: crdValidator("kustomize.toolkit.fluxcd.io_kustomizations.v1.9.4.yaml"),
    },
  });
  reader = new OwnershipReader(loadKubeConfig(peer.kubeconfigPath), { timeoutMs: 5_000, settings: DEFAULT_GITOPS });
});
afterAll(() => peer.close());
beforeEach(() => {
  peer.rbac = undefined;
  for (const plural of ["applications", "kustomizations", "configmaps"])
    for (const o of peer.list(plural)) peer.remove(plural, String(o.metadata?.namespace), String(o.metadata?.name));
});

describe("ownership read from the cluster", () => {
  it("an object nobody owns, and one that does not exist yet", async () => {
    peer.seed("httproutes", "shop", httpRoute({}));
    expect(await reader.judge(ROUTE)).toMatchObject({ verdict: "not-owned", owners: [] });
    peer.remove("httproutes", "shop", "web");
    expect(await reader.judge(ROUTE)).toBeUndefined();
  });

  it("Argo CD self-heal: will revert, with the snippet; the snippet written to the Application makes it ignored", async () => {
    peer.seed("httproutes", "shop", httpRoute({ annotations: TRACKING }));
    peer.seed("applications", "argocd", argoApplication("shop", { syncPolicy: { automated: { selfHeal: true, prune: true } } }));
    const before = (await reader.judge(ROUTE))!;
    expect(before.verdict).toBe("will-revert");
    expect(before.owners[0]).toMatchObject({ owner: { kind: "argocd", name: "shop", namespace: "argocd" }, reason: "self-heal" });
    // The person adds the snippet in git; Argo CD syncs the Application (validated against its CRD).
    peer.edit("applications", "argocd", "shop", (app) => {
      app.spec = withSnippet(app.spec as Record<string, unknown>, before.owners[0]!.snippet!);
    });
    const after = (await reader.judge(ROUTE))!;
    expect(after).toMatchObject({ verdict: "ignored", owners: [{ reason: "ignore-differences" }] });
  });

  it("an Application in another namespace is named by `<namespace>_<name>`", async () => {
    peer.seed(
      "httproutes",
      "shop",
      httpRoute({ annotations: { "argocd.argoproj.io/tracking-id": "team-a_shop:gateway.networking.k8s.io/HTTPRoute:shop/web" } }),
    );
    peer.seed("applications", "team-a", argoApplication("shop", { syncPolicy: { automated: {} } }));
    expect((await reader.judge(ROUTE))!.owners[0]).toMatchObject({ owner: { name: "shop", namespace: "team-a" }, reason: "auto-sync" });
  });

  it("Flux: a Kustomization reverts the split at its next reconcile; its ignore rule snippet makes it ignored", async () => {
    peer.seed("trafficsplits", "shop", split({ labels: FLUX }));
    peer.seed("kustomizations", "flux-system", fluxKustomization("apps"));
    const before = (await reader.judge(SPLIT))!;
    expect(before).toMatchObject({ verdict: "will-revert", owners: [{ owner: { kind: "flux-kustomization", name: "apps" }, reason: "drift-correction" }] });
    peer.edit("kustomizations", "flux-system", "apps", (ks) => {
      ks.spec = withSnippet(ks.spec as Record<string, unknown>, before.owners[0]!.snippet!);
    });
    expect((await reader.judge(SPLIT))!).toMatchObject({ verdict: "ignored", owners: [{ reason: "ignore-rule" }] });
  });

  it("Flux: the object's own reconcile/ssa annotations are read", async () => {
    peer.seed("kustomizations", "flux-system", fluxKustomization("apps"));
    peer.seed("trafficsplits", "shop", split({ labels: FLUX, annotations: { "kustomize.toolkit.fluxcd.io/reconcile": "disabled" } }));
    expect((await reader.judge(SPLIT))!.owners[0]).toMatchObject({ verdict: "ignored", reason: "reconcile-disabled" });
    peer.seed("trafficsplits", "shop", split({ labels: FLUX, annotations: { "kustomize.toolkit.fluxcd.io/ssa": "Merge" } }));
    expect((await reader.judge(SPLIT))!.verdict).toBe("will-revert");
  });

  it("an owner the bot may not read (RBAC) is unknown, not safe", async () => {
    peer.seed("httproutes", "shop", httpRoute({ annotations: TRACKING }));
    peer.seed("applications", "argocd", argoApplication("shop", { syncPolicy: { automated: { selfHeal: true } } }));
    // The bot's grant without the GitOps reads.
    peer.rbac = {
      rules: PERMISSIONS.filter((p) => !p.apiGroups.includes("argoproj.io")).map(({ apiGroups, resources, verbs }) => ({ apiGroups, resources, verbs })),
    };
    const v = (await reader.judge(ROUTE))!;
    expect(v).toMatchObject({ verdict: "unknown", owners: [{ reason: "owner-unreadable" }] });
    expect(v.owners[0]!.message).toMatch(/forbidden/);
  });

  it("an owner whose CRD is not served is unknown; one that is gone is unknown too", async () => {
    const bare = await startKubeApiPeer({ smiFlavour: "linkerd-smi" });
    try {
      bare.seed("httproutes", "shop", httpRoute({ annotations: TRACKING }));
      const r = new OwnershipReader(loadKubeConfig(bare.kubeconfigPath), { timeoutMs: 5_000, settings: DEFAULT_GITOPS });
      expect((await r.judge(ROUTE))!).toMatchObject({ verdict: "unknown", owners: [{ reason: "owner-unreadable" }] });
    } finally {
      await bare.close();
    }
    peer.seed("httproutes", "shop", httpRoute({ annotations: TRACKING }));
    expect((await reader.judge(ROUTE))!.owners[0]!.reason).toBe("owner-missing");
  });

  it("managedFields as the API server writes them name the GitOps controller even without labels", async () => {
    peer.seed(
      "httproutes",
      "shop",
      httpRoute({
        managedFields: [
          {
            manager: "argocd-controller",
            operation: "Apply",
            apiVersion: "gateway.networking.k8s.io/v1",
            time: "2026-12-07T14:02:00Z",
            fieldsType: "FieldsV1",
            fieldsV1: { "f:spec": { "f:parentRefs": {}, "f:rules": {} } },
          },
        ],
      }),
    );
    expect((await reader.judge(ROUTE))!).toMatchObject({
      verdict: "unknown",
      owners: [{ owner: { kind: "argocd", via: "manager" }, reason: "owner-unnamed" }],
    });
  });

  it("argocd-cm: its rule alone, the Application's alone, both; unreadable (403, 404) is unknown unless the Application decides alone", async () => {
    const KEY = "resource.customizations.ignoreDifferences.gateway.networking.k8s.io_HTTPRoute";
    const respect = { syncPolicy: { automated: { selfHeal: true }, syncOptions: ["RespectIgnoreDifferences=true"] } };
    const appEntry = { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "web", namespace: "shop", jsonPointers: ["/spec/rules"] };
    const owner = async () => (await reader.judge(ROUTE))!.owners[0]!;
    peer.seed("httproutes", "shop", httpRoute({ annotations: TRACKING }));
    peer.seed("applications", "argocd", argoApplication("shop", respect));
    peer.seed("configmaps", "argocd", argoCdConfigMap());
    expect(await owner()).toMatchObject({ verdict: "will-revert", reason: "self-heal" });

    // The rule as a person writes it in argocd-cm (a YAML string per key).
    peer.seed("configmaps", "argocd", argoCdConfigMap({ [KEY]: "jsonPointers:\n  - /spec/rules\n" }));
    expect(await owner()).toMatchObject({ verdict: "ignored", reason: "argocd-cm-ignore" });
    peer.seed("configmaps", "argocd", argoCdConfigMap({ "resource.customizations.ignoreDifferences.all": "jqPathExpressions:\n  - .spec.rules\n" }));
    expect(await owner()).toMatchObject({ verdict: "ignored", reason: "argocd-cm-ignore" });
    // A value that does not parse is no rule.
    peer.seed("configmaps", "argocd", argoCdConfigMap({ [KEY]: "jsonPointers: [/spec/rules" }));
    expect(await owner()).toMatchObject({ verdict: "will-revert" });

    // The Application's own entry alone, then both.
    peer.seed("configmaps", "argocd", argoCdConfigMap());
    peer.seed("applications", "argocd", argoApplication("shop", { ...respect, ignoreDifferences: [appEntry] }));
    expect(await owner()).toMatchObject({ verdict: "ignored", reason: "ignore-differences" });
    peer.seed("configmaps", "argocd", argoCdConfigMap({ [KEY]: "jsonPointers:\n  - /spec/rules\n" }));
    expect(await owner()).toMatchObject({ verdict: "ignored", reason: "ignore-differences" });

    // argocd-cm unreadable: the bot's grant without the argocd-cm Role (403), or no such ConfigMap (404).
    const withoutCm = { rules: roleRules([...PERMISSIONS, ...GITOPS_PERMISSIONS]) };
    peer.rbac = withoutCm;
    expect(await owner()).toMatchObject({ verdict: "ignored", reason: "ignore-differences" }); // the Application decides alone
    peer.seed("applications", "argocd", argoApplication("shop", respect));
    const forbidden = await owner();
    expect(forbidden).toMatchObject({ verdict: "unknown", reason: "argocd-cm-unreadable" });
    expect(forbidden.message).toMatch(/configmaps "argocd-cm" is forbidden/);
    peer.rbac = { ...withoutCm, also: [{ rules: roleRules(GITOPS_ARGOCD_PERMISSIONS), namespaces: ["argocd"] }] };
    expect(await owner()).toMatchObject({ verdict: "ignored", reason: "argocd-cm-ignore" });
    peer.remove("configmaps", "argocd", "argocd-cm");
    const missing = await owner();
    expect(missing).toMatchObject({ verdict: "unknown", reason: "argocd-cm-unreadable" });
    expect(missing.message).toMatch(/not found/);

    // The system-level snippet the bot offers, written as the refusal shows it, makes the next judgement "ignored".
    peer.seed("configmaps", "argocd", argoCdConfigMap());
    peer.seed("applications", "argocd", argoApplication("shop", { syncPolicy: { automated: { selfHeal: true } } }));
    const before = await owner();
    expect(before).toMatchObject({ verdict: "will-revert", reason: "self-heal" });
    const s = before.snippet as Extract<Snippet, { kind: "argocd" }>;
    expect(s.system).toEqual({ configMap: { name: "argocd-cm", namespace: "argocd" }, key: KEY, rule: { managedFieldsManagers: ["rollout-bot"] } });
    peer.edit("configmaps", "argocd", "argocd-cm", (cm) => {
      cm.data = { ...(cm.data as Record<string, string>), [s.system.key]: stringify(s.system.rule) };
    });
    peer.edit("applications", "argocd", "shop", (app) => {
      const spec = app.spec as { syncPolicy: { syncOptions?: string[] } };
      spec.syncPolicy.syncOptions = [s.syncOption];
    });
    expect(await owner()).toMatchObject({ verdict: "ignored", reason: "argocd-cm-ignore" });
  });

  it("every signal together: Argo CD and Flux both claim it, the worst verdict wins", async () => {
    peer.seed("httproutes", "shop", httpRoute({ annotations: TRACKING, labels: FLUX }));
    peer.seed("applications", "argocd", argoApplication("shop", {}));
    peer.seed("kustomizations", "flux-system", fluxKustomization("apps", { suspend: true }));
    const v = (await reader.judge(ROUTE))!;
    expect(v.owners.map((o) => `${o.owner.kind}:${o.verdict}:${o.reason}`)).toEqual(["argocd:will-revert:manual-sync", "flux-kustomization:ignored:suspended"]);
    expect(v.verdict).toBe("will-revert");
  });
});

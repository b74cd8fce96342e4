/**
 * Issue 24: the remote-cluster install. deploy/remote-cluster (applied in the other cluster) grants the bot's
 * ServiceAccount there exactly the bot's own rules minus Argo Rollouts, namespace by namespace, with a token
 * Secret the cluster fills in; examples/http-remote-cluster mounts the kubeconfig Secret at the path its
 * targets file's `clusters:` entry names. (Schemas, security settings and the bot's own RBAC of the example
 * are checked with every other install by manifests.test.ts and rbac.test.ts.)
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as k8s from "kubernetes-models";
import { parseTargetsFile } from "../../src/config.ts";
import { PERMISSIONS, roleRules, type PolicyRule } from "../../src/kube/permissions.ts";
import { kustomizeBuild, type KubeObject } from "../support/kustomize.ts";

const deploy = (p: string) => fileURLToPath(new URL(`../../deploy/${p}`, import.meta.url));
const normalise = (rules: PolicyRule[]) =>
  rules
    .map((r) => ({ apiGroups: [...r.apiGroups].sort(), resources: [...r.resources].sort(), verbs: [...r.verbs].sort() }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

type Rbac = KubeObject & { rules?: PolicyRule[]; roleRef?: { kind: string; name: string }; subjects?: { kind: string; name: string; namespace?: string }[] };

describe("deploy/remote-cluster", () => {
  it("renders objects valid against their Kubernetes schemas", async () => {
    const all = await kustomizeBuild(deploy("remote-cluster"));
    expect(all.map((o) => o.kind).sort()).toEqual(["ClusterRole", "Namespace", "RoleBinding", "Secret", "ServiceAccount"]);
    type Model = new (d: never) => { validate(): void };
    const models: Record<string, Model> = {
      Namespace: k8s.v1.Namespace,
      ServiceAccount: k8s.v1.ServiceAccount,
      Secret: k8s.v1.Secret,
      ClusterRole: k8s.rbacAuthorizationK8sIo.v1.ClusterRole,
      RoleBinding: k8s.rbacAuthorizationK8sIo.v1.RoleBinding,
    };
    for (const o of all) expect(() => new models[o.kind]!(o as never).validate(), `${o.kind} ${o.metadata.name}`).not.toThrow();
  });

  it("grants the bot's own rules without Argo Rollouts and Flagger, through RoleBindings only, to its ServiceAccount", async () => {
    const all = (await kustomizeBuild(deploy("remote-cluster"))) as Rbac[];
    const role = all.find((o) => o.kind === "ClusterRole")!;
    expect(normalise(role.rules!)).toEqual(
      normalise(roleRules(PERMISSIONS.filter((p) => !p.apiGroups.includes("argoproj.io") && !p.apiGroups.includes("flagger.app")))),
    );
    expect(all.some((o) => o.kind === "ClusterRoleBinding")).toBe(false);
    const sa = all.find((o) => o.kind === "ServiceAccount")!;
    for (const b of all.filter((o) => o.kind === "RoleBinding")) {
      expect(b.roleRef).toMatchObject({ kind: "ClusterRole", name: role.metadata.name });
      expect(b.subjects).toEqual([{ kind: "ServiceAccount", name: sa.metadata.name, namespace: sa.metadata.namespace }]);
    }
  });

  it("asks the cluster for a long-lived token of that ServiceAccount, holding no value itself", async () => {
    const all = await kustomizeBuild(deploy("remote-cluster"));
    const sa = all.find((o) => o.kind === "ServiceAccount")!;
    const token = all.find((o) => o.kind === "Secret") as KubeObject & { type: string; data?: unknown; stringData?: unknown };
    expect(token.type).toBe("kubernetes.io/service-account-token");
    expect(token.metadata.namespace).toBe(sa.metadata.namespace);
    expect((token.metadata as { annotations?: Record<string, string> }).annotations?.["kubernetes.io/service-account.name"]).toBe(sa.metadata.name);
    expect(token.data ?? token.stringData).toBeUndefined();
  });
});

describe("deploy/examples/http-remote-cluster", () => {
  it("mounts the kubeconfig Secret read-only where the targets file's cluster names its kubeconfig", async () => {
    const all = await kustomizeBuild(deploy("examples/http-remote-cluster"));
    const map = all.find((o) => o.kind === "ConfigMap" && o.metadata.name === "rollout-bot-targets") as KubeObject & { data: Record<string, string> };
    const parsed = parseTargetsFile(map.data["targets.yaml"]!, "targets.yaml");
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const cluster = parsed.value.clusters?.get("prod-eu");
    expect(parsed.value.targets.get("shop@prod-eu")?.cluster).toBe("prod-eu");
    type Pod = {
      containers: { name: string; volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] }[];
      volumes?: { name: string; secret?: { secretName: string } }[];
    };
    const pod = (all.find((o) => o.kind === "Deployment" && o.metadata.name === "rollout-bot") as KubeObject & { spec: { template: { spec: Pod } } }).spec
      .template.spec;
    const mount = pod.containers[0]!.volumeMounts?.find((m) => cluster?.kubeconfig?.startsWith(`${m.mountPath}/`));
    expect(mount?.readOnly).toBe(true);
    expect(pod.volumes?.find((v) => v.name === mount?.name)?.secret?.secretName).toBe("rollout-bot-cluster-prod-eu");
    expect(cluster?.kubeconfig?.slice(mount!.mountPath.length + 1)).toBe("kubeconfig"); // the Secret's key
  });
});

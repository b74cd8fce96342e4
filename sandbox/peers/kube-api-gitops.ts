/**
 * GitOps owners' objects for the local Kubernetes API peer: Argo CD Applications, Flux Kustomizations and
 * HelmReleases, served as their CRDs serve them (Application: argoproj.io/v1alpha1, no status subresource;
 * Kustomization: kustomize.toolkit.fluxcd.io/v1 with status; HelmRelease: helm.toolkit.fluxcd.io/v2).
 * Tests add the upstream CRD schemas as validators (test/support/crd-schema.ts); the checks here are the
 * required fields, so a sandbox without them still refuses what the API server would.
 */
import type { FieldCause, KubeObject, ResourceType } from "./kube-api-resources.ts";

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function requiredSpec(fields: string[]): (obj: KubeObject) => FieldCause[] {
  return (obj) => {
    if (!isRecord(obj.spec)) return [{ field: "spec", message: "Required value" }];
    const spec = obj.spec;
    return fields.filter((f) => spec[f] === undefined).map((f) => ({ field: `spec.${f}`, message: "Required value" }));
  };
}

export const applicationType: ResourceType = {
  group: "argoproj.io",
  versions: ["v1alpha1"],
  storageVersion: "v1alpha1",
  plural: "applications",
  singular: "application",
  kind: "Application",
  namespaced: true,
  shortNames: ["app", "apps"],
  custom: true,
  validate: requiredSpec(["destination", "project"]),
};

export const kustomizationType: ResourceType = {
  group: "kustomize.toolkit.fluxcd.io",
  versions: ["v1"],
  storageVersion: "v1",
  plural: "kustomizations",
  singular: "kustomization",
  kind: "Kustomization",
  namespaced: true,
  shortNames: ["ks"],
  custom: true,
  statusSubresource: true,
  validate: requiredSpec(["interval", "prune", "sourceRef"]),
};

/** No upstream CRD is in the reference set for HelmRelease: only the fields the bot reads are checked. */
export const helmReleaseType: ResourceType = {
  group: "helm.toolkit.fluxcd.io",
  versions: ["v2"],
  storageVersion: "v2",
  plural: "helmreleases",
  singular: "helmrelease",
  kind: "HelmRelease",
  namespaced: true,
  shortNames: ["hr"],
  custom: true,
  statusSubresource: true,
  validate: requiredSpec(["interval"]),
};

/** Core v1 ConfigMap: Argo CD's `argocd-cm` (its system-level ignore rules) is what the bot reads. */
export const configMapType: ResourceType = {
  group: "",
  versions: ["v1"],
  storageVersion: "v1",
  plural: "configmaps",
  singular: "configmap",
  kind: "ConfigMap",
  namespaced: true,
  shortNames: ["cm"],
  custom: false,
  validate(obj) {
    if (obj.data === undefined) return [];
    if (!isRecord(obj.data)) return [{ field: "data", message: "Invalid value: must be an object of strings" }];
    return Object.entries(obj.data)
      .filter(([, v]) => typeof v !== "string")
      .map(([k]) => ({ field: `data[${k}]`, message: "Invalid value: must be a string" }));
  },
};

export const GITOPS_TYPES: ResourceType[] = [applicationType, kustomizationType, helmReleaseType, configMapType];

/** Argo CD's settings ConfigMap as its install creates it (no system-level rules), for tests and the sandbox. */
export function argoCdConfigMap(data: Record<string, string> = {}): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "argocd-cm", labels: { "app.kubernetes.io/part-of": "argocd" } }, data };
}

/** An Application as Argo CD's docs write one, for tests and the sandbox. */
export function argoApplication(name: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Application",
    metadata: { name },
    spec: {
      project: "default",
      source: { repoURL: "https://git.example.com/shop/deploy.git", path: "shop", targetRevision: "main" },
      destination: { server: "https://kubernetes.default.svc", namespace: "shop" },
      ...spec,
    },
  };
}

/** A Flux Kustomization applying a GitRepository path, for tests and the sandbox. */
export function fluxKustomization(name: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
    kind: "Kustomization",
    metadata: { name },
    spec: { interval: "10m", prune: true, path: "./shop", sourceRef: { kind: "GitRepository", name: "flux-system" }, ...spec },
  };
}

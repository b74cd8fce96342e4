import type { ResourceType } from "./kube-api-resources.ts";

/**
 * Core v1 Services, so the sandbox can hold the apex, stable and canary Services a start's preflight looks
 * for. Served only when the default registry does not already carry them (another change may add them).
 */
export const serviceType: ResourceType = {
  group: "",
  versions: ["v1"],
  storageVersion: "v1",
  plural: "services",
  singular: "service",
  kind: "Service",
  namespaced: true,
  shortNames: ["svc"],
  custom: false,
};

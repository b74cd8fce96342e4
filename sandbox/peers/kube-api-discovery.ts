/**
 * Discovery documents of the Kubernetes API peer (/version, /api, /apis, /apis/<group>[/<version>]),
 * derived from the resource registry so a type added there is discoverable with no other change.
 * Clients choose versions from these, so they must list exactly what the peer serves.
 */
import { compareKubeVersions, type ResourceType } from "./kube-api-resources.ts";
import { ApiStatusError } from "./kube-api-store.ts";

export function notFoundPath(): ApiStatusError {
  return new ApiStatusError(404, "NotFound", "the server could not find the requested resource");
}

function groupInfo(registry: ResourceType[], group: string) {
  const versions = [...new Set(registry.filter((t) => t.group === group).flatMap((t) => t.versions))].sort(compareKubeVersions);
  const entries = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  // Like the API server: the preferred version is the highest by Kubernetes version priority.
  return { name: group, versions: entries, preferredVersion: entries[0] };
}

function resourceList(registry: ResourceType[], group: string, version: string) {
  const verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
  const resources: unknown[] = [];
  if (group === "") {
    resources.push({
      name: "namespaces",
      singularName: "namespace",
      namespaced: false,
      kind: "Namespace",
      verbs: ["create", "get", "list"],
      shortNames: ["ns"],
    });
  }
  for (const t of registry.filter((t) => t.group === group && t.versions.includes(version))) {
    resources.push({
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs,
      ...(t.shortNames ? { shortNames: t.shortNames } : {}),
    });
    if (t.scale) {
      resources.push({
        name: `${t.plural}/scale`,
        singularName: "",
        namespaced: t.namespaced,
        group: "autoscaling",
        version: "v1",
        kind: "Scale",
        verbs: ["get", "patch", "update"],
      });
    }
  }
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion: group ? `${group}/${version}` : version, resources };
}

/** The document for a GET of `path`, undefined when `path` is not a discovery path; throws 404 for unserved groups. */
export function discoveryDocument(registry: ResourceType[], path: string, host: string): unknown {
  const p = path.replace(/\/+$/, "") || "/";
  if (p === "/version") {
    return { major: "1", minor: "33", gitVersion: "v1.33.0-rollout-bot-peer", platform: "linux/amd64", goVersion: "go1.24.0", compiler: "gc" };
  }
  if (p === "/healthz" || p === "/readyz" || p === "/livez") return "ok";
  if (p === "/api") return { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: host }] };
  if (p === "/api/v1") return resourceList(registry, "", "v1");
  if (p === "/apis") {
    const groups = [...new Set(registry.filter((t) => t.group).map((t) => t.group))].map((g) => groupInfo(registry, g));
    return { kind: "APIGroupList", apiVersion: "v1", groups };
  }
  const m = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(p);
  if (!m) return undefined;
  const group = m[1]!;
  const version = m[2];
  if (!registry.some((t) => t.group === group && (version === undefined || t.versions.includes(version)))) throw notFoundPath();
  if (version === undefined) return { kind: "APIGroup", apiVersion: "v1", ...groupInfo(registry, group) };
  return resourceList(registry, group, version);
}

/**
 * What the API server's RBAC authorizer would check for a request: the attributes it derives from the
 * method and URL (as k8s.io/apiserver's RequestInfoFactory does) and whether a list of PolicyRules allows
 * them (as rbac's RuleAllows does, wildcards included). Pure; the kube-api peer answers 403 with it, and
 * the RBAC tests hold its recorded requests against the bot's Role.
 */
import type { PolicyRule } from "../../src/kube/permissions.ts";

export type RequestAttributes =
  | { resourceRequest: true; verb: string; apiGroup: string; resource: string; subresource?: string; namespace?: string; name?: string }
  | { resourceRequest: false; verb: string; path: string };

const VERB_BY_METHOD: Record<string, string> = { POST: "create", PUT: "update", PATCH: "patch", DELETE: "delete", GET: "get", HEAD: "get" };

export function requestAttributes(method: string, pathname: string, query = ""): RequestAttributes {
  const segs = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const upper = method.toUpperCase();
  const plainVerb = (VERB_BY_METHOD[upper] ?? upper).toLowerCase();
  let rest: string[];
  let apiGroup: string;
  if (segs[0] === "api" && segs.length >= 3) {
    apiGroup = "";
    rest = segs.slice(2);
  } else if (segs[0] === "apis" && segs.length >= 4) {
    apiGroup = segs[1]!;
    rest = segs.slice(3);
  } else {
    // /api, /apis, /apis/<group>, /apis/<group>/<version>, /version, /healthz ...: discovery and friends.
    return { resourceRequest: false, verb: plainVerb, path: pathname };
  }
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource = "", name, subresource] = rest;
  const params = new URLSearchParams(query.startsWith("?") ? query.slice(1) : query);
  let verb = plainVerb;
  if (!name && upper === "GET") verb = params.get("watch") === "true" ? "watch" : "list";
  if (!name && upper === "DELETE") verb = "deletecollection";
  return {
    resourceRequest: true,
    verb,
    apiGroup,
    resource,
    ...(subresource ? { subresource } : {}),
    ...(namespace ? { namespace } : {}),
    ...(name ? { name } : {}),
  };
}

const has = (list: readonly string[], value: string) => list.includes("*") || list.includes(value);

/** The rule that allows this resource request, if any. Non-resource requests are never allowed by a Role. */
export function allowingRule(rules: readonly PolicyRule[], attrs: RequestAttributes): PolicyRule | undefined {
  if (!attrs.resourceRequest) return undefined;
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  // resourceNames limits a rule to named objects: a request without a name (list, create) is not allowed by it.
  const named = (r: PolicyRule) =>
    r.resourceNames === undefined || r.resourceNames.length === 0 || (attrs.name !== undefined && r.resourceNames.includes(attrs.name));
  return rules.find((r) => has(r.verbs, attrs.verb) && has(r.apiGroups, attrs.apiGroup) && has(r.resources, resource) && named(r));
}

/**
 * Who the peer's RBAC check pretends the caller is, and what that caller is granted: `rules` in every
 * namespace (a ClusterRoleBinding), or only in `namespaces` (RoleBindings there).
 */
export type RbacPolicy = {
  rules: readonly PolicyRule[];
  namespaces?: readonly string[];
  user?: string;
  /** More grants, each with its own scope (a Role bound in one namespace beside a ClusterRole, say). */
  also?: readonly { rules: readonly PolicyRule[]; namespaces?: readonly string[] }[];
};

export const DEFAULT_RBAC_USER = "system:serviceaccount:rollout-bot:rollout-bot";

/**
 * The API server's 403 for a request the rules do not allow (its message, word for word), or undefined
 * when allowed. Discovery (non-resource GETs of /api and /apis) is allowed, as system:discovery grants it.
 */
export function forbidden(policy: RbacPolicy, attrs: RequestAttributes): { message: string; details: Record<string, string> } | undefined {
  const user = policy.user ?? DEFAULT_RBAC_USER;
  if (!attrs.resourceRequest) {
    if (attrs.verb === "get" && /^\/apis?(\/|$)/.test(attrs.path)) return undefined;
    return { message: `forbidden: User "${user}" cannot ${attrs.verb} path "${attrs.path}"`, details: {} };
  }
  const inScope = (namespaces: readonly string[] | undefined) =>
    namespaces === undefined || (attrs.namespace !== undefined && namespaces.includes(attrs.namespace));
  if ([policy, ...(policy.also ?? [])].some((g) => inScope(g.namespaces) && allowingRule(g.rules, attrs))) return undefined;
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const qualified = attrs.apiGroup ? `${attrs.resource}.${attrs.apiGroup}` : attrs.resource;
  const object = attrs.name ? `${qualified} "${attrs.name}"` : qualified;
  const scope = attrs.namespace ? ` in the namespace "${attrs.namespace}"` : " at the cluster scope";
  return {
    message: `${object} is forbidden: User "${user}" cannot ${attrs.verb} resource "${resource}" in API group "${attrs.apiGroup}"${scope}`,
    details: { ...(attrs.name ? { name: attrs.name } : {}), group: attrs.apiGroup, kind: attrs.resource },
  };
}

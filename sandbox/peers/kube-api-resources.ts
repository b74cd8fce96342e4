/**
 * The resource types the local Kubernetes API peer serves, as a small registry: each entry says where
 * it lives in the API (group, versions, plural, scope) and how the API server would prune, default and
 * validate an object written through one of its versions. Facts come from the CRDs under
 * /work/shared/reference/crds (TrafficSplit per mesh, HTTPRoute) and the built-in apps/v1 Deployment.
 */

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
};

/** One field problem, as the API server lists it under Status.details.causes. */
export type FieldCause = { field: string; message: string };

export interface ResourceType {
  /** "" for the core group (served under /api/v1). */
  group: string;
  /** Served versions. */
  versions: string[];
  /** Version objects are stored as (conversion strategy None: only apiVersion changes on read). */
  storageVersion: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  /** Custom resources refuse updates without metadata.resourceVersion and strategic merge patches. */
  custom: boolean;
  /** Serve the `scale` subresource (spec.replicas <-> Scale.spec.replicas). */
  scale?: boolean;
  /** status is a subresource: writes to the main resource neither set nor change it (only settle does). */
  statusSubresource?: boolean;
  /** Drop fields the version's schema does not declare and fill defaults, as a structural schema would. */
  normalize?(obj: KubeObject, version: string): KubeObject;
  /** Field problems that make the API answer 422 Invalid. */
  validate?(obj: KubeObject, version: string): FieldCause[];
  /** What a controller would report in status once the object is written (the peer has no controllers). */
  settle?(obj: KubeObject): void;
}

export type SmiFlavour = "linkerd" | "linkerd-smi" | "nginx" | "sdk" | "none";

/**
 * Which TrafficSplit versions each mesh's CRD serves. "linkerd" is Linkerd 2 before the SMI extension
 * (v1alpha1 only); "linkerd-smi" is the linkerd-smi extension CRD (v1alpha1 storage + v1alpha2);
 * "nginx" is NGINX Service Mesh (v1alpha3 only); "sdk" is smi-sdk-go's CRD (v1alpha4 only served).
 */
export const SMI_FLAVOURS: Record<SmiFlavour, { versions: string[]; storage: string } | undefined> = {
  linkerd: { versions: ["v1alpha1"], storage: "v1alpha1" },
  "linkerd-smi": { versions: ["v1alpha1", "v1alpha2"], storage: "v1alpha1" },
  nginx: { versions: ["v1alpha3"], storage: "v1alpha3" },
  sdk: { versions: ["v1alpha4"], storage: "v1alpha4" },
  none: undefined,
};

// ---------------------------------------------------------------------------------------------------
// small helpers

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function pick(obj: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (k in obj) out[k] = obj[k];
  return out;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/** The API server's wording: `<field>: Invalid value: "<type>": <field> in body must be of type <want>: "<type>"`. */
function wrongType(field: string, value: unknown, want: string): FieldCause {
  const got = typeName(value);
  return { field, message: `Invalid value: "${got}": ${field} in body must be of type ${want}: "${got}"` };
}

const required = (field: string): FieldCause => ({ field, message: "Required value" });

/**
 * Kubernetes quantity grammar (resource.Quantity): a signed decimal number with an optional binary-SI,
 * decimal-SI or exponent suffix: "1", "500m", "0.5", "1e3", "2Ki".
 */
export const QUANTITY = /^[+-]?(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

// ---------------------------------------------------------------------------------------------------
// TrafficSplit (split.smi-spec.io)

const SPLIT_SPEC_FIELDS: Record<string, string[]> = {
  v1alpha1: ["service", "backends"],
  v1alpha2: ["service", "backends"],
  v1alpha3: ["service", "backends", "matches"],
  v1alpha4: ["service", "backends", "matches"],
};
const SPLIT_MATCH_FIELDS: Record<string, string[]> = {
  v1alpha3: ["apiGroup", "kind", "name"],
  v1alpha4: ["kind", "name"],
};

function normalizeTrafficSplit(obj: KubeObject, version: string): KubeObject {
  // v1alpha1/v1alpha2 schemas declare no status and no matches: a structural schema prunes them silently.
  const topKeys = version === "v1alpha3" ? ["apiVersion", "kind", "metadata", "spec", "status"] : ["apiVersion", "kind", "metadata", "spec"];
  const out = pick(obj, topKeys) as KubeObject;
  if (isRecord(obj.spec)) {
    const spec = pick(obj.spec, SPLIT_SPEC_FIELDS[version] ?? []);
    if (Array.isArray(spec.backends)) {
      spec.backends = spec.backends.map((b) => (isRecord(b) ? pick(b, ["service", "weight"]) : b));
    }
    const matchFields = SPLIT_MATCH_FIELDS[version];
    if (matchFields && Array.isArray(spec.matches)) {
      spec.matches = spec.matches.map((m) => (isRecord(m) ? pick(m, matchFields) : m));
    }
    out.spec = spec;
  }
  return out;
}

function validateWeight(field: string, w: unknown, version: string): FieldCause[] {
  if (version === "v1alpha1") {
    // x-kubernetes-int-or-string. A real API server accepts any string here; the peer also checks the
    // quantity grammar so a router that writes something Linkerd's controller cannot parse fails in tests.
    if (typeof w === "number" && Number.isInteger(w)) return [];
    if (typeof w === "string") {
      return QUANTITY.test(w) ? [] : [{ field, message: `Invalid value: "${w}": must be a quantity such as "1", "500m" or 100` }];
    }
    return [wrongType(field, w, "integer or string")];
  }
  if (version === "v1alpha3") {
    if (typeof w !== "number" || !Number.isInteger(w)) return [wrongType(field, w, "integer")];
    if (w < 0) return [{ field, message: `Invalid value: ${w}: ${field} in body should be greater than or equal to 0` }];
    return [];
  }
  // v1alpha2 and v1alpha4 declare `type: number`.
  return typeof w === "number" ? [] : [wrongType(field, w, "number")];
}

function validateTrafficSplit(obj: KubeObject, version: string): FieldCause[] {
  const spec = obj.spec;
  if (spec === undefined) return [required("spec")];
  if (!isRecord(spec)) return [wrongType("spec", spec, "object")];
  const causes: FieldCause[] = [];
  if (spec.service === undefined) causes.push(required("spec.service"));
  else if (typeof spec.service !== "string") causes.push(wrongType("spec.service", spec.service, "string"));
  if (spec.backends === undefined) causes.push(required("spec.backends"));
  else if (!Array.isArray(spec.backends)) causes.push(wrongType("spec.backends", spec.backends, "array"));
  else {
    spec.backends.forEach((b, i) => {
      const at = `spec.backends[${i}]`;
      if (!isRecord(b)) return causes.push(wrongType(at, b, "object"));
      if (b.service === undefined) causes.push(required(`${at}.service`));
      else if (typeof b.service !== "string") causes.push(wrongType(`${at}.service`, b.service, "string"));
      if (b.weight === undefined) causes.push(required(`${at}.weight`));
      else causes.push(...validateWeight(`${at}.weight`, b.weight, version));
    });
  }
  if (Array.isArray(spec.matches)) {
    spec.matches.forEach((m, i) => {
      const at = `spec.matches[${i}]`;
      if (!isRecord(m)) return causes.push(wrongType(at, m, "object"));
      if (typeof m.kind !== "string") causes.push(m.kind === undefined ? required(`${at}.kind`) : wrongType(`${at}.kind`, m.kind, "string"));
      else if (version === "v1alpha4" && m.kind !== "HTTPRouteGroup") {
        causes.push({ field: `${at}.kind`, message: `Unsupported value: "${m.kind}": supported values: "HTTPRouteGroup"` });
      }
      if (typeof m.name !== "string") causes.push(m.name === undefined ? required(`${at}.name`) : wrongType(`${at}.name`, m.name, "string"));
    });
  }
  return causes;
}

export function trafficSplitType(flavour: SmiFlavour): ResourceType | undefined {
  const served = SMI_FLAVOURS[flavour];
  if (!served) return undefined;
  return {
    group: "split.smi-spec.io",
    versions: served.versions,
    storageVersion: served.storage,
    plural: "trafficsplits",
    singular: "trafficsplit",
    kind: "TrafficSplit",
    namespaced: true,
    shortNames: ["ts"],
    custom: true,
    normalize: normalizeTrafficSplit,
    validate: validateTrafficSplit,
  };
}

// ---------------------------------------------------------------------------------------------------
// Deployment (apps/v1): enough for the scale subresource and a replica count that "becomes ready"

function validateDeployment(obj: KubeObject): FieldCause[] {
  const spec = obj.spec;
  if (!isRecord(spec)) return [required("spec")];
  const causes: FieldCause[] = [];
  if (spec.replicas !== undefined && (typeof spec.replicas !== "number" || !Number.isInteger(spec.replicas) || spec.replicas < 0)) {
    causes.push({ field: "spec.replicas", message: `Invalid value: ${JSON.stringify(spec.replicas)}: must be greater than or equal to 0` });
  }
  if (!isRecord(spec.selector)) causes.push(required("spec.selector"));
  if (!isRecord(spec.template)) causes.push(required("spec.template"));
  return causes;
}

export const deploymentType: ResourceType = {
  group: "apps",
  versions: ["v1"],
  storageVersion: "v1",
  plural: "deployments",
  singular: "deployment",
  kind: "Deployment",
  namespaced: true,
  shortNames: ["deploy"],
  custom: false,
  scale: true,
  normalize(obj) {
    const out = { ...obj };
    if (isRecord(out.spec) && out.spec.replicas === undefined) out.spec = { ...out.spec, replicas: 1 };
    return out;
  },
  validate: validateDeployment,
  settle(obj) {
    // No controller runs here: pretend the rollout of pods finished at once.
    const replicas = isRecord(obj.spec) && typeof obj.spec.replicas === "number" ? obj.spec.replicas : 0;
    const generation = obj.metadata?.generation;
    obj.status = { observedGeneration: generation, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas };
  },
};

// ---------------------------------------------------------------------------------------------------
// Service (core v1): what preflight reads (that it exists, and its selector)

function validateService(obj: KubeObject): FieldCause[] {
  const spec = obj.spec;
  if (spec === undefined) return [];
  if (!isRecord(spec)) return [wrongType("spec", spec, "object")];
  if (spec.selector !== undefined && !isRecord(spec.selector)) return [wrongType("spec.selector", spec.selector, "object")];
  return [];
}

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
  validate: validateService,
};

// ---------------------------------------------------------------------------------------------------
// HTTPRoute (gateway.networking.k8s.io): backendRef defaults and weight bounds from the v1 CRD

function normalizeHttpRoute(obj: KubeObject): KubeObject {
  const out = structuredClone(obj);
  if (!isRecord(out.spec)) return out;
  if (Array.isArray(out.spec.parentRefs)) {
    for (const ref of out.spec.parentRefs) {
      if (!isRecord(ref)) continue;
      ref.group ??= "gateway.networking.k8s.io";
      ref.kind ??= "Gateway";
    }
  }
  if (!Array.isArray(out.spec.rules)) return out;
  for (const rule of out.spec.rules) {
    if (!isRecord(rule)) continue;
    rule.matches ??= [{ path: { type: "PathPrefix", value: "/" } }];
    if (!Array.isArray(rule.backendRefs)) continue;
    for (const ref of rule.backendRefs) {
      if (!isRecord(ref)) continue;
      ref.group ??= "";
      ref.kind ??= "Service";
      ref.weight ??= 1;
    }
  }
  return out;
}

function validateHttpRoute(obj: KubeObject): FieldCause[] {
  const spec = obj.spec;
  if (spec === undefined) return [];
  if (!isRecord(spec)) return [wrongType("spec", spec, "object")];
  const causes: FieldCause[] = [];
  if (spec.rules === undefined) return causes;
  if (!Array.isArray(spec.rules)) return [wrongType("spec.rules", spec.rules, "array")];
  if (spec.rules.length > 16) causes.push({ field: "spec.rules", message: `Too many: ${spec.rules.length}: must have at most 16 items` });
  spec.rules.forEach((rule, i) => {
    if (!isRecord(rule) || rule.backendRefs === undefined) return;
    if (!Array.isArray(rule.backendRefs)) return causes.push(wrongType(`spec.rules[${i}].backendRefs`, rule.backendRefs, "array"));
    const refs = rule.backendRefs;
    if (refs.length > 16) causes.push({ field: `spec.rules[${i}].backendRefs`, message: `Too many: ${refs.length}: must have at most 16 items` });
    refs.forEach((ref, j) => {
      const at = `spec.rules[${i}].backendRefs[${j}]`;
      if (!isRecord(ref)) return causes.push(wrongType(at, ref, "object"));
      if (typeof ref.name !== "string") causes.push(ref.name === undefined ? required(`${at}.name`) : wrongType(`${at}.name`, ref.name, "string"));
      const w = ref.weight;
      if (typeof w !== "number" || !Number.isInteger(w)) causes.push(wrongType(`${at}.weight`, w, "integer"));
      else if (w < 0 || w > 1_000_000) {
        causes.push({ field: `${at}.weight`, message: `Invalid value: ${w}: ${at}.weight in body should be between 0 and 1000000` });
      }
    });
  });
  return causes;
}

/**
 * What the peer's stand-in for a Gateway API controller reports in an HTTPRoute's status.parents after
 * each write. Tests change it on the fly: refuse (Accepted=False or ResolvedRefs=False with a reason, as a
 * controller does for a missing backend or a forbidden cross-namespace reference) or stay silent (no
 * controller has seen the route: status keeps an older observedGeneration, or no entry at all).
 */
export type GatewayController = {
  mode: "accept" | "silent";
  refuse?: { condition: "Accepted" | "ResolvedRefs"; reason: string; message: string };
  controllerName: string;
};

export function newGatewayController(): GatewayController {
  return { mode: "accept", controllerName: "linkerd.io/gateway-controller" };
}

function settleHttpRoute(controller: GatewayController, obj: KubeObject): void {
  if (controller.mode === "silent") return;
  const generation = obj.metadata?.generation;
  const spec = isRecord(obj.spec) ? obj.spec : {};
  const parentRefs = Array.isArray(spec.parentRefs) ? spec.parentRefs : [];
  const at = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  const condition = (type: string, ok: boolean, reason: string, message: string) => ({
    type,
    status: ok ? "True" : "False",
    reason,
    message,
    observedGeneration: generation,
    lastTransitionTime: at,
  });
  const refuse = controller.refuse;
  obj.status = {
    parents: parentRefs.map((parentRef) => ({
      parentRef,
      controllerName: controller.controllerName,
      conditions: [
        refuse?.condition === "Accepted"
          ? condition("Accepted", false, refuse.reason, refuse.message)
          : condition("Accepted", true, "Accepted", "Route was valid"),
        refuse?.condition === "ResolvedRefs"
          ? condition("ResolvedRefs", false, refuse.reason, refuse.message)
          : condition("ResolvedRefs", true, "ResolvedRefs", "All references resolved"),
      ],
    })),
  };
}

/** HTTPRoute in the versions a cluster serves: v1 + v1beta1 (Gateway API v1.x), or v1beta1 only (older). */
export function httpRouteType(opts: { versions?: string[]; controller?: GatewayController } = {}): ResourceType {
  const versions = opts.versions ?? ["v1", "v1beta1"];
  const controller = opts.controller ?? newGatewayController();
  return {
    group: "gateway.networking.k8s.io",
    versions,
    storageVersion: versions.includes("v1") ? "v1" : versions[0]!,
    plural: "httproutes",
    singular: "httproute",
    kind: "HTTPRoute",
    namespaced: true,
    custom: true,
    statusSubresource: true,
    normalize: normalizeHttpRoute,
    validate: validateHttpRoute,
    settle: (obj) => settleHttpRoute(controller, obj),
  };
}

// ---------------------------------------------------------------------------------------------------

/**
 * Kubernetes' version priority (what makes a version "preferred"): GA before beta before alpha, then
 * higher numbers first: v1 > v1beta2 > v1beta1 > v1alpha4 > v1alpha1.
 */
export function compareKubeVersions(a: string, b: string): number {
  const rank = (v: string): [number, number, number] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [-1, 0, 0];
    const stability = m[2] === undefined ? 2 : m[2] === "beta" ? 1 : 0;
    return [stability, Number(m[1]), Number(m[3] ?? 0)];
  };
  const [ra, rb] = [rank(a), rank(b)];
  for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return rb[i]! - ra[i]!;
  return a.localeCompare(b);
}

export function defaultRegistry(flavour: SmiFlavour, httpRoute: ResourceType = httpRouteType()): ResourceType[] {
  const split = trafficSplitType(flavour);
  return [...(split ? [split] : []), deploymentType, httpRoute, serviceType];
}

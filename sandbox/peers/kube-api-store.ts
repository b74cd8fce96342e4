/**
 * The peer's object storage and write semantics, independent of HTTP: one cluster-wide resourceVersion
 * counter, optimistic concurrency on update, uid/creationTimestamp/generation bookkeeping, pruning,
 * defaulting and validation per served version, and the errors the API server answers with.
 */
import { randomUUID } from "node:crypto";
import { PatchError, jsonPatch, mergePatch } from "./kube-api-patch.ts";
import type { FieldCause, KubeObject, ResourceType } from "./kube-api-resources.ts";
import { applyScaleFields, conflictCauses, conflictMessage, recordUpdate, serverSideApply } from "./kube-api-managed.ts";

/** An error the API server reports as a `Status` object. */
export class ApiStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

export function qualified(type: ResourceType): string {
  return type.group ? `${type.plural}.${type.group}` : type.plural;
}

export function apiVersionOf(type: ResourceType, version: string): string {
  return type.group ? `${type.group}/${version}` : version;
}

function meta(obj: KubeObject): Record<string, unknown> {
  if (!isRecord(obj.metadata)) obj.metadata = {};
  return obj.metadata as Record<string, unknown>;
}

/** `manager`: who writes, for managedFields (the request's fieldManager, else its User-Agent); absent: not recorded. */
export type WriteOptions = { dryRun?: boolean; manager?: string };

/** managedFields the client sent that differ from what is stored are taken as given (the API server does too). */
function managedFieldsAfter(type: ResourceType, version: string, before: KubeObject | undefined, after: KubeObject, opts: WriteOptions, subresource?: string) {
  const sent = after.metadata?.managedFields;
  if (Array.isArray(sent) && JSON.stringify(sent) !== JSON.stringify(before?.metadata?.managedFields)) return sent;
  if (!opts.manager) return before?.metadata?.managedFields;
  const entries = recordUpdate(before, after, opts.manager, apiVersionOf(type, version), subresource);
  return entries.length ? entries : undefined;
}

export class ObjectStore {
  private counter = 1000;
  private readonly objects = new Map<string, KubeObject>();
  /** "any": every namespace exists. Otherwise only these do (writes elsewhere get 404 like a real cluster). */
  namespaces: Set<string> | "any" = "any";

  /** The newest resourceVersion handed out, as list metadata reports it. */
  get resourceVersion(): string {
    return String(this.counter);
  }

  private key(type: ResourceType, ns: string | undefined, name: string): string {
    return `${type.group}/${type.plural}/${ns ?? ""}/${name}`;
  }

  hasNamespace(ns: string): boolean {
    return this.namespaces === "any" || this.namespaces.has(ns);
  }

  /** Namespaces that exist: the restricted set, or (when any is accepted) those in use plus "default". */
  knownNamespaces(): string[] {
    if (this.namespaces !== "any") return [...this.namespaces].sort();
    const used = new Set(["default"]);
    for (const obj of this.objects.values()) {
      const ns = obj.metadata?.namespace;
      if (typeof ns === "string") used.add(ns);
    }
    return [...used].sort();
  }

  private requireNamespace(type: ResourceType, ns: string | undefined): void {
    if (type.namespaced && ns !== undefined && !this.hasNamespace(ns)) {
      throw new ApiStatusError(404, "NotFound", `namespaces "${ns}" not found`, { name: ns, kind: "namespaces" });
    }
  }

  private notFound(type: ResourceType, name: string): ApiStatusError {
    return new ApiStatusError(404, "NotFound", `${qualified(type)} "${name}" not found`, {
      name,
      group: type.group,
      kind: type.plural,
    });
  }

  private invalid(type: ResourceType, name: string, causes: FieldCause[]): ApiStatusError {
    const parts = causes.map((c) => `${c.field}: ${c.message}`);
    const list = parts.length === 1 ? parts[0] : `[${parts.join(", ")}]`;
    const kind = type.group ? `${type.kind}.${type.group}` : type.kind;
    return new ApiStatusError(422, "Invalid", `${kind} "${name}" is invalid: ${list}`, {
      name,
      group: type.group,
      kind: type.kind,
      causes: causes.map((c) => ({ reason: "FieldValueInvalid", message: c.message, field: c.field })),
    });
  }

  private conflict(type: ResourceType, name: string): ApiStatusError {
    return new ApiStatusError(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${qualified(type)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, group: type.group, kind: type.plural },
    );
  }

  /** The object as a client reading through `version` sees it (conversion "None": only apiVersion changes). */
  view(type: ResourceType, obj: KubeObject, version: string): KubeObject {
    return { ...structuredClone(obj), apiVersion: apiVersionOf(type, version), kind: type.kind };
  }

  get(type: ResourceType, ns: string | undefined, name: string): KubeObject | undefined {
    const obj = this.objects.get(this.key(type, ns, name));
    return obj ? structuredClone(obj) : undefined;
  }

  list(type: ResourceType, ns: string | undefined, labelSelector?: string): KubeObject[] {
    const prefix = `${type.group}/${type.plural}/`;
    const out: KubeObject[] = [];
    for (const [key, obj] of this.objects) {
      if (!key.startsWith(prefix)) continue;
      if (ns !== undefined && obj.metadata?.namespace !== ns) continue;
      if (labelSelector && !matchesLabels(obj, labelSelector)) continue;
      out.push(structuredClone(obj));
    }
    return out.sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
  }

  /** Prune, default and validate `obj` as written through `version`; returns what would be stored. */
  private admit(type: ResourceType, version: string, obj: KubeObject, name: string): KubeObject {
    const normalized = type.normalize ? type.normalize(structuredClone(obj), version) : structuredClone(obj);
    const causes = type.validate?.(normalized, version) ?? [];
    if (causes.length) throw this.invalid(type, name, causes);
    return normalized;
  }

  private checkApiVersion(type: ResourceType, version: string, body: KubeObject): void {
    const expected = apiVersionOf(type, version);
    if (body.apiVersion !== undefined && body.apiVersion !== expected) {
      throw new ApiStatusError(
        400,
        "BadRequest",
        `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${expected})`,
      );
    }
    if (body.kind !== undefined && body.kind !== type.kind) {
      throw new ApiStatusError(400, "BadRequest", `the kind in the data (${String(body.kind)}) does not match the expected kind (${type.kind})`);
    }
  }

  private bump(): string {
    this.counter += 1;
    return String(this.counter);
  }

  private store(type: ResourceType, obj: KubeObject): KubeObject {
    const m = meta(obj);
    obj.apiVersion = apiVersionOf(type, type.storageVersion);
    obj.kind = type.kind;
    type.settle?.(obj);
    this.objects.set(this.key(type, m.namespace as string | undefined, String(m.name)), obj);
    return structuredClone(obj);
  }

  create(type: ResourceType, version: string, ns: string | undefined, body: unknown, opts: WriteOptions = {}): KubeObject {
    if (!isRecord(body)) throw new ApiStatusError(400, "BadRequest", "the request body must be a JSON object");
    const obj = body as KubeObject;
    this.checkApiVersion(type, version, obj);
    const m = meta(obj);
    const name = m.name;
    if (typeof name !== "string" || name === "") {
      throw this.invalid(type, "", [{ field: "metadata.name", message: "Required value: name or generateName is required" }]);
    }
    if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253) {
      throw this.invalid(type, name, [
        {
          field: "metadata.name",
          message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
        },
      ]);
    }
    if (type.namespaced && m.namespace !== undefined && m.namespace !== ns) {
      throw new ApiStatusError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request");
    }
    if (m.resourceVersion !== undefined && m.resourceVersion !== "") {
      // What a real API server answers when a client posts an object it read earlier.
      throw new ApiStatusError(500, "InternalError", "Internal error occurred: resourceVersion should not be set on objects to be created");
    }
    this.requireNamespace(type, ns);
    if (this.objects.has(this.key(type, ns, name))) {
      throw new ApiStatusError(409, "AlreadyExists", `${qualified(type)} "${name}" already exists`, { name, group: type.group, kind: type.plural });
    }
    const admitted = this.admit(type, version, obj, name);
    if (type.statusSubresource) delete admitted.status;
    const am = meta(admitted);
    const managed = managedFieldsAfter(type, version, undefined, admitted, opts);
    if (managed) am.managedFields = managed;
    if (type.namespaced) am.namespace = ns;
    else delete am.namespace;
    am.uid = randomUUID();
    am.creationTimestamp = now();
    am.generation = 1;
    am.resourceVersion = opts.dryRun ? "" : this.bump();
    if (opts.dryRun) {
      type.settle?.(admitted);
      return this.view(type, admitted, version);
    }
    return this.view(type, this.store(type, admitted), version);
  }

  /** PUT: full replacement guarded by metadata.resourceVersion. */
  replace(type: ResourceType, version: string, ns: string | undefined, name: string, body: unknown, opts: WriteOptions = {}): KubeObject {
    if (!isRecord(body)) throw new ApiStatusError(400, "BadRequest", "the request body must be a JSON object");
    const obj = body as KubeObject;
    this.checkApiVersion(type, version, obj);
    const m = meta(obj);
    if (m.name !== undefined && m.name !== name) {
      throw new ApiStatusError(400, "BadRequest", `the name of the object (${String(m.name)}) does not match the name on the URL (${name})`);
    }
    if (type.namespaced && m.namespace !== undefined && m.namespace !== ns) {
      throw new ApiStatusError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request");
    }
    this.requireNamespace(type, ns);
    const current = this.objects.get(this.key(type, ns, name));
    if (!current) throw this.notFound(type, name);
    const rv = m.resourceVersion;
    if (rv === undefined || rv === "") {
      if (type.custom) {
        throw this.invalid(type, name, [{ field: "metadata.resourceVersion", message: "Invalid value: 0x0: must be specified for an update" }]);
      }
    } else if (rv !== meta(current).resourceVersion) {
      throw this.conflict(type, name);
    }
    return this.commit(type, version, current, obj, opts);
  }

  /** PATCH: merge or JSON patch applied to the object as seen through `version`. */
  patch(type: ResourceType, version: string, ns: string | undefined, name: string, contentType: string, patch: unknown, opts: WriteOptions = {}): KubeObject {
    this.requireNamespace(type, ns);
    const current = this.objects.get(this.key(type, ns, name));
    if (!current) throw this.notFound(type, name);
    const patched = this.applyPatch(type, this.view(type, current, version), contentType, patch);
    const rv = meta(patched).resourceVersion;
    if (rv !== undefined && rv !== meta(current).resourceVersion) throw this.conflict(type, name);
    return this.commit(type, version, current, patched, opts);
  }

  /** PATCH of the status subresource: only `status` changes; spec and metadata stay as stored. */
  patchStatus(
    type: ResourceType,
    version: string,
    ns: string | undefined,
    name: string,
    contentType: string,
    patch: unknown,
    opts: WriteOptions = {},
  ): KubeObject {
    this.requireNamespace(type, ns);
    const key = this.key(type, ns, name);
    const current = this.objects.get(key);
    if (!current) throw this.notFound(type, name);
    const patched = this.applyPatch(type, this.view(type, current, version), contentType, patch);
    const rv = meta(patched).resourceVersion;
    if (rv !== undefined && rv !== meta(current).resourceVersion) throw this.conflict(type, name);
    const next = structuredClone(current);
    if (patched.status === undefined) delete next.status;
    else next.status = patched.status;
    this.admit(type, version, next, name);
    if (JSON.stringify(stable(next)) === JSON.stringify(stable(current)) || opts.dryRun) return this.view(type, next, version);
    meta(next).resourceVersion = this.bump();
    this.objects.set(key, next);
    return this.view(type, next, version);
  }

  /**
   * Server-side apply (PATCH application/apply-patch+yaml): creates a missing object; a resourceVersion in
   * the body is a precondition (409 when stale); fields owned by another manager with another value are a
   * 409 with one cause per field unless `force` (see kube-api-managed.ts).
   */
  apply(type: ResourceType, version: string, ns: string | undefined, name: string, body: unknown, opts: WriteOptions & { force?: boolean }): KubeObject {
    if (!opts.manager) {
      throw new ApiStatusError(400, "BadRequest", "fieldManager: Required value: is required for apply patch");
    }
    if (!isRecord(body)) throw new ApiStatusError(400, "BadRequest", "the request body must be a JSON object");
    this.checkApiVersion(type, version, body as KubeObject);
    this.requireNamespace(type, ns);
    const current = this.objects.get(this.key(type, ns, name));
    const rv = isRecord(body.metadata) ? body.metadata.resourceVersion : undefined;
    if (rv !== undefined && rv !== "" && rv !== (current ? meta(current).resourceVersion : undefined)) {
      throw current ? this.conflict(type, name) : this.notFound(type, name);
    }
    const applied = structuredClone(body);
    if (isRecord(applied.metadata)) for (const k of ["resourceVersion", "managedFields", "name", "namespace"]) delete applied.metadata[k];
    const live = current ? this.view(type, current, version) : undefined;
    const merged = serverSideApply(live, applied, opts.manager, opts.force === true, apiVersionOf(type, version));
    if (!merged.ok) {
      throw new ApiStatusError(409, "Conflict", conflictMessage(merged.conflicts), { causes: conflictCauses(merged.conflicts) });
    }
    const obj = merged.object as KubeObject;
    const m = meta(obj);
    m.name = name;
    if (type.namespaced) m.namespace = ns;
    if (!current) {
      const created = this.create(
        type,
        version,
        ns,
        { ...obj, apiVersion: apiVersionOf(type, version), kind: type.kind },
        { ...(opts.dryRun ? { dryRun: true } : {}) },
      );
      return created;
    }
    m.resourceVersion = meta(current).resourceVersion;
    return this.commit(type, version, current, obj, { ...(opts.dryRun ? { dryRun: true } : {}) });
  }

  private applyPatch(type: ResourceType, target: KubeObject, contentType: string, patch: unknown): KubeObject {
    let result: unknown;
    try {
      if (contentType === "application/merge-patch+json") result = mergePatch(target, patch);
      else if (contentType === "application/json-patch+json") result = jsonPatch(target, patch);
      else if (contentType === "application/strategic-merge-patch+json" && !type.custom) result = mergePatch(target, patch);
      else {
        throw new ApiStatusError(
          415,
          "UnsupportedMediaType",
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json${type.custom ? "" : ", application/strategic-merge-patch+json"}`,
        );
      }
    } catch (err) {
      if (err instanceof PatchError) throw new ApiStatusError(422, "Invalid", `the server rejected our request due to an error in our request: ${err.message}`);
      throw err;
    }
    if (!isRecord(result)) throw new ApiStatusError(400, "BadRequest", "the patch produced something that is not an object");
    return result as KubeObject;
  }

  /** Admit `next` over `current`, keeping server-owned metadata; a no-op write keeps the resourceVersion. */
  private commit(type: ResourceType, version: string, current: KubeObject, next: KubeObject, opts: WriteOptions): KubeObject {
    const cm = meta(current);
    const name = String(cm.name);
    const admitted = this.admit(type, version, next, name);
    const am = meta(admitted);
    for (const k of ["name", "namespace", "uid", "creationTimestamp", "generation"]) {
      if (cm[k] === undefined) delete am[k];
      else am[k] = cm[k];
    }
    am.resourceVersion = cm.resourceVersion;
    const managed = managedFieldsAfter(type, version, current, admitted, opts);
    if (managed) am.managedFields = managed;
    else delete am.managedFields;
    // status is a subresource: a main-resource update leaves it
    if (type.scale || type.statusSubresource) {
      if (current.status === undefined) delete admitted.status;
      else admitted.status = current.status;
    }
    const candidate = { ...admitted, apiVersion: current.apiVersion, kind: current.kind };
    if (JSON.stringify(stable(candidate)) === JSON.stringify(stable(current))) {
      // The API server skips the storage write when nothing changed, so the resourceVersion stays.
      return this.view(type, current, version);
    }
    if (JSON.stringify(admitted.spec) !== JSON.stringify(current.spec)) am.generation = Number(cm.generation ?? 0) + 1;
    if (opts.dryRun) return this.view(type, admitted, version);
    am.resourceVersion = this.bump();
    return this.view(type, this.store(type, admitted), version);
  }

  delete(type: ResourceType, ns: string | undefined, name: string, opts: WriteOptions = {}): KubeObject {
    this.requireNamespace(type, ns);
    const key = this.key(type, ns, name);
    const current = this.objects.get(key);
    if (!current) throw this.notFound(type, name);
    if (!opts.dryRun) this.objects.delete(key);
    return structuredClone(current);
  }

  // -------------------------------------------------------------------------------------------------
  // scale subresource (autoscaling/v1 Scale)

  private scaleOf(obj: KubeObject): KubeObject {
    const m = meta(obj);
    const spec = isRecord(obj.spec) ? obj.spec : {};
    const status = isRecord(obj.status) ? obj.status : {};
    const selector = isRecord(spec.selector) && isRecord(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
    return {
      kind: "Scale",
      apiVersion: "autoscaling/v1",
      metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
      spec: { replicas: spec.replicas ?? 0 },
      status: {
        replicas: status.replicas ?? 0,
        selector: Object.entries(selector)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(","),
      },
    };
  }

  getScale(type: ResourceType, ns: string | undefined, name: string): KubeObject {
    const current = this.objects.get(this.key(type, ns, name));
    if (!current) throw this.notFound(type, name);
    return this.scaleOf(current);
  }

  /** PUT or PATCH of the scale subresource: only spec.replicas changes on the owner. */
  writeScale(type: ResourceType, ns: string | undefined, name: string, body: unknown, contentType?: string, opts: WriteOptions = {}): KubeObject {
    this.requireNamespace(type, ns);
    const current = this.objects.get(this.key(type, ns, name));
    if (!current) throw this.notFound(type, name);
    const scale = contentType ? this.applyPatch(type, this.scaleOf(current), contentType, body) : body;
    if (!isRecord(scale)) throw new ApiStatusError(400, "BadRequest", "the request body must be a JSON object");
    const rv = isRecord(scale.metadata) ? scale.metadata.resourceVersion : undefined;
    if (rv !== undefined && rv !== "" && rv !== meta(current).resourceVersion) throw this.conflict(type, name);
    const replicas = isRecord(scale.spec) ? scale.spec.replicas : undefined;
    if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0) {
      throw new ApiStatusError(
        422,
        "Invalid",
        `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
        {
          name,
          group: "autoscaling",
          kind: "Scale",
          causes: [{ reason: "FieldValueInvalid", field: "spec.replicas", message: "must be greater than or equal to 0" }],
        },
      );
    }
    const spec = isRecord(current.spec) ? current.spec : {};
    if (spec.replicas === replicas) return this.scaleOf(current);
    const next = structuredClone(current);
    next.spec = { ...spec, replicas };
    const nm = meta(next);
    const managed = opts.manager ? recordUpdate(current, next, opts.manager, "autoscaling/v1", "scale") : undefined;
    if (managed) nm.managedFields = managed;
    nm.generation = Number(nm.generation ?? 0) + 1;
    if (opts.dryRun) return this.scaleOf(next);
    nm.resourceVersion = this.bump();
    return this.scaleOf(this.store(type, next));
  }

  /**
   * PATCH `application/apply-patch+yaml` of the scale subresource: a Scale whose `spec.replicas` the manager
   * owns afterwards (subresource "scale"); another manager owning replicas with another value is a 409
   * with causes unless `force` (see applyScaleFields).
   */
  applyScale(type: ResourceType, ns: string | undefined, name: string, body: unknown, opts: WriteOptions & { force?: boolean }): KubeObject {
    if (!opts.manager) throw new ApiStatusError(400, "BadRequest", "fieldManager: Required value: is required for apply patch");
    this.requireNamespace(type, ns);
    const current = this.objects.get(this.key(type, ns, name));
    if (!current) throw this.notFound(type, name);
    if (!isRecord(body) || body.apiVersion !== "autoscaling/v1" || body.kind !== "Scale") {
      throw new ApiStatusError(400, "BadRequest", "the body of an apply to the scale subresource must be an autoscaling/v1 Scale");
    }
    const rv = isRecord(body.metadata) ? body.metadata.resourceVersion : undefined;
    if (rv !== undefined && rv !== "" && rv !== meta(current).resourceVersion) throw this.conflict(type, name);
    const replicas = isRecord(body.spec) ? body.spec.replicas : undefined;
    if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0) {
      throw new ApiStatusError(
        422,
        "Invalid",
        `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
      );
    }
    const applied = applyScaleFields(current, replicas, opts.manager, opts.force === true);
    if (!applied.ok) throw new ApiStatusError(409, "Conflict", conflictMessage(applied.conflicts), { causes: conflictCauses(applied.conflicts) });
    const next = structuredClone(current);
    const spec = isRecord(next.spec) ? next.spec : {};
    const changed = spec.replicas !== replicas;
    next.spec = { ...spec, replicas };
    const nm = meta(next);
    nm.managedFields = applied.managedFields;
    if (changed) nm.generation = Number(nm.generation ?? 0) + 1;
    if (opts.dryRun) return this.scaleOf(next);
    nm.resourceVersion = this.bump();
    return this.scaleOf(this.store(type, next));
  }

  // -------------------------------------------------------------------------------------------------
  // test hooks: state set up or changed out of band, as a person with kubectl would

  seed(type: ResourceType, ns: string | undefined, obj: KubeObject): KubeObject {
    const m = meta(obj);
    const version = versionIn(type, obj.apiVersion) ?? type.storageVersion;
    const copy = structuredClone(obj);
    delete meta(copy).resourceVersion;
    if (type.namespaced) {
      if (m.namespace !== undefined && m.namespace !== ns) throw new Error(`seed: metadata.namespace ${String(m.namespace)} is not ${ns}`);
      meta(copy).namespace = ns;
    }
    copy.apiVersion = apiVersionOf(type, version);
    const key = this.key(type, ns, String(m.name));
    this.objects.delete(key); // seeding replaces, so a test can reset a fixture
    const saved = this.namespaces;
    this.namespaces = "any"; // seeding may create an object in a namespace a test later removes
    try {
      return this.create(type, version, ns, copy);
    } finally {
      this.namespaces = saved;
    }
  }

  /** A controller catching up: status recomputed for the stored object (a status write: new resourceVersion). */
  resettle(type: ResourceType, ns: string | undefined, name: string): KubeObject {
    const current = this.objects.get(this.key(type, ns, name));
    if (!current) throw this.notFound(type, name);
    type.settle?.(current);
    meta(current).resourceVersion = this.bump();
    return structuredClone(current);
  }

  edit(type: ResourceType, ns: string | undefined, name: string, mutate: (obj: KubeObject) => KubeObject | void, opts: { manager?: string } = {}): KubeObject {
    const current = this.objects.get(this.key(type, ns, name));
    if (!current) throw this.notFound(type, name);
    const draft = structuredClone(current);
    const next = mutate(draft) ?? draft;
    meta(next).resourceVersion = meta(current).resourceVersion;
    return this.commit(type, type.storageVersion, current, next, { manager: opts.manager ?? "kubectl-edit" });
  }

  /**
   * What a controller reports (`status`), written as the status subresource would: spec and generation
   * stay, the resourceVersion moves, and no `settle` runs (so a test can show pods that are not available).
   */
  setStatus(type: ResourceType, ns: string | undefined, name: string, status: Record<string, unknown>): KubeObject {
    const current = this.objects.get(this.key(type, ns, name));
    if (!current) throw this.notFound(type, name);
    current.status = structuredClone(status);
    meta(current).resourceVersion = this.bump();
    return structuredClone(current);
  }
}

function versionIn(type: ResourceType, apiVersion: unknown): string | undefined {
  if (typeof apiVersion !== "string") return undefined;
  const version = type.group ? apiVersion.slice(type.group.length + 1) : apiVersion;
  const ok = (type.group === "" || apiVersion.startsWith(`${type.group}/`)) && type.versions.includes(version);
  return ok ? version : undefined;
}

/** Equality-based label selectors: `app=web,tier!=db,track`. */
function matchesLabels(obj: KubeObject, selector: string): boolean {
  const labels = isRecord(obj.metadata?.labels) ? (obj.metadata.labels as Record<string, unknown>) : {};
  return selector.split(",").every((term) => {
    const t = term.trim();
    if (!t) return true;
    const ne = /^([^!=]+)!=(.*)$/.exec(t);
    if (ne) return labels[ne[1]!.trim()] !== ne[2]!.trim();
    const eq = /^([^=]+)==?(.*)$/.exec(t);
    if (eq) return labels[eq[1]!.trim()] === eq[2]!.trim();
    return t.startsWith("!") ? !(t.slice(1) in labels) : t in labels;
  });
}

/** Key-sorted copy, so two objects compare equal whatever order their fields were written in. */
function stable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stable);
  if (!isRecord(v)) return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, stable(v[k])]),
  );
}

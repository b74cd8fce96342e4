/**
 * `metadata.managedFields` and server-side apply for the local Kubernetes API peer, as the API server keeps
 * them (k8s.io/apimachinery pkg/util/managedfields; facts in ../shared/reference/PROGRESSIVE-DELIVERY.md §5):
 *
 * - An update (PUT, merge/JSON patch, scale) records the fields whose value it changed under its manager
 *   (`fieldManager`, else the User-Agent up to its first `/`), operation `Update`, and takes them from
 *   every other manager; removed fields leave every set.
 * - An apply (PATCH `application/apply-patch+yaml`) owns exactly the fields it sends (operation `Apply`):
 *   a field another manager owns with a different value is a conflict (409 with one cause per field) unless
 *   `force=true`, which takes it; a field the applier owned before and no longer sends is removed when
 *   nobody else owns it.
 *
 * Simplification (said here, not hidden): every list is atomic (true of HTTPRoute `spec.rules` and
 * TrafficSplit `spec.backends`, the lists the bot writes; list-maps such as a Deployment's containers are
 * tracked whole), and an object's identity (name, namespace, uid, resourceVersion, ...) and `status` are
 * not tracked.
 */

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export type ManagedFieldsEntry = {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: Record<string, unknown>;
  subresource?: string;
};

const UNTRACKED_METADATA = new Set(["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"]);

const esc = (t: string) => t.replace(/~/g, "~0").replace(/\//g, "~1");
const unesc = (t: string) => t.replace(/~1/g, "/").replace(/~0/g, "~");

/** The leaf fields an object sets, as JSON pointers (maps walked, lists and scalars are leaves). */
export function leafFields(obj: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const walk = (v: unknown, at: string, depth: number) => {
    if (isRecord(v)) {
      // A map is walked; an empty one (metadata: {} once identity is left out) sets nothing.
      for (const [k, child] of Object.entries(v)) {
        if (depth === 0 && (k === "apiVersion" || k === "kind" || k === "status")) continue;
        if (depth === 1 && at === "/metadata" && UNTRACKED_METADATA.has(k)) continue;
        walk(child, `${at}/${esc(k)}`, depth + 1);
      }
      return;
    }
    if (depth > 0) out.set(at, v);
  };
  walk(obj, "", 0);
  return out;
}

export function toFieldsV1(paths: Iterable<string>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const p of paths) {
    let node = root;
    for (const t of p.slice(1).split("/").map(unesc)) {
      const key = `f:${t}`;
      node[key] ??= {};
      node = node[key] as Record<string, unknown>;
    }
  }
  return root;
}

export function fromFieldsV1(trie: unknown): string[] {
  const out: string[] = [];
  const walk = (node: unknown, at: string) => {
    if (!isRecord(node)) return;
    const keys = Object.keys(node).filter((k) => k.startsWith("f:"));
    if (keys.length === 0 && at) out.push(at);
    for (const k of keys) walk(node[k], `${at}/${esc(k.slice(2))}`);
  };
  walk(trie, "");
  return out;
}

/** Does `a` overlap `b` (one is the other or inside it)? */
const overlaps = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const nowText = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

function entriesOf(obj: unknown): ManagedFieldsEntry[] {
  const m = isRecord(obj) && isRecord(obj.metadata) ? obj.metadata.managedFields : undefined;
  return Array.isArray(m) ? (structuredClone(m) as ManagedFieldsEntry[]) : [];
}

function withoutFields(entries: ManagedFieldsEntry[], drop: (path: string, e: ManagedFieldsEntry) => boolean): ManagedFieldsEntry[] {
  return entries
    .map((e) => {
      const kept = fromFieldsV1(e.fieldsV1).filter((p) => !drop(p, e));
      return { ...e, fieldsV1: toFieldsV1(kept) };
    })
    .filter((e) => Object.keys(e.fieldsV1).length > 0);
}

/** The managedFields after an update by `manager` turned `before` (absent: a create) into `after`. */
export function recordUpdate(before: unknown, after: unknown, manager: string, apiVersion: string, subresource?: string): ManagedFieldsEntry[] {
  const old = leafFields(before ?? {});
  const now = leafFields(after);
  const changed = [...now.entries()].filter(([p, v]) => !old.has(p) || !same(old.get(p), v)).map(([p]) => p);
  const removed = [...old.keys()].filter((p) => !now.has(p));
  const isMine = (e: ManagedFieldsEntry) => e.manager === manager && e.operation === "Update" && (e.subresource ?? "") === (subresource ?? "");
  let entries = withoutFields(entriesOf(before), (p, e) => removed.some((r) => overlaps(p, r)) || (!isMine(e) && changed.some((c) => overlaps(p, c))));
  if (changed.length === 0) return entries;
  const mine = entries.find(isMine);
  const paths = [...new Set([...(mine ? fromFieldsV1(mine.fieldsV1) : []), ...changed])];
  const entry: ManagedFieldsEntry = {
    manager,
    operation: "Update",
    apiVersion,
    time: nowText(),
    fieldsType: "FieldsV1",
    fieldsV1: toFieldsV1(paths),
    ...(subresource ? { subresource } : {}),
  };
  entries = entries.filter((e) => !isMine(e));
  return [...entries, entry];
}

export type ApplyConflict = { manager: string; operation: string; apiVersion?: string; time?: string; subresource?: string; field: string };

/**
 * Server-side apply of `applied` by `manager` over `live` (absent: create). Returns the merged object with
 * its managedFields, or the conflicts (nothing changed).
 */
export function serverSideApply(
  live: Record<string, unknown> | undefined,
  applied: Record<string, unknown>,
  manager: string,
  force: boolean,
  apiVersion: string,
): { ok: true; object: Record<string, unknown> } | { ok: false; conflicts: ApplyConflict[] } {
  const current = live ? structuredClone(live) : { metadata: {} };
  const liveLeaves = leafFields(current);
  const appliedLeaves = leafFields(applied);
  const entries = entriesOf(current);
  const isMine = (e: ManagedFieldsEntry) => e.manager === manager && e.operation === "Apply" && !e.subresource;
  const conflicts: ApplyConflict[] = [];
  for (const [path, value] of appliedLeaves) {
    const liveValue = liveLeaves.get(path);
    if (liveLeaves.has(path) && same(liveValue, value)) continue; // same value: shared ownership, no conflict
    for (const e of entries) {
      if (isMine(e) || e.subresource) continue;
      const owned = fromFieldsV1(e.fieldsV1).find((p) => overlaps(p, path));
      if (owned)
        conflicts.push({
          manager: e.manager,
          operation: e.operation,
          apiVersion: e.apiVersion,
          time: e.time,
          ...(e.subresource ? { subresource: e.subresource } : {}),
          field: owned,
        });
    }
  }
  if (conflicts.length && !force) return { ok: false, conflicts };
  // Fields this manager applied before and no longer sends are removed, unless someone else owns them too.
  const previously = entries.filter(isMine).flatMap((e) => fromFieldsV1(e.fieldsV1));
  const others = entries.filter((e) => !isMine(e)).flatMap((e) => fromFieldsV1(e.fieldsV1));
  const dropped = previously.filter((p) => !appliedLeaves.has(p) && !others.some((o) => overlaps(o, p)));
  for (const p of dropped) removeAt(current, p);
  for (const [p, v] of appliedLeaves) setAt(current, p, structuredClone(v));
  const taken = [...appliedLeaves.keys()];
  let next = force ? withoutFields(entries, (p, e) => !isMine(e) && !e.subresource && taken.some((t) => overlaps(p, t))) : entries;
  next = next.filter((e) => !isMine(e));
  next.push({ manager, operation: "Apply", apiVersion, time: nowText(), fieldsType: "FieldsV1", fieldsV1: toFieldsV1(taken) });
  (current.metadata as Record<string, unknown>).managedFields = next;
  return { ok: true, object: current };
}

/**
 * Server-side apply of a Scale (`spec.replicas`) by `manager` through the scale subresource: every other
 * manager owning the parent's `/spec/replicas` with another value conflicts, whether it wrote through the
 * Deployment (Argo CD, Flux, kubectl) or through the scale subresource (an HPA's kube-controller-manager),
 * as the API server's scale handler maps ownership between the two. Returns the parent's managedFields after
 * the apply, or the conflicts.
 */
export function applyScaleFields(
  parent: Record<string, unknown>,
  replicas: number,
  manager: string,
  force: boolean,
): { ok: true; managedFields: ManagedFieldsEntry[] } | { ok: false; conflicts: ApplyConflict[] } {
  const entries = entriesOf(parent);
  const isMine = (e: ManagedFieldsEntry) => e.manager === manager && e.operation === "Apply" && e.subresource === "scale";
  const current = isRecord(parent.spec) ? parent.spec.replicas : undefined;
  const conflicts: ApplyConflict[] =
    current === replicas
      ? []
      : entries
          .filter((e) => !isMine(e) && fromFieldsV1(e.fieldsV1).some((p) => overlaps(p, "/spec/replicas")))
          .map((e) => ({
            manager: e.manager,
            operation: e.operation,
            apiVersion: e.apiVersion,
            time: e.time,
            ...(e.subresource ? { subresource: e.subresource } : {}),
            field: "/spec/replicas",
          }));
  if (conflicts.length && !force) return { ok: false, conflicts };
  let next = force ? withoutFields(entries, (p, e) => !isMine(e) && overlaps(p, "/spec/replicas")) : entries;
  next = next.filter((e) => !isMine(e));
  next.push({
    manager,
    operation: "Apply",
    apiVersion: "autoscaling/v1",
    time: nowText(),
    fieldsType: "FieldsV1",
    fieldsV1: toFieldsV1(["/spec/replicas"]),
    subresource: "scale",
  });
  return { ok: true, managedFields: next };
}

function tokens(p: string): string[] {
  return p.slice(1).split("/").map(unesc);
}

function setAt(obj: Record<string, unknown>, p: string, value: unknown): void {
  const ts = tokens(p);
  let node = obj;
  for (const t of ts.slice(0, -1)) {
    if (!isRecord(node[t])) node[t] = {};
    node = node[t] as Record<string, unknown>;
  }
  node[ts[ts.length - 1]!] = value;
}

function removeAt(obj: Record<string, unknown>, p: string): void {
  const ts = tokens(p);
  let node: unknown = obj;
  for (const t of ts.slice(0, -1)) node = isRecord(node) ? node[t] : undefined;
  if (isRecord(node)) delete node[ts[ts.length - 1]!];
}

/** The API server's message for apply conflicts (apimachinery conflict.go). */
export function conflictMessage(conflicts: ApplyConflict[]): string {
  const who = (c: ApplyConflict) =>
    `"${c.manager}"${c.subresource ? ` with subresource "${c.subresource}"` : ""}${c.operation === "Update" ? ` using ${c.apiVersion ?? "v1"}${c.time ? ` at ${c.time}` : ""}` : ""}`;
  const field = (p: string) => "." + tokens(p).join(".");
  if (conflicts.length === 1) return `Apply failed with 1 conflict: conflict with ${who(conflicts[0]!)}: ${field(conflicts[0]!.field)}`;
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) byManager.set(who(c), [...(byManager.get(who(c)) ?? []), field(c.field)]);
  const parts = [...byManager.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([m, fs]) => `conflicts with ${m}:\n${fs.map((f) => `- ${f}`).join("\n")}`);
  return `Apply failed with ${conflicts.length} conflicts: ${parts.join("\n")}`;
}

export function conflictCauses(conflicts: ApplyConflict[]): { type: string; message: string; field: string }[] {
  return conflicts.map((c) => ({ type: "FieldManagerConflict", message: `conflict with "${c.manager}"`, field: "." + tokens(c.field).join(".") }));
}

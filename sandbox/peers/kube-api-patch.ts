/**
 * The two patch formats the peer understands: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).
 * Strategic merge patch is refused for custom resources by a real API server, so the peer does the same.
 */

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** RFC 7386: objects merge key by key, `null` deletes, anything else (arrays included) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

export class PatchError extends Error {}

type Op = { op: string; path: string; value?: unknown; from?: string };

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new PatchError(`invalid JSON pointer "${path}"`);
  return path
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: unknown, tokens: string[], path: string): { parent: Record<string, unknown> | unknown[]; key: string } {
  let node: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[Number(t)];
    else if (isRecord(node)) node = node[t];
    else node = undefined;
    if (node === undefined) throw new PatchError(`path "${path}" does not exist`);
  }
  if (!Array.isArray(node) && !isRecord(node)) throw new PatchError(`path "${path}" does not exist`);
  return { parent: node, key: tokens[tokens.length - 1]! };
}

function read(doc: unknown, path: string): unknown {
  let node: unknown = doc;
  for (const t of pointer(path)) {
    if (Array.isArray(node)) node = node[Number(t)];
    else if (isRecord(node)) node = node[t];
    else node = undefined;
    if (node === undefined) throw new PatchError(`path "${path}" does not exist`);
  }
  return node;
}

function write(doc: unknown, path: string, value: unknown, mode: "add" | "replace"): unknown {
  const tokens = pointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) {
    const index = key === "-" ? parent.length : Number(key);
    if (!Number.isInteger(index) || index < 0 || index > parent.length - (mode === "replace" ? 1 : 0)) {
      throw new PatchError(`index ${key} is out of range at "${path}"`);
    }
    if (mode === "add") parent.splice(index, 0, value);
    else parent[index] = value;
  } else {
    if (mode === "replace" && !(key in parent)) throw new PatchError(`path "${path}" does not exist`);
    parent[key] = value;
  }
  return doc;
}

function remove(doc: unknown, path: string): unknown {
  const tokens = pointer(path);
  const { parent, key } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index >= parent.length) throw new PatchError(`index ${key} is out of range at "${path}"`);
    parent.splice(index, 1);
  } else {
    if (!(key in parent)) throw new PatchError(`path "${path}" does not exist`);
    delete parent[key];
  }
  return doc;
}

/** RFC 6902 add/remove/replace/move/copy/test on a copy of `target`. Throws PatchError. */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new PatchError("a JSON patch must be an array of operations");
  let doc = structuredClone(target);
  for (const raw of ops as Op[]) {
    if (!isRecord(raw) || typeof raw.op !== "string" || typeof raw.path !== "string") {
      throw new PatchError(`invalid operation ${JSON.stringify(raw)}`);
    }
    switch (raw.op) {
      case "add":
        doc = write(doc, raw.path, structuredClone(raw.value), "add");
        break;
      case "replace":
        doc = write(doc, raw.path, structuredClone(raw.value), "replace");
        break;
      case "remove":
        doc = remove(doc, raw.path);
        break;
      case "copy":
      case "move": {
        const value = structuredClone(read(doc, String(raw.from)));
        if (raw.op === "move") doc = remove(doc, String(raw.from));
        doc = write(doc, raw.path, value, "add");
        break;
      }
      case "test":
        if (JSON.stringify(read(doc, raw.path)) !== JSON.stringify(raw.value)) {
          throw new PatchError(`test failed at "${raw.path}"`);
        }
        break;
      default:
        throw new PatchError(`unknown operation "${raw.op}"`);
    }
  }
  return doc;
}

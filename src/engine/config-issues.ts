import type { z } from "zod";

/**
 * Unknown keys in the targets file, as data: every object in its schema is strict, so a key the bot does not
 * know (a typo, a setting at the wrong level) is an error rather than silently ignored. For each one: its
 * path, the nearest key the bot knows at that level (when close enough to be a typo), where else in the
 * schema that key is known (misplaced), and the keys known there. Worded by src/slack/views/config-problems.ts.
 * Pure: the schema and zod's issue in, data out.
 */

export type UnknownKey = {
  /** `targets[0].stabel` */
  path: string;
  key: string;
  near?: string;
  /** Paths of the objects that do declare this key (`targets[].namerd`). */
  belongsUnder: string[];
  known: string[];
};

/** `targets[0].metrics.windowSeconds` from zod's path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

export function unknownKeys(schema: z.ZodType, issue: z.core.$ZodIssue): UnknownKey[] {
  if (issue.code !== "unrecognized_keys") return [];
  const known = objectKeysAt(schema, issue.path);
  return issue.keys.map((key) => {
    const near = nearest(key, known);
    return { path: formatPath([...issue.path, key]), key, ...(near ? { near } : {}), belongsUnder: near ? [] : whereKeyIsKnown(schema, key), known };
  });
}

/** The closest known key by edit distance (ignoring case), if it is close enough to be a typo. */
export function nearest(key: string, known: string[]): string | undefined {
  let best: { k: string; d: number } | undefined;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (!best || d < best.d) best = { k, d };
  }
  // A typo changes a few letters; anything further is a different word, and suggesting it would mislead.
  return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? best.k : undefined;
}

/** Levenshtein distance, counting a swap of two neighbours as one edit (`stabel` -> `stable`). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

type Def = { type: string; shape?: Record<string, z.ZodType>; innerType?: z.ZodType; element?: z.ZodType; in?: z.ZodType; options?: z.ZodType[] };

function defOf(s: z.ZodType): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

/** Through wrappers (optional, default, pipes...) to the schema that holds the value. */
function unwrap(s: z.ZodType): z.ZodType {
  for (let i = 0; i < 20; i++) {
    const def = defOf(s);
    const inner = def.innerType ?? (def.type === "pipe" ? def.in : undefined);
    if (!inner) return s;
    s = inner;
  }
  return s;
}

function childAt(s: z.ZodType, key: PropertyKey): z.ZodType | undefined {
  const def = defOf(unwrap(s));
  if (def.type === "object" && typeof key === "string") return def.shape?.[key];
  if (def.type === "array" && typeof key === "number") return def.element;
  return undefined;
}

/** The keys the object schema at `path` declares. */
export function objectKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let s: z.ZodType | undefined = schema;
  for (const p of path) {
    s = s && childAt(s, p);
    if (!s) return [];
  }
  const def = defOf(unwrap(s));
  return def.type === "object" ? Object.keys(def.shape ?? {}) : [];
}

/** Paths (`targets[].namerd`) of the objects anywhere in the schema that declare `key`. */
function whereKeyIsKnown(schema: z.ZodType, key: string): string[] {
  const found: string[] = [];
  const walk = (s: z.ZodType, at: string, depth: number) => {
    if (depth > 8) return;
    const def = defOf(unwrap(s));
    if (def.type === "array" && def.element) return walk(def.element, `${at}[]`, depth + 1);
    if (def.type !== "object") return;
    for (const [k, child] of Object.entries(def.shape ?? {})) {
      if (k === key) found.push(at || "(top level)");
      walk(child, at ? `${at}.${k}` : k, depth + 1);
    }
  };
  walk(schema, "", 0);
  return found;
}

/**
 * Validate objects against a CRD's OpenAPI v3 schema, read from /work/shared/reference at test time (the
 * CRD is upstream's: read, never copied into the project). Covers the structural keywords the API server
 * enforces: type (and int-or-string), enum, required, properties with unknown fields refused (the server
 * would prune them silently, which for a router means a write that does not say what it meant), items,
 * additionalProperties, min/max for items, lengths and numbers, and pattern. CEL rules
 * (x-kubernetes-validations) are not evaluated.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { FieldCause, KubeObject } from "../../sandbox/peers/kube-api.ts";

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  maxItems?: number;
  minItems?: number;
  maxLength?: number;
  minLength?: number;
  maximum?: number;
  minimum?: number;
  pattern?: string;
  nullable?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
};

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The reference CRDs: ../shared/reference next to the repository, else /work/shared/reference. */
export function referenceCrdPath(file: string): string {
  const near = join(REPO, "../shared/reference/crds", file);
  return existsSync(near) ? near : join("/work/shared/reference/crds", file);
}

/** The schema of each served version of the CRD in `file`. */
export function loadCrdSchemas(file: string, crdName?: string): Map<string, Schema> {
  let text = readFileSync(referenceCrdPath(file), "utf8");
  if (crdName) {
    // A file of several CRDs (Flagger ships one): the document that defines `crdName`. Its quoted
    // descriptions wrap below their key's indentation, which a strict YAML parser refuses; they say nothing
    // a validator needs, so they are emptied first.
    const doc = text.split(/^---\s*$/m).find((d) => new RegExp(`^  name: ${crdName.replaceAll(".", "\\.")}\\s*$`, "m").test(d));
    if (!doc) throw new Error(`${file} defines no CRD ${crdName}`);
    text = doc.replace(/description: '(?:[^']|'')*'/g, "description: ''").replace(/description: "(?:[^"\\]|\\.)*"/g, 'description: ""');
  }
  const crd = parse(text) as {
    spec: { versions: { name: string; served: boolean; schema: { openAPIV3Schema: Schema } }[] };
  };
  return new Map(crd.spec.versions.filter((v) => v.served).map((v) => [v.name, v.schema.openAPIV3Schema]));
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function typeOk(type: string, v: unknown): boolean {
  switch (type) {
    case "object":
      return isRecord(v);
    case "array":
      return Array.isArray(v);
    case "string":
      return typeof v === "string";
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "number":
      return typeof v === "number";
    case "boolean":
      return typeof v === "boolean";
    default:
      return true;
  }
}

export function validateAgainst(schema: Schema, value: unknown, at = ""): FieldCause[] {
  const field = at || "<root>";
  if (value === null) return schema.nullable ? [] : [{ field, message: "Invalid value: null" }];
  if (schema["x-kubernetes-int-or-string"]) {
    if (!(typeof value === "string" || (typeof value === "number" && Number.isInteger(value)))) return [{ field, message: "must be an integer or string" }];
  } else if (schema.type && !typeOk(schema.type, value)) {
    return [{ field, message: `Invalid value: must be of type ${schema.type}` }];
  }
  const causes: FieldCause[] = [];
  if (schema.enum && !schema.enum.includes(value)) causes.push({ field, message: `Unsupported value: ${JSON.stringify(value)}` });
  if (typeof value === "string") {
    if (schema.maxLength !== undefined && value.length > schema.maxLength)
      causes.push({ field, message: `Too long: may not be more than ${schema.maxLength}` });
    if (schema.minLength !== undefined && value.length < schema.minLength) causes.push({ field, message: `Too short: must be at least ${schema.minLength}` });
    if (schema.pattern && !new RegExp(schema.pattern).test(value))
      causes.push({ field, message: `Invalid value: ${JSON.stringify(value)}: should match '${schema.pattern}'` });
  }
  if (typeof value === "number") {
    if (schema.maximum !== undefined && value > schema.maximum) causes.push({ field, message: `should be less than or equal to ${schema.maximum}` });
    if (schema.minimum !== undefined && value < schema.minimum) causes.push({ field, message: `should be greater than or equal to ${schema.minimum}` });
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      causes.push({ field, message: `Too many: ${value.length}: must have at most ${schema.maxItems} items` });
    if (schema.minItems !== undefined && value.length < schema.minItems)
      causes.push({ field, message: `Too few: must have at least ${schema.minItems} items` });
    if (schema.items) value.forEach((item, i) => causes.push(...validateAgainst(schema.items!, item, `${at}[${i}]`)));
  }
  if (isRecord(value)) {
    for (const key of schema.required ?? []) if (!(key in value)) causes.push({ field: at ? `${at}.${key}` : key, message: "Required value" });
    for (const [key, v] of Object.entries(value)) {
      const path = at ? `${at}.${key}` : key;
      const sub = schema.properties?.[key];
      if (sub) causes.push(...validateAgainst(sub, v, path));
      else if (isRecord(schema.additionalProperties)) causes.push(...validateAgainst(schema.additionalProperties, v, path));
      else if (schema.properties && !schema["x-kubernetes-preserve-unknown-fields"])
        causes.push({ field: path, message: "unknown field (the API server would prune it)" });
    }
  }
  return causes;
}

/** A validator for the kube-api peer's `validators` option: the object as written through `version`. */
export function crdValidator(file: string, crdName?: string): (obj: KubeObject, version: string) => FieldCause[] {
  const schemas = loadCrdSchemas(file, crdName);
  return (obj, version) => {
    const schema = schemas.get(version);
    if (!schema) return [{ field: "apiVersion", message: `version ${version} is not served by ${file}` }];
    return validateAgainst(schema, obj);
  };
}

export const HTTPROUTE_CRD = "gateway-api-v1.6.1-httproutes.yaml";

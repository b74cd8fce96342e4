/**
 * Fields Kubernetes does not know, as `kubectl apply --validate=strict` reports them. kubernetes-models'
 * schema validation accepts unknown fields, so a misspelt `readOnlyRootFileSystem` would pass it and be
 * dropped by the API server; this walks an object along @kubernetes/client-node's generated model
 * classes (their attribute type maps list every field of every built-in type) and names each unknown one.
 */
import * as models from "@kubernetes/client-node";

type Attribute = { baseName: string; type: string };
type ModelClass = { getAttributeTypeMap(): Attribute[] };

const modelOf = (type: string): ModelClass | undefined => {
  const candidate = (models as unknown as Record<string, unknown>)[type] as Partial<ModelClass> | undefined;
  return typeof candidate?.getAttributeTypeMap === "function" ? (candidate as ModelClass) : undefined;
};

/** The generated class for a built-in object, e.g. apps/v1 Deployment -> V1Deployment; undefined for CRDs. */
export function modelNameFor(apiVersion: string, kind: string): string | undefined {
  const version = apiVersion.split("/").pop()!;
  const name = `${version[0]!.toUpperCase()}${version.slice(1)}${kind}`;
  return modelOf(name) ? name : undefined;
}

export function unknownFields(value: unknown, type: string, path = ""): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, array[1]!, `${path}[${i}]`)) : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}.${k}`));
  const model = modelOf(type);
  if (!model || typeof value !== "object") return []; // string, number, IntOrString, Date, object, any
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value as Record<string, unknown>).flatMap(([key, v]) => {
    const t = attributes.get(key);
    return t === undefined ? [`${path}.${key}`.replace(/^\./, "")] : unknownFields(v, t, `${path}.${key}`);
  });
}

import { z } from "zod";

/**
 * Who owns an object the bot writes (Argo CD, Flux), and will that owner put the bot's writes back?
 * Pure: the object's metadata and its owners' specs in (read by src/kube/ownership.ts), a verdict out, with
 * the exact snippet that makes the owner leave the bot's fields alone. The snippet is checked by the same
 * judgement (`withSnippet` then `judgeOwnership` says "ignored"). Codes and data only; words live in views.
 * Facts: ../shared/reference/PROGRESSIVE-DELIVERY.md sections 3-5.
 */

/** An object the bot writes, and the fields it writes there (JSON pointers, e.g. `/spec/rules`). */
export type WrittenObject = { group: string; kind: string; namespace: string; name: string; fields: string[] };

/** The same, with where it is served (`versions` in order of preference), for reading it. */
export type WrittenAt = WrittenObject & { plural: string; versions: readonly string[] };

export type ManagedEntry = { manager: string; operation?: string; time?: string; subresource?: string; fieldsV1?: unknown };

/** What the object's own metadata says. */
export type ObjectSignals = { labels: Record<string, string>; annotations: Record<string, string>; managedFields: ManagedEntry[] };

export type GitopsSettings = {
  /** The bot's field manager (server-side apply and updates): `rollout-bot` unless configured. */
  fieldManager: string;
  /** Argo CD's control-plane namespace (where an Application named plainly in a tracking id lives). */
  argocdNamespace: string;
  /** Argo CD's `application.instanceLabelKey` (label tracking). */
  argocdInstanceLabel: string;
};

export const DEFAULT_GITOPS: GitopsSettings = { fieldManager: "rollout-bot", argocdNamespace: "argocd", argocdInstanceLabel: "app.kubernetes.io/instance" };

export const ARGOCD_TRACKING = "argocd.argoproj.io/tracking-id";
export const ARGOCD_LEGACY_LABEL = "applications.argoproj.io/app-name";
export const FLUX_KS_NAME = "kustomize.toolkit.fluxcd.io/name";
export const FLUX_KS_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace";
export const FLUX_RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile";
export const FLUX_SSA = "kustomize.toolkit.fluxcd.io/ssa";
export const HELM_NAME = "helm.toolkit.fluxcd.io/name";
export const HELM_NAMESPACE = "helm.toolkit.fluxcd.io/namespace";
export const HELM_DRIFT = "helm.toolkit.fluxcd.io/driftDetection";

/** The managers GitOps controllers write under. */
export const GITOPS_MANAGERS = { argocd: "argocd-controller", kustomize: "kustomize-controller", helm: "helm-controller" } as const;

/** An object the bot paused (`gitops: pause`), as the rollout record keeps it to take the pause off later. */
export type PausedObject = { group: string; version: string; plural: string; kind: string; namespace: string; name: string };

// ------------------------------------------------------------------------------------------ owner specs

const IgnoreTargetSchema = z.looseObject({
  group: z.string().optional(),
  version: z.string().optional(),
  kind: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  labelSelector: z.string().optional(),
  annotationSelector: z.string().optional(),
});
/** Flux's IgnoreRule (Kustomization `spec.ignore[]`, HelmRelease `spec.driftDetection.ignore[]`). */
const IgnoreRuleSchema = z.looseObject({ paths: z.array(z.string()), target: IgnoreTargetSchema.optional() });
export type IgnoreRule = z.infer<typeof IgnoreRuleSchema>;

const IgnoreDifferencesSchema = z.looseObject({
  group: z.string().optional(),
  kind: z.string(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  jsonPointers: z.array(z.string()).optional(),
  jqPathExpressions: z.array(z.string()).optional(),
  managedFieldsManagers: z.array(z.string()).optional(),
});
export type IgnoreDifferences = z.infer<typeof IgnoreDifferencesSchema>;

/** The parts of an Argo CD Application's spec that decide whether a live edit is reverted. */
export const ApplicationSpecSchema = z.looseObject({
  syncPolicy: z
    .looseObject({
      automated: z.looseObject({ enabled: z.boolean().optional(), selfHeal: z.boolean().optional(), prune: z.boolean().optional() }).optional(),
      syncOptions: z.array(z.string()).optional(),
    })
    .optional(),
  ignoreDifferences: z.array(IgnoreDifferencesSchema).optional(),
});
export type ApplicationSpec = z.infer<typeof ApplicationSpecSchema>;

/** One system-level rule of `argocd-cm` (`resource.customizations.ignoreDifferences.<group>_<Kind>` or `.all`). */
export const ArgoCmRuleSchema = z.looseObject({
  jsonPointers: z.array(z.string()).optional(),
  jqPathExpressions: z.array(z.string()).optional(),
  managedFieldsManagers: z.array(z.string()).optional(),
});
export type ArgoCmRule = z.infer<typeof ArgoCmRuleSchema>;

/** Argo CD's system-level ignore rules, by the `argocd-cm` key that holds each (parsed by src/kube/ownership.ts). */
export type ArgoCmRules = Record<string, ArgoCmRule>;

export const ARGOCD_CM = "argocd-cm";
export const ARGOCD_CM_PREFIX = "resource.customizations.ignoreDifferences.";

/** The `argocd-cm` key whose rule applies to every object of this group and kind (`<group>_<Kind>`). */
export function argoCmKey(obj: Pick<WrittenObject, "group" | "kind">): string {
  return `${ARGOCD_CM_PREFIX}${obj.group}_${obj.kind}`;
}

export const KustomizationSpecSchema = z.looseObject({ suspend: z.boolean().optional(), ignore: z.array(IgnoreRuleSchema).optional() });
export type KustomizationSpec = z.infer<typeof KustomizationSpecSchema>;

export const HelmReleaseSpecSchema = z.looseObject({
  suspend: z.boolean().optional(),
  driftDetection: z.looseObject({ mode: z.string().optional(), ignore: z.array(IgnoreRuleSchema).optional() }).optional(),
});
export type HelmReleaseSpec = z.infer<typeof HelmReleaseSpecSchema>;

// ------------------------------------------------------------------------------------------ owners

export type OwnerKind = "argocd" | "flux-kustomization" | "flux-helmrelease";

/** An owner the object names (`name`/`namespace` absent: only a field manager says so). */
export type Owner = { kind: OwnerKind; name?: string; namespace?: string; via: "annotation" | "label" | "manager" };

/** What reading the owner's object gave. */
export type OwnerRead<S> =
  { state: "read"; spec: S } | { state: "missing" } | { state: "unreadable"; why: "forbidden" | "not-served" | "error"; message: string };

export type OwnerSpecs = {
  argocd?: OwnerRead<ApplicationSpec>;
  /** Argo CD's system-level rules from `argocd-cm` in its namespace (counted as the Application's own). */
  "argocd-cm"?: OwnerRead<ArgoCmRules>;
  "flux-kustomization"?: OwnerRead<KustomizationSpec>;
  "flux-helmrelease"?: OwnerRead<HelmReleaseSpec>;
};

/** Who, besides the bot, owns a field the bot writes (server-side apply's view). */
export type FieldOwner = { manager: string; operation?: string; time?: string; fields: string[] };

/** Which owners the object names, from its annotations, labels and field managers. Pure. */
export function claimedOwners(obj: WrittenObject, signals: ObjectSignals, settings: GitopsSettings): Owner[] {
  const owners: Owner[] = [];
  const tracked = parseTrackingId(signals.annotations[ARGOCD_TRACKING], settings.argocdNamespace);
  if (tracked && tracked.group === obj.group && tracked.kind === obj.kind && tracked.namespace === obj.namespace && tracked.name === obj.name) {
    owners.push({ kind: "argocd", name: tracked.app, namespace: tracked.appNamespace, via: "annotation" });
  } else {
    // Without a tracking annotation that describes the object itself, label tracking (older installs).
    const label = signals.labels[settings.argocdInstanceLabel] ?? signals.labels[ARGOCD_LEGACY_LABEL];
    if (label) owners.push({ kind: "argocd", name: label, namespace: settings.argocdNamespace, via: "label" });
  }
  const ks = signals.labels[FLUX_KS_NAME];
  if (ks) owners.push({ kind: "flux-kustomization", name: ks, namespace: signals.labels[FLUX_KS_NAMESPACE] ?? obj.namespace, via: "label" });
  const hr = signals.labels[HELM_NAME];
  if (hr) owners.push({ kind: "flux-helmrelease", name: hr, namespace: signals.labels[HELM_NAMESPACE] ?? obj.namespace, via: "label" });
  // A GitOps manager owning the bot's fields names its controller even when the labels were stripped.
  const byManager: [OwnerKind, string][] = [
    ["argocd", GITOPS_MANAGERS.argocd],
    ["flux-kustomization", GITOPS_MANAGERS.kustomize],
    ["flux-helmrelease", GITOPS_MANAGERS.helm],
  ];
  for (const [kind, manager] of byManager) {
    if (owners.some((o) => o.kind === kind)) continue;
    if (fieldOwners(obj, signals, settings).some((f) => f.manager === manager)) owners.push({ kind, via: "manager" });
  }
  return owners;
}

/** `<app>:<group>/<kind>:<namespace>/<name>`; `<app>` is `<appNamespace>_<name>` outside the control plane. */
export function parseTrackingId(
  value: string | undefined,
  controlNamespace: string,
): { app: string; appNamespace: string; group: string; kind: string; namespace: string; name: string } | undefined {
  if (!value) return undefined;
  const parts = value.split(":");
  if (parts.length < 3) return undefined;
  const [appPart, gk] = parts as [string, string];
  const nsName = parts.slice(2).join(":");
  const gkParts = gk.split("/");
  const nnParts = nsName.split("/");
  if (gkParts.length !== 2 || nnParts.length !== 2 || !appPart) return undefined;
  const sep = appPart.indexOf("_");
  const [appNamespace, app] = sep > 0 ? [appPart.slice(0, sep), appPart.slice(sep + 1)] : [controlNamespace, appPart];
  return { app, appNamespace, group: gkParts[0]!, kind: gkParts[1]!, namespace: nnParts[0]!, name: nnParts[1]! };
}

/** JSON pointer -> tokens (RFC 6901 unescaping). */
export function pointerTokens(p: string): string[] {
  if (p === "" || p === "/") return [];
  return p
    .replace(/^\//, "")
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Does a managedFields `fieldsV1` trie own the field at `pointer`, or something inside it? */
export function ownsField(fieldsV1: unknown, pointer: string): boolean {
  let node: unknown = fieldsV1;
  for (const t of pointerTokens(pointer)) {
    if (!isRecord(node)) return false;
    const next = node[`f:${t}`];
    if (next === undefined) return false;
    // `{}` is a leaf: the whole field (an atomic list, a scalar) is owned.
    if (isRecord(next) && Object.keys(next).length === 0) return true;
    node = next;
  }
  return isRecord(node);
}

/** Managers other than the bot owning a field the bot writes (main resource or `scale`), newest first. */
export function fieldOwners(obj: WrittenObject, signals: ObjectSignals, settings: GitopsSettings): FieldOwner[] {
  const out: FieldOwner[] = [];
  for (const e of signals.managedFields) {
    if (e.manager === settings.fieldManager || (e.subresource && e.subresource !== "scale")) continue;
    const fields = obj.fields.filter((f) => ownsField(e.fieldsV1, f));
    if (fields.length) out.push({ manager: e.manager, ...(e.operation ? { operation: e.operation } : {}), ...(e.time ? { time: e.time } : {}), fields });
  }
  return out.sort((a, b) => (b.time ?? "").localeCompare(a.time ?? ""));
}

// ------------------------------------------------------------------------------------------ judgement

export type OwnershipReason =
  // will-revert
  | "self-heal" // Argo CD auto-sync with selfHeal: put back within seconds
  | "auto-sync" // Argo CD auto-sync: put back by the next sync (a new revision)
  | "manual-sync" // Argo CD: put back by whoever presses Sync; shown OutOfSync meanwhile
  | "ignore-without-respect" // Argo CD ignores the fields in the diff, but a sync still writes git's values back
  | "drift-correction" // Flux kustomize-controller: put back at the next reconcile
  | "helm-drift-correction" // Flux helm-controller with driftDetection enabled
  // ignored
  | "ignore-differences" // Argo CD ignoreDifferences covering the fields + RespectIgnoreDifferences=true
  | "argocd-cm-ignore" // the same, by a system-level rule in argocd-cm
  | "reconcile-disabled" // kustomize.toolkit.fluxcd.io/reconcile: disabled on the object
  | "ssa-ignore" // kustomize.toolkit.fluxcd.io/ssa: Ignore / IfNotPresent
  | "suspended" // Kustomization / HelmRelease suspended
  | "ignore-rule" // Flux ignore rule covering the fields
  | "drift-detection-off" // HelmRelease without drift correction: only an upgrade re-applies
  // unknown
  | "owner-unnamed" // only a field manager says a GitOps controller owns it
  | "owner-missing" // the named Application / Kustomization / HelmRelease does not exist
  | "owner-unreadable" // no right to read it, or its CRD is not served
  | "argocd-cm-unreadable"; // the Application leaves it to argocd-cm, which the bot cannot read

export type OwnershipVerdictKind = "will-revert" | "ignored" | "unknown";

export type OwnerJudgement = {
  owner: Owner;
  verdict: OwnershipVerdictKind;
  reason: OwnershipReason;
  /** For owner-unreadable: what the API said. */
  message?: string;
  /** What to add to the owner so it leaves the bot's fields alone (absent when the owner is not named). */
  snippet?: Snippet;
};

export type OwnershipVerdict = {
  object: WrittenObject;
  /** "not-owned": nothing names an owner. Otherwise the worst of the owners' verdicts. */
  verdict: OwnershipVerdictKind | "not-owned";
  owners: OwnerJudgement[];
  /** Other managers owning the bot's fields (a server-side apply would conflict with them). */
  fieldOwners: FieldOwner[];
};

/** The whole judgement for one object. Pure. */
export function judgeOwnership(obj: WrittenObject, signals: ObjectSignals, specs: OwnerSpecs, settings: GitopsSettings): OwnershipVerdict {
  const owners = claimedOwners(obj, signals, settings).map((o) => judgeOwner(obj, signals, o, specs, settings));
  const rank: Record<OwnershipVerdictKind, number> = { "will-revert": 3, unknown: 2, ignored: 1 };
  const worst = owners.reduce<OwnershipVerdictKind | undefined>((w, j) => (w === undefined || rank[j.verdict] > rank[w] ? j.verdict : w), undefined);
  const others = fieldOwners(obj, signals, settings).filter((f) => !Object.values(GITOPS_MANAGERS).includes(f.manager as never));
  return { object: obj, verdict: worst ?? "not-owned", owners, fieldOwners: others };
}

function judgeOwner(obj: WrittenObject, signals: ObjectSignals, owner: Owner, specs: OwnerSpecs, settings: GitopsSettings): OwnerJudgement {
  const flag = (key: string) => (signals.annotations[key] ?? signals.labels[key])?.toLowerCase();
  // Flux's per-object switches are read whatever the owner's object says (and when it cannot be read).
  if (owner.kind === "flux-kustomization") {
    if (flag(FLUX_RECONCILE) === "disabled") return { owner, verdict: "ignored", reason: "reconcile-disabled" };
    if (flag(FLUX_SSA) === "ignore" || flag(FLUX_SSA) === "ifnotpresent") return { owner, verdict: "ignored", reason: "ssa-ignore" };
  }
  if (owner.kind === "flux-helmrelease" && flag(HELM_DRIFT) === "disabled") return { owner, verdict: "ignored", reason: "drift-detection-off" };
  if (!owner.name || !owner.namespace) return { owner, verdict: "unknown", reason: "owner-unnamed" };
  const read = specs[owner.kind];
  if (!read || read.state === "unreadable") {
    return { owner, verdict: "unknown", reason: "owner-unreadable", ...(read ? { message: read.message } : { message: "not read" }) };
  }
  if (read.state === "missing") return { owner, verdict: "unknown", reason: "owner-missing" };
  const snippet = snippetFor(obj, owner, settings);
  const judged = (verdict: OwnershipVerdictKind, reason: OwnershipReason): OwnerJudgement => ({
    owner,
    verdict,
    reason,
    ...(verdict === "will-revert" && snippet ? { snippet } : {}),
  });
  switch (owner.kind) {
    case "argocd": {
      const spec = read.spec as ApplicationSpec;
      const respect = (spec.syncPolicy?.syncOptions ?? []).some((o) => o.replace(/\s/g, "").toLowerCase() === "respectignoredifferences=true");
      // The Application's own entries decide alone when they cover; else argocd-cm's system-level rules count
      // the same, and argocd-cm unread is unknown (never assumed to hold nothing) where it could decide.
      const cm = specs["argocd-cm"];
      const byApp = argoIgnores(spec.ignoreDifferences ?? [], obj, settings);
      const byCm = !byApp && cm?.state === "read" && argoIgnores(argoCmEntries(cm.spec, obj), obj, settings);
      if ((byApp || byCm) && respect) return judged("ignored", byApp ? "ignore-differences" : "argocd-cm-ignore");
      if (byApp || byCm) return judged("will-revert", "ignore-without-respect");
      if (respect && cm?.state !== "read") {
        const message = cm?.state === "unreadable" ? cm.message : cm?.state === "missing" ? `ConfigMap ${ARGOCD_CM} does not exist` : "not read";
        return { owner, verdict: "unknown", reason: "argocd-cm-unreadable", message, ...(snippet ? { snippet } : {}) };
      }
      const auto = spec.syncPolicy?.automated;
      const autoOn = auto !== undefined && auto.enabled !== false;
      return judged("will-revert", autoOn ? (auto.selfHeal ? "self-heal" : "auto-sync") : "manual-sync");
    }
    case "flux-kustomization": {
      const spec = read.spec as KustomizationSpec;
      if (spec.suspend) return judged("ignored", "suspended");
      if (fluxIgnores(spec.ignore, obj, signals)) return judged("ignored", "ignore-rule");
      return judged("will-revert", "drift-correction");
    }
    case "flux-helmrelease": {
      const spec = read.spec as HelmReleaseSpec;
      if (spec.suspend) return judged("ignored", "suspended");
      if ((spec.driftDetection?.mode ?? "disabled") !== "enabled") return judged("ignored", "drift-detection-off");
      if (fluxIgnores(spec.driftDetection?.ignore, obj, signals)) return judged("ignored", "ignore-rule");
      return judged("will-revert", "helm-drift-correction");
    }
  }
}

/** Is `path` (a JSON pointer) the field or an ancestor of it? */
function covers(path: string, field: string): boolean {
  const p = pointerTokens(path);
  const f = pointerTokens(field);
  return p.length <= f.length && p.every((t, i) => t === f[i]);
}

/** A jq path Argo CD takes that is a plain field path (`.spec.rules`), as a JSON pointer; undefined otherwise. */
export function jqAsPointer(jq: string): string | undefined {
  const m = /^(\.[A-Za-z_][A-Za-z0-9_-]*)+$/.exec(jq.trim());
  if (!m) return undefined;
  return jq
    .trim()
    .split(".")
    .slice(1)
    .map((t) => "/" + t.replace(/~/g, "~0").replace(/\//g, "~1"))
    .join("");
}

/** argocd-cm's rules that apply to the object (its group and kind, and `all`), as ignoreDifferences entries. */
function argoCmEntries(rules: ArgoCmRules, obj: WrittenObject): IgnoreDifferences[] {
  const keys = [argoCmKey(obj), `${ARGOCD_CM_PREFIX}all`, ...(obj.group ? [] : [`${ARGOCD_CM_PREFIX}${obj.kind}`])];
  return keys.flatMap((k) => (rules[k] ? [{ ...rules[k], group: obj.group, kind: obj.kind }] : []));
}

function argoIgnores(ignoreDifferences: IgnoreDifferences[], obj: WrittenObject, settings: GitopsSettings): boolean {
  const entries = ignoreDifferences.filter(
    (e) =>
      (e.group === "*" || (e.group ?? "") === obj.group) &&
      (e.kind === "*" || e.kind === obj.kind) &&
      (e.name === undefined || e.name === "" || e.name === obj.name) &&
      (e.namespace === undefined || e.namespace === "" || e.namespace === obj.namespace),
  );
  if (entries.some((e) => (e.managedFieldsManagers ?? []).includes(settings.fieldManager))) return true;
  const paths = entries.flatMap((e) => [...(e.jsonPointers ?? []), ...(e.jqPathExpressions ?? []).flatMap((q) => jqAsPointer(q) ?? [])]);
  return obj.fields.every((f) => paths.some((p) => covers(p, f)));
}

function regexMatches(pattern: string | undefined, value: string): boolean {
  if (pattern === undefined || pattern === "") return true;
  try {
    return new RegExp(`^(?:${pattern})$`).test(value);
  } catch {
    return false;
  }
}

/** Equality-based selectors (`a=b,c!=d,e`); anything else (set-based) is not understood: no match. */
function selectorMatches(selector: string | undefined, values: Record<string, string>): boolean {
  if (selector === undefined || selector.trim() === "") return true;
  return selector.split(",").every((term) => {
    const t = term.trim();
    const ne = /^([^!=\s]+)\s*!=\s*(.*)$/.exec(t);
    if (ne) return values[ne[1]!] !== ne[2];
    const eq = /^([^!=\s]+)\s*==?\s*(.*)$/.exec(t);
    if (eq) return values[eq[1]!] === eq[2];
    if (/^[A-Za-z0-9./_-]+$/.test(t)) return t in values;
    if (/^![A-Za-z0-9./_-]+$/.test(t)) return !(t.slice(1) in values);
    return false;
  });
}

function fluxIgnores(rules: IgnoreRule[] | undefined, obj: WrittenObject, signals: ObjectSignals): boolean {
  const matching = (rules ?? []).filter((r) => {
    const t = r.target;
    if (!t) return true;
    return (
      regexMatches(t.group, obj.group) &&
      regexMatches(t.kind, obj.kind) &&
      regexMatches(t.name, obj.name) &&
      regexMatches(t.namespace, obj.namespace) &&
      selectorMatches(t.labelSelector, signals.labels) &&
      selectorMatches(t.annotationSelector, signals.annotations)
    );
  });
  const paths = matching.flatMap((r) => r.paths);
  return obj.fields.every((f) => paths.some((p) => covers(p, f)));
}

// ------------------------------------------------------------------------------------------ snippets

/** What to add to the owner's object; `masks` says what that hides in git while it is in place. */
export type Snippet =
  | {
      kind: "argocd";
      application: { name: string; namespace: string };
      ignoreDifferences: IgnoreDifferences;
      syncOption: string;
      /**
       * The same for every Application at once: a system-level rule in `argocd-cm` ignoring what the bot's
       * field manager writes in every object of this group and kind (the Application still needs `syncOption`).
       */
      system: { configMap: { name: string; namespace: string }; key: string; rule: ArgoCmRule };
    }
  | { kind: "flux-kustomization"; kustomization: { name: string; namespace: string }; ignore: IgnoreRule }
  | { kind: "flux-helmrelease"; helmRelease: { name: string; namespace: string }; ignore: IgnoreRule };

const anchored = (s: string) => `^${s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`;

export function snippetFor(obj: WrittenObject, owner: Owner, settings: GitopsSettings = DEFAULT_GITOPS): Snippet | undefined {
  if (!owner.name || !owner.namespace) return undefined;
  const at = { name: owner.name, namespace: owner.namespace };
  // Flux's target fields are regular expressions: anchor the names so the rule covers this object only.
  const target = { ...(obj.group ? { group: anchored(obj.group) } : {}), kind: obj.kind, name: anchored(obj.name), namespace: anchored(obj.namespace) };
  switch (owner.kind) {
    case "argocd":
      return {
        kind: "argocd",
        application: at,
        ignoreDifferences: {
          ...(obj.group ? { group: obj.group } : {}),
          kind: obj.kind,
          name: obj.name,
          namespace: obj.namespace,
          jsonPointers: [...obj.fields],
        },
        syncOption: "RespectIgnoreDifferences=true",
        system: {
          configMap: { name: ARGOCD_CM, namespace: settings.argocdNamespace },
          key: argoCmKey(obj),
          rule: { managedFieldsManagers: [settings.fieldManager] },
        },
      };
    case "flux-kustomization":
      return { kind: "flux-kustomization", kustomization: at, ignore: { paths: [...obj.fields], target } };
    case "flux-helmrelease":
      return { kind: "flux-helmrelease", helmRelease: at, ignore: { paths: [...obj.fields], target } };
  }
}

/**
 * argocd-cm's rules with the snippet's system-level rule added (idempotent; the Application still needs the
 * sync option, `withSnippet` on a spec that has it, or `withSyncOption`). Pure.
 */
export function withSystemSnippet(rules: ArgoCmRules, snippet: Extract<Snippet, { kind: "argocd" }>): ArgoCmRules {
  const out = structuredClone(rules);
  const rule = (out[snippet.system.key] ??= {});
  const managers = rule.managedFieldsManagers ?? [];
  for (const m of snippet.system.rule.managedFieldsManagers ?? []) if (!managers.includes(m)) managers.push(m);
  rule.managedFieldsManagers = managers;
  return out;
}

/** The owner's spec with the snippet added (idempotent): what the person's git change amounts to. Pure. */
export function withSnippet(spec: Record<string, unknown>, snippet: Snippet): Record<string, unknown> {
  const out = structuredClone(spec);
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  switch (snippet.kind) {
    case "argocd": {
      const list = Array.isArray(out.ignoreDifferences) ? (out.ignoreDifferences as unknown[]) : [];
      if (!list.some((e) => same(e, snippet.ignoreDifferences))) list.push(structuredClone(snippet.ignoreDifferences));
      out.ignoreDifferences = list;
      const policy = isRecord(out.syncPolicy) ? out.syncPolicy : {};
      const options = Array.isArray(policy.syncOptions) ? (policy.syncOptions as unknown[]) : [];
      if (!options.includes(snippet.syncOption)) options.push(snippet.syncOption);
      out.syncPolicy = { ...policy, syncOptions: options };
      return out;
    }
    case "flux-kustomization": {
      const list = Array.isArray(out.ignore) ? (out.ignore as unknown[]) : [];
      if (!list.some((r) => same(r, snippet.ignore))) list.push(structuredClone(snippet.ignore));
      out.ignore = list;
      return out;
    }
    case "flux-helmrelease": {
      const drift = isRecord(out.driftDetection) ? out.driftDetection : {};
      const list = Array.isArray(drift.ignore) ? (drift.ignore as unknown[]) : [];
      if (!list.some((r) => same(r, snippet.ignore))) list.push(structuredClone(snippet.ignore));
      out.driftDetection = { ...drift, ignore: list };
      return out;
    }
  }
}

// ------------------------------------------------------------------------------------------ back to git

/**
 * What a GitOps-owned object held in the bot's fields before the rollout's first write: what git held, as
 * far as the cluster can tell (the owner had it in sync). At the end the live values are held against it.
 */
export type GitBaseline = { object: WrittenAt; apiVersion: string; owner: Owner; values: Record<string, unknown> };

/** The value at a JSON pointer (undefined when absent). */
export function valueAt(obj: unknown, pointer: string): unknown {
  let node: unknown = obj;
  for (const t of pointerTokens(pointer)) node = isRecord(node) ? node[t] : undefined;
  return node;
}

/** What git must say now: the object's identity and the bot's fields as the cluster holds them; `differs` from the baseline. */
export function backToGit(b: GitBaseline, live: unknown): { differs: boolean; patch: Record<string, unknown> } {
  const patch: Record<string, unknown> = { apiVersion: b.apiVersion, kind: b.object.kind, metadata: { name: b.object.name, namespace: b.object.namespace } };
  let differs = false;
  for (const f of b.object.fields) {
    const now = valueAt(live, f);
    if (JSON.stringify(now) !== JSON.stringify(b.values[f])) differs = true;
    const tokens = pointerTokens(f);
    let node = patch;
    for (const t of tokens.slice(0, -1)) node = (node[t] ??= {}) as Record<string, unknown>;
    node[tokens[tokens.length - 1]!] = structuredClone(now);
  }
  return { differs, patch };
}

// ------------------------------------------------------------------------------------------ drift: who

/** Who last changed the bot's fields (managedFields), and the GitOps owner behind that manager, if any. */
export type DriftAuthor = {
  manager: string;
  operation?: string;
  /** managedFields `time` (RFC 3339) of that manager's last change. */
  time?: string;
  gitops?: { owner: Owner; verdict: OwnershipVerdictKind; reason: OwnershipReason; snippet?: Snippet };
};

/**
 * Server-side apply refused the bot's write: these managers own these fields (as the API's 409 named them),
 * and `owner` the GitOps owner behind one of them, when known.
 */
export type OwnedBy = { managers: string[]; fields: string[]; owner?: Owner };

/** The GitOps controller a field manager is, if it is one. */
export function ownerKindOfManager(manager: string): OwnerKind | undefined {
  return OWNER_OF_MANAGER[manager];
}

const OWNER_OF_MANAGER: Record<string, OwnerKind> = {
  [GITOPS_MANAGERS.argocd]: "argocd",
  [GITOPS_MANAGERS.kustomize]: "flux-kustomization",
  [GITOPS_MANAGERS.helm]: "flux-helmrelease",
};

/** The newest other manager of the bot's fields, named with its GitOps owner when it is a GitOps controller. Pure. */
export function driftAuthor(v: OwnershipVerdict, signals: ObjectSignals, settings: GitopsSettings): DriftAuthor | undefined {
  const last = fieldOwners(v.object, signals, settings)[0];
  if (!last) return undefined;
  const kind = OWNER_OF_MANAGER[last.manager];
  const j = kind ? v.owners.find((o) => o.owner.kind === kind) : undefined;
  return {
    manager: last.manager,
    ...(last.operation ? { operation: last.operation } : {}),
    ...(last.time ? { time: last.time } : {}),
    ...(kind
      ? {
          gitops: {
            owner: j?.owner ?? { kind, via: "manager" },
            verdict: j?.verdict ?? "unknown",
            reason: j?.reason ?? "owner-unnamed",
            ...(j?.snippet ? { snippet: j.snippet } : {}),
          },
        }
      : {}),
  };
}

/**
 * Gateway API HTTPRoute (gateway.networking.k8s.io) as data: finding the rule that carries a rollout,
 * reading the pair's share of it, the route with new weights, the bot's header-matched test rule, the
 * CRD's limits, and what the controllers said in status.parents. Pure; the I/O lives in gateway.ts.
 *
 * Only what a rollout owns changes: the weights of the two backendRefs in one rule (plus the canary's
 * backendRef when the rule lacks it), and the bot's own test rule. Every other rule, match, filter and
 * backendRef is carried over as read, field for field. Weights are relative int32s (0..1,000,000): the
 * bot writes 100 - p and p, so the share is exact, and never all zero.
 */
import { createHash } from "node:crypto";
import { z } from "zod";

/** Known HTTPRoute versions, preferred first: v1 where served, else v1beta1 (clusters before Gateway API v1.0). */
export const GATEWAY_VERSIONS = ["v1", "v1beta1"] as const;
export type GatewayVersion = (typeof GATEWAY_VERSIONS)[number];
export const GATEWAY_GROUP = "gateway.networking.k8s.io";

/** The CRD's limits (gateway-api v1.6.1 standard channel). */
export const LIMITS = { rules: 16, backendRefs: 16, headersPerMatch: 16, matchesPerRule: 64, matchesPerRoute: 128 } as const;

const BackendRefSchema = z.looseObject({
  name: z.string(),
  group: z.string().optional(),
  kind: z.string().optional(),
  namespace: z.string().optional(),
  port: z.number().optional(),
  weight: z.number().optional(),
});
const HeaderMatchSchema = z.looseObject({ name: z.string(), value: z.string(), type: z.string().optional() });
const MatchSchema = z.looseObject({ headers: z.array(HeaderMatchSchema).optional() });
const RuleSchema = z.looseObject({
  name: z.string().optional(),
  matches: z.array(MatchSchema).optional(),
  backendRefs: z.array(BackendRefSchema).optional(),
});
const ParentRefSchema = z.looseObject({
  group: z.string().optional(),
  kind: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string(),
  sectionName: z.string().optional(),
  port: z.number().optional(),
});
const ConditionSchema = z.looseObject({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
  observedGeneration: z.number().optional(),
});

export const HttpRouteSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string().optional(),
    resourceVersion: z.string().optional(),
    generation: z.number().optional(),
  }),
  spec: z.looseObject({
    parentRefs: z.array(ParentRefSchema).optional(),
    rules: z.array(RuleSchema).optional(),
  }),
  status: z
    .looseObject({
      parents: z
        .array(z.looseObject({ parentRef: ParentRefSchema, controllerName: z.string().optional(), conditions: z.array(ConditionSchema).optional() }))
        .optional(),
    })
    .optional(),
});

export type HttpRoute = z.infer<typeof HttpRouteSchema>;
export type Rule = z.infer<typeof RuleSchema>;
export type BackendRef = z.infer<typeof BackendRefSchema>;
export type ParentRef = z.infer<typeof ParentRefSchema>;

/** The Service names of a rollout's two versions, as the route's backendRefs name them. */
export type Backends = { stable: string; canary: string };

/** How the rule that carries the split is chosen: its `name`, its index, or (absent) the one routing to stable. */
export type RuleSelector = string | number | undefined;

// ------------------------------------------------------------------------------------------ reading

const isCoreGroup = (g: string | undefined) => g === undefined || g === "" || g === "core";

/** The backendRef names Service `name` in the route's own namespace. */
export function refersTo(ref: BackendRef, name: string, routeNamespace: string): boolean {
  return isCoreGroup(ref.group) && (ref.kind ?? "Service") === "Service" && ref.name === name && (ref.namespace ?? routeNamespace) === routeNamespace;
}

const weightOf = (ref: BackendRef) => ref.weight ?? 1; // the CRD's default

export const ruleLabel = (rule: Rule, index: number) => (rule.name ? `rule ${rule.name}` : `rule #${index}`);

/** The rule the bot added for test requests: one whose matches all carry the test header. */
export function testRuleIndex(route: HttpRoute, header: string): number {
  const h = header.toLowerCase();
  return (route.spec.rules ?? []).findIndex(
    (r) => (r.matches ?? []).length > 0 && (r.matches ?? []).every((m) => (m.headers ?? []).some((x) => x.name.toLowerCase() === h)),
  );
}

/** The rule carrying the split, or why there is none (a sentence naming the route). */
export function findRule(
  route: HttpRoute,
  selector: RuleSelector,
  backends: Backends,
  testHeader: string,
  label: string,
): { ok: true; index: number; rule: Rule } | { ok: false; problem: string } {
  const rules = route.spec.rules ?? [];
  const ns = route.metadata.namespace ?? "";
  const own = testRuleIndex(route, testHeader);
  if (typeof selector === "number") {
    const rule = rules[selector];
    if (!rule || selector === own) {
      const count = own === -1 ? rules.length : rules.length - 1;
      return {
        ok: false,
        problem: `${label} has no rule #${selector} (it has ${count} rule${count === 1 ? "" : "s"}${own === -1 ? "" : " besides the bot's test rule"})`,
      };
    }
    return { ok: true, index: selector, rule };
  }
  if (typeof selector === "string") {
    const index = rules.findIndex((r) => r.name === selector);
    if (index === -1) {
      const names = rules.map((r) => r.name).filter(Boolean);
      return {
        ok: false,
        problem: `${label} has no rule named ${selector}${names.length ? ` (its rules are named ${names.join(", ")})` : " (its rules have no names)"}`,
      };
    }
    return { ok: true, index, rule: rules[index]! };
  }
  const routingTo = (service: string) =>
    rules.map((rule, index) => ({ rule, index })).filter(({ rule, index }) => index !== own && (rule.backendRefs ?? []).some((b) => refersTo(b, service, ns)));
  let candidates = routingTo(backends.stable);
  // Once Finish removed the stable's backendRef, the rule is the one routing to the canary.
  if (candidates.length === 0) candidates = routingTo(backends.canary);
  if (candidates.length === 1) return { ok: true, ...candidates[0]! };
  if (candidates.length === 0) return { ok: false, problem: `${label} has no rule with a backendRef to Service ${backends.stable}` };
  return {
    ok: false,
    problem: `${label} routes to Service ${backends.stable} in ${candidates.length} rules (${candidates.map((c) => ruleLabel(c.rule, c.index)).join(", ")}): name the one to shift in the target's gateway.rule`,
  };
}

export type Shares = {
  stable: number;
  canary: number;
  hasStable: boolean;
  hasCanary: boolean;
  /** backendRefs of the rule that are neither of the pair, with their weights. */
  others: { name: string; weight: number }[];
  total: number;
};

export function sharesOf(rule: Rule, backends: Backends, routeNamespace: string): Shares {
  const s: Shares = { stable: 0, canary: 0, hasStable: false, hasCanary: false, others: [], total: 0 };
  for (const ref of rule.backendRefs ?? []) {
    const w = weightOf(ref);
    s.total += w;
    if (refersTo(ref, backends.stable, routeNamespace)) {
      s.stable += w;
      s.hasStable = true;
    } else if (refersTo(ref, backends.canary, routeNamespace)) {
      s.canary += w;
      s.hasCanary = true;
    } else s.others.push({ name: ref.name, weight: w });
  }
  return s;
}

/** round(100 * canary / total); undefined when the rule sends nothing anywhere. */
export function canaryPercentOf(shares: Shares): number | undefined {
  return shares.total > 0 ? Math.round((100 * shares.canary) / shares.total) : undefined;
}

/** The rule sends exactly `percent` to the canary and the rest to stable, nothing elsewhere. */
export function routesExactly(shares: Shares, percent: number): boolean {
  return canaryPercentOf(shares) === percent && shares.others.every((o) => o.weight === 0);
}

/** "web-v1 90 / web-v2 10", weights as stored. */
export function renderRule(rule: Rule): string {
  const refs = rule.backendRefs ?? [];
  return refs.length ? refs.map((b) => `${b.name} ${weightOf(b)}`).join(" / ") : "(no backendRefs)";
}

// ------------------------------------------------------------------------------------------ writing

export type WeightPlan = {
  ruleIndex: number;
  backends: Backends;
  percent: number;
  /** Port for a canary backendRef the bot adds (else the stable's). */
  port?: number | undefined;
  /** Remove the stable's backendRef instead of writing weight 0 (Finish with `remove-stable`). */
  dropStable?: boolean;
  /** Also set every other backendRef of the rule to 0 (Abort over a hand edit: all traffic back on stable). */
  zeroOthers?: boolean;
};

/**
 * The route with the split rule's two weights set (stable 100 - p, canary p), the canary's backendRef
 * added after the stable's when missing (a copy of the stable's reference with its own name and port),
 * and every other field left as it was. Throws a sentence when the canary cannot be added.
 */
export function withWeights(route: HttpRoute, plan: WeightPlan): HttpRoute {
  const next = structuredClone(route);
  const ns = next.metadata.namespace ?? "";
  const rule = next.spec.rules![plan.ruleIndex]!;
  const refs = [...(rule.backendRefs ?? [])];
  const { stable, canary } = plan.backends;
  if (!refs.some((r) => refersTo(r, canary, ns))) {
    const model = refs.find((r) => refersTo(r, stable, ns));
    const port = plan.port ?? model?.port;
    if (port === undefined) throw new Error(`backendRef ${canary} needs a port and the target names none (set gateway.port)`);
    const at = model ? refs.indexOf(model) + 1 : refs.length;
    // Only the fields a Service reference needs; filters on the stable's reference are its own.
    refs.splice(at, 0, { group: model?.group ?? "", kind: "Service", name: canary, port, weight: 0 });
  }
  const out: BackendRef[] = [];
  for (const ref of refs) {
    if (refersTo(ref, stable, ns)) {
      if (plan.dropStable) continue;
      out.push({ ...ref, weight: 100 - plan.percent });
    } else if (refersTo(ref, canary, ns)) out.push({ ...ref, weight: plan.percent });
    else out.push(plan.zeroOthers ? { ...ref, weight: 0 } : ref);
  }
  rule.backendRefs = out;
  return next;
}

const DEFAULT_MATCH = { path: { type: "PathPrefix", value: "/" } };

/**
 * The bot's test rule: the split rule's matches (the CRD's default match when it has none), each with
 * the test header added, routed only to the canary; filters and timeouts copied so a test request is
 * handled as production traffic would be. Header matches outrank the split rule's (more header matches
 * win in Gateway API's precedence), so only requests carrying the header reach it.
 */
export function testRuleFor(split: Rule, canaryRef: BackendRef, header: { name: string; value: string }): Rule {
  const h = header.name.toLowerCase();
  const matches = (split.matches?.length ? split.matches : [DEFAULT_MATCH]).map((m) => {
    const copy = structuredClone(m) as z.infer<typeof MatchSchema>;
    const headers = (copy.headers ?? []).filter((x) => x.name.toLowerCase() !== h);
    return { ...copy, headers: [...headers, { type: "Exact", name: header.name, value: header.value }] };
  });
  const rule: Rule = { matches, backendRefs: [{ ...structuredClone(canaryRef), weight: 1 }] };
  for (const key of ["filters", "timeouts"] as const) if (split[key] !== undefined) rule[key] = structuredClone(split[key]);
  return rule;
}

/** The route with the bot's test rule in place (replacing an earlier one of the bot's, else appended last). */
export function withTestRule(route: HttpRoute, rule: Rule, header: string): HttpRoute {
  const next = structuredClone(route);
  const rules = next.spec.rules ?? [];
  const i = testRuleIndex(next, header);
  if (i === -1) rules.push(rule);
  else rules[i] = rule;
  next.spec.rules = rules;
  return next;
}

export function withoutTestRule(route: HttpRoute, header: string): HttpRoute {
  const i = testRuleIndex(route, header);
  if (i === -1) return route;
  const next = structuredClone(route);
  next.spec.rules!.splice(i, 1);
  return next;
}

/** Where a route breaks the CRD's limits (what the API server would refuse), or undefined. */
export function limitProblem(route: HttpRoute): string | undefined {
  const rules = route.spec.rules ?? [];
  if (rules.length > LIMITS.rules) return `it would have ${rules.length} rules, and the CRD allows at most ${LIMITS.rules}`;
  let matches = 0;
  for (const [i, r] of rules.entries()) {
    const label = ruleLabel(r, i);
    if ((r.backendRefs ?? []).length > LIMITS.backendRefs)
      return `${label} would have ${r.backendRefs!.length} backendRefs, and the CRD allows at most ${LIMITS.backendRefs}`;
    const m = r.matches?.length ?? 1;
    if (m > LIMITS.matchesPerRule) return `${label} would have ${m} matches, and the CRD allows at most ${LIMITS.matchesPerRule}`;
    matches += m;
    for (const match of r.matches ?? []) {
      if ((match.headers ?? []).length > LIMITS.headersPerMatch)
        return `a match of ${label} would have ${match.headers!.length} header matches, and the CRD allows at most ${LIMITS.headersPerMatch}`;
    }
  }
  if (matches > LIMITS.matchesPerRoute) return `it would have ${matches} matches across its rules, and the CRD allows at most ${LIMITS.matchesPerRoute}`;
  return undefined;
}

/** The spec parts the bot compares to decide whether a write is needed (key order does not matter). */
export function sameSpec(a: HttpRoute, b: HttpRoute): boolean {
  return JSON.stringify(sorted(a.spec)) === JSON.stringify(sorted(b.spec));
}

function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (typeof v !== "object" || v === null) return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
  );
}

// ------------------------------------------------------------------------------------------ the rule as the bot manages it

/**
 * The rule as the bot manages it, besides the two weights: one short hash per part of the split rule, and
 * one of the bot's test rule, taken from the route as the API returned it after the bot's last verified
 * write (so the API server's defaults are in it). The rollout record keeps it; a later difference names what
 * was edited by hand ("its matches were changed by hand") without keeping a copy of the person's rule.
 */
export type RulePrint = { matches: string; filters: string; backendRefs: string; other: string; test: string };

const PARTS: { key: keyof RulePrint; words: string }[] = [
  { key: "matches", words: "its matches" },
  { key: "filters", words: "its filters" },
  { key: "backendRefs", words: "its backendRefs (other than the two weights)" },
  { key: "other", words: "its other settings (name, timeouts, retry, session persistence)" },
];

const digest = (v: unknown): string =>
  createHash("sha256")
    .update(JSON.stringify(sorted(v)))
    .digest("hex")
    .slice(0, 16);

export function rulePrint(route: HttpRoute, index: number, backends: Backends, testHeader: string): RulePrint {
  const ns = route.metadata.namespace ?? "";
  const { matches, filters, backendRefs, ...other } = route.spec.rules![index]!;
  // The pair's weights are compared as percents, not here.
  const refs = (backendRefs ?? []).map((r) => (refersTo(r, backends.stable, ns) || refersTo(r, backends.canary, ns) ? { ...r, weight: null } : r));
  const test = testRuleIndex(route, testHeader);
  return {
    matches: digest(matches ?? []),
    filters: digest(filters ?? []),
    backendRefs: digest(refs),
    other: digest(other),
    test: test === -1 ? "" : digest(route.spec.rules![test]),
  };
}

/** A print as the record keeps it (opaque text), or undefined when it is not one. */
export function parsePrint(text: string | undefined): RulePrint | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<Record<keyof RulePrint, unknown>>;
    const keys: (keyof RulePrint)[] = ["matches", "filters", "backendRefs", "other", "test"];
    return keys.every((k) => typeof v[k] === "string") ? (v as RulePrint) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What was changed by hand since the bot's last write, in words (`rule api: its matches were changed by
 * hand`), or undefined. A deleted test rule is not an edit of the bot's: the next write puts it back.
 */
export function handEdits(before: RulePrint, now: RulePrint, rule: Rule, index: number): string | undefined {
  const parts = PARTS.filter((p) => before[p.key] !== now[p.key]).map((p) => p.words);
  const test = now.test !== "" && now.test !== before.test;
  if (!parts.length && !test) return undefined;
  const label = rule.name ? `rule \`${rule.name}\`` : `rule #${index}`;
  const said = parts.length ? `${label}: ${joinWords(parts)} were changed by hand` : "";
  const testSaid = test ? `the bot's test rule was changed by hand` : "";
  return [said, testSaid].filter(Boolean).join("; ");
}

const joinWords = (w: string[]) => (w.length < 2 ? (w[0] ?? "") : `${w.slice(0, -1).join(", ")} and ${w[w.length - 1]}`);

// ------------------------------------------------------------------------------------------ status

export type ParentVerdict =
  | { parent: string; state: "accepted" }
  | { parent: string; state: "pending"; why: string }
  | { parent: string; state: "refused"; condition: string; reason: string; message: string };

/** "Service shop/web", "Gateway infra/public (section https)". */
export function describeParent(ref: ParentRef, routeNamespace: string): string {
  const kind = ref.kind ?? "Gateway";
  const section = ref.sectionName ? ` (section ${ref.sectionName})` : ref.port !== undefined ? ` (port ${ref.port})` : "";
  return `${kind} ${ref.namespace ?? routeNamespace}/${ref.name}${section}`;
}

function sameParent(a: ParentRef, b: ParentRef, ns: string): boolean {
  const group = (r: ParentRef) => (r.group === undefined ? GATEWAY_GROUP : r.group === "core" ? "" : r.group);
  return (
    group(a) === group(b) &&
    (a.kind ?? "Gateway") === (b.kind ?? "Gateway") &&
    a.name === b.name &&
    (a.namespace ?? ns) === (b.namespace ?? ns) &&
    (a.sectionName ?? "") === (b.sectionName ?? "") &&
    (a.port ?? 0) === (b.port ?? 0)
  );
}

/**
 * What the controllers say about this generation of the route, per parent: accepted (Accepted=True with
 * an observedGeneration that caught up, and no ResolvedRefs=False), refused (a current Accepted=False or
 * ResolvedRefs=False, with the controller's reason), or pending (no entry yet, or only older generations).
 */
export function parentVerdicts(route: HttpRoute): ParentVerdict[] {
  const ns = route.metadata.namespace ?? "";
  const generation = route.metadata.generation ?? 0;
  const entries = route.status?.parents ?? [];
  return (route.spec.parentRefs ?? []).map((ref): ParentVerdict => {
    const parent = describeParent(ref, ns);
    const mine = entries.filter((e) => sameParent(e.parentRef, ref, ns));
    if (mine.length === 0) return { parent, state: "pending", why: "no controller has reported on it yet" };
    let current = false;
    for (const e of mine) {
      const conds = (e.conditions ?? []).filter((c) => (c.observedGeneration ?? 0) >= generation);
      const bad = conds.find((c) => (c.type === "Accepted" || c.type === "ResolvedRefs") && c.status === "False");
      if (bad) return { parent, state: "refused", condition: bad.type, reason: bad.reason ?? "", message: bad.message ?? "" };
      if (conds.some((c) => c.type === "Accepted" && c.status === "True")) current = true;
    }
    return current ? { parent, state: "accepted" } : { parent, state: "pending", why: `its status is for an older generation than ${generation}` };
  });
}

/** "Service shop/web accepted", for messages. */
export function renderVerdicts(verdicts: ParentVerdict[]): string {
  if (verdicts.length === 0) return "no parentRefs";
  return verdicts
    .map((v) =>
      v.state === "accepted"
        ? `${v.parent} accepted`
        : v.state === "pending"
          ? `${v.parent} not yet confirmed`
          : `${v.parent} ${v.condition}=False (${v.reason})`,
    )
    .join(", ");
}

/** Everything the pair needs from a route's rule, for preflight: undefined when it can carry the rollout. */
export function pairProblem(label: string, rule: Rule, index: number, backends: Backends, routeNamespace: string): string | undefined {
  const s = sharesOf(rule, backends, routeNamespace);
  const where = `${label} ${ruleLabel(rule, index)}`;
  if (!s.hasStable) return `${where} has no backendRef to Service ${backends.stable} (it routes to ${renderRule(rule)})`;
  const busy = s.others.filter((o) => o.weight > 0).map((o) => o.name);
  if (busy.length)
    return `${where} also sends traffic to ${busy.join(", ")}, which ${busy.length > 1 ? "are" : "is"} not part of this rollout (${backends.stable} -> ${backends.canary})`;
  if (s.total === 0) return `${where} has every weight at 0`;
  return undefined;
}

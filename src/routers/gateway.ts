/**
 * TrafficRouter for Gateway API meshes and gateways (Linkerd 2.14+, Istio, Cilium, Kuma, Envoy Gateway,
 * NGINX Gateway Fabric): shifts traffic by editing the weights of two backendRefs in one rule of an
 * HTTPRoute, whether its parent is a Service (mesh, GAMMA) or a Gateway.
 *
 * - Versions are discovered: gateway.networking.k8s.io/v1 where served, else v1beta1.
 * - Writes are server-side apply of `spec.rules` only (an atomic list: changing one weight means owning
 *   all rules) under the bot's field manager, carrying the resourceVersion just read; a 409 starts over from
 *   a fresh read, where the weights must still be what the bot expects (else "drift": a hand edit is never
 *   overwritten, Abort excepted). Another manager owning spec.rules is RouterError "owned", taken (`force`)
 *   only when a person chose so: Re-apply (`takeOwnership`) or Abort. Every write is read back.
 * - A write is only done when the controllers say so: status.parents[] must show Accepted=True for every
 *   parent, with an observedGeneration that caught up. A current Accepted=False or ResolvedRefs=False stops
 *   the rollout with the controller's reason; no answer yet is "not yet confirmed", retried, never success.
 * - Rollouts begin with a 0% test stage: the bot adds its own rule (the split rule's matches plus a header)
 *   routed only to the canary, and removes it at Finish and Abort. See gateway-route.ts.
 */
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { gatewayNamespace, gatewayServices } from "../engine/services.ts";
import { GatewaySettingsSchema, type Target } from "../engine/target.ts";
import { DEFAULT_KUBE_TIMEOUT_MS } from "../kube/call.ts";
import { ApiDiscovery } from "../kube/discovery.ts";
import { CONFLICT, retryOnConflict, unlessConflict } from "../kube/optimistic.ts";
import { kubeRequest } from "../kube/request.ts";
import { serverSideApply } from "../kube/apply.ts";
import { DEFAULT_GITOPS, type WrittenAt } from "../engine/ownership.ts";
import {
  GATEWAY_GROUP,
  GATEWAY_VERSIONS,
  HttpRouteSchema,
  canaryPercentOf,
  findRule,
  handEdits,
  limitProblem,
  pairProblem,
  parentVerdicts,
  parsePrint,
  refersTo,
  renderRule,
  rulePrint,
  renderVerdicts,
  routesExactly,
  ruleLabel,
  sameSpec,
  sharesOf,
  testRuleFor,
  testRuleIndex,
  withTestRule,
  withWeights,
  withoutTestRule,
  type Backends,
  type GatewayVersion,
  type HttpRoute,
  type Rule,
} from "./gateway-route.ts";
import { RouterError, type ApplyExpect, type FinalizeOptions, type Observed, type RoutePair, type TrafficRouter } from "./router.ts";

export type GatewayRouterOptions = {
  kubeConfig: KubeConfig;
  /** Deadline for each API request. */
  timeoutMs?: number;
  /** The field manager every write is recorded under (managedFields): what GitOps owners name to leave the bot's fields alone. */
  fieldManager?: string;
  /** How long the served-versions answer is trusted. */
  discoveryTtlMs?: number;
  /** Writes attempted per step when they keep meeting 409 Conflict. */
  maxAttempts?: number;
  /** How long to wait after a write for the controllers to confirm it (status.parents), and how often to look. */
  confirmTimeoutMs?: number;
  confirmPollMs?: number;
};

const PLURAL = "httproutes";
const NO_GATEWAY_API = `this cluster serves no ${GATEWAY_GROUP} HTTPRoute API (v1 or v1beta1): are the Gateway API CRDs installed?`;

type Settings = ReturnType<typeof GatewaySettingsSchema.parse>;

/** One target's route, resolved from its `gateway:` block. */
type Binding = { namespace: string; name: string; label: string; settings: Settings };

/** What the mesh held before the bot's first write, to tell our own state from someone else's edit. */
type Seen = number | "unreadable";

/** `print`: the rule as the bot last verified it (Observed.print); absent, the rule is not compared. */
type Mode = { kind: "expect"; expect: number | undefined; print?: string | undefined; takeOwnership?: boolean } | { kind: "pair-only" } | { kind: "force" };

export class GatewayRouter implements TrafficRouter {
  readonly kind = "gateway" as const;
  /** Rollouts begin at 0% with a header-matched test rule (testRequestHint) before any weight moves. */
  readonly hasTestStage = true;
  private readonly objects: CustomObjectsApi;
  private readonly discovery: ApiDiscovery;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly confirmTimeoutMs: number;
  private readonly confirmPollMs: number;
  private readonly fieldManager: string;

  constructor(opts: GatewayRouterOptions) {
    this.objects = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_KUBE_TIMEOUT_MS;
    this.fieldManager = opts.fieldManager ?? DEFAULT_GITOPS.fieldManager;
    this.discovery = new ApiDiscovery(opts.kubeConfig, { timeoutMs: this.timeoutMs, ttlMs: opts.discoveryTtlMs ?? 30_000 });
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.confirmTimeoutMs = opts.confirmTimeoutMs ?? 10_000;
    this.confirmPollMs = opts.confirmPollMs ?? 500;
  }

  // ------------------------------------------------------------------------------------------ interface

  async validate(target: Target, pair: RoutePair): Promise<string | undefined> {
    if (pair.stable === pair.canary) return `stable and canary are both ${pair.stable}`;
    try {
      const b = bind(target);
      const backends = gatewayServices(b.settings, pair);
      if (backends.stable === backends.canary) return `stable and canary are both Service ${backends.stable}`;
      const version = await this.version();
      // A 409 on the dry run: the route changed since the read; look again.
      const gaveUp = (n: number) => new RouterError("conflict", `${b.label} kept changing while the bot checked it (${n} tries)`);
      return await retryOnConflict(
        this.maxAttempts,
        async (): Promise<string | undefined | typeof CONFLICT> => {
          const route = await this.read(b, version);
          if (!route) return `${b.label} does not exist`;
          if ((route.spec.parentRefs ?? []).length === 0) return `${b.label} has no parentRefs: it is attached to no Gateway or Service, so it routes nothing`;
          const found = findRule(route, b.settings.rule, backends, b.settings.testHeader, b.label);
          if (!found.ok) return found.problem;
          const problem = pairProblem(b.label, found.rule, found.index, backends, b.namespace);
          if (problem) return problem;
          // What the first step would write must fit the CRD and be admitted by the API server (dry run).
          let first: HttpRoute;
          try {
            first = desiredRoute(route, b, found.index, backends, 0, undefined);
          } catch (err) {
            return `${b.label} ${ruleLabel(found.rule, found.index)}: ${(err as Error).message}`;
          }
          const limit = limitProblem(first);
          if (limit) return `${b.label} cannot take the bot's test rule: ${limit}`;
          // Forced on the dry run only: who owns the rules is judged by the GitOps check, which can name the owner.
          return (await unlessConflict(() => this.write(b, version, first, { force: true, dryRun: true }))) === CONFLICT ? CONFLICT : undefined;
        },
        gaveUp,
      );
    } catch (err) {
      if (err instanceof RouterError && !err.transient) return err.message;
      throw err;
    }
  }

  async observe(target: Target, pair: RoutePair, baseline?: string): Promise<Observed> {
    const b = bind(target);
    const backends = gatewayServices(b.settings, pair);
    const route = await this.read(b, await this.version());
    if (!route) throw new RouterError("not-found", `${b.label} does not exist`);
    const { index, rule } = ruleOf(route, b, backends, "drift");
    const edits = ruleEdits(b, route, backends, index, rule, baseline);
    return { ...observed(b, route, backends, index), ...(edits ? { drift: edits } : {}) };
  }

  apply(target: Target, pair: RoutePair, canaryPercent: number, expect?: ApplyExpect): Promise<Observed> {
    return this.converge(target, pair, canaryPercent, undefined, {
      kind: "expect",
      expect: expect?.canaryPercent,
      print: expect?.print,
      takeOwnership: expect?.takeOwnership === true,
    });
  }

  /**
   * The winner for good, the test rule removed. Canary: weight 100, the stable's backendRef removed or kept
   * at 0 (gateway.finish). Stable (Abort): weight 100, the canary at 0. `force` writes over a hand edit;
   * `expect` (Finish) only over what the bot last verified; neither: any split of the pair.
   */
  finalize(target: Target, pair: RoutePair, winner: "stable" | "canary", opts: FinalizeOptions = {}): Promise<Observed> {
    const percent = winner === "canary" ? 100 : 0;
    const mode: Mode = opts.force
      ? { kind: "force" }
      : opts.expect
        ? { kind: "expect", expect: opts.expect.canaryPercent, print: opts.expect.print, takeOwnership: opts.expect.takeOwnership === true }
        : { kind: "pair-only" };
    return this.converge(target, pair, percent, winner, mode);
  }

  /** The route, whose atomic `spec.rules` list the bot writes (server-side apply owns it whole). */
  async writtenObjects(target: Target): Promise<WrittenAt[]> {
    const b = bind(target);
    return [
      { group: GATEWAY_GROUP, kind: "HTTPRoute", plural: PLURAL, versions: GATEWAY_VERSIONS, namespace: b.namespace, name: b.name, fields: ["/spec/rules"] },
    ];
  }

  testRequestHint(target: Target, pair: RoutePair): string | undefined {
    const b = bind(target);
    const { canary } = gatewayServices(b.settings, pair);
    const url = b.settings.testUrl ?? "http://<host>/";
    return (
      `curl -H ${shellQuote(`${b.settings.testHeader}: ${canary}`)} ${shellQuote(url)}\n` +
      `Requests with this header match the bot's test rule on ${b.label} and go to ${canary} only; other traffic is unaffected.`
    );
  }

  /** The one Service the split rule sends traffic to now, when the target's Services follow the template. */
  async discoverStable(target: Target): Promise<string | undefined> {
    const b = bind(target);
    if (b.settings.stableService) return undefined;
    const route = await this.read(b, await this.version());
    const rules = route?.spec.rules ?? [];
    const sel = b.settings.rule;
    const own = route ? testRuleIndex(route, b.settings.testHeader) : -1;
    const others = rules.filter((_, i) => i !== own);
    const rule =
      typeof sel === "number" ? rules[sel] : typeof sel === "string" ? rules.find((r) => r.name === sel) : others.length === 1 ? others[0] : undefined;
    const live = (rule?.backendRefs ?? []).filter((r) => (r.weight ?? 1) > 0);
    if (live.length !== 1) return undefined;
    const [head, tail] = b.settings.service.split("{version}") as [string, string];
    const name = live[0]!.name;
    return name.startsWith(head) && name.endsWith(tail) && name.length > head.length + tail.length
      ? name.slice(head.length, name.length - tail.length)
      : undefined;
  }

  // ------------------------------------------------------------------------------------------ steps

  private async converge(target: Target, pair: RoutePair, percent: number, winner: "stable" | "canary" | undefined, mode: Mode): Promise<Observed> {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
      throw new RouterError("rejected", `canary percent must be a whole number from 0 to 100 (got ${percent})`);
    }
    if (pair.stable === pair.canary) throw new RouterError("invalid", `stable and canary are both ${pair.stable}`);
    const b = bind(target);
    const backends = gatewayServices(b.settings, pair);
    const version = await this.version();
    const force = mode.kind === "force";
    // What we expect to find: what we last wrote, else (after a 409) what we saw before our first write.
    let baseline: Seen | undefined = mode.kind === "expect" ? mode.expect : undefined;
    const gaveUp = (n: number) => new RouterError("conflict", `${b.label} kept changing under us: gave up after ${n} conflicting writes`);
    return retryOnConflict(
      this.maxAttempts,
      async (): Promise<Observed | typeof CONFLICT> => {
        const route = await this.read(b, version);
        if (!route) {
          if (mode.kind === "expect" && mode.expect !== undefined) {
            throw new RouterError("drift", `${b.label} is gone: it was deleted after the bot set it to ${mode.expect}% canary`);
          }
          throw new RouterError("not-found", `${b.label} does not exist`);
        }
        const { index, rule } = ruleOf(route, b, backends, mode.kind === "expect" && mode.expect === undefined ? "invalid" : "drift");
        const shares = sharesOf(rule, backends, b.namespace);
        let desired: HttpRoute;
        try {
          desired = desiredRoute(route, b, index, backends, percent, winner, force);
        } catch (err) {
          throw new RouterError("invalid", `${b.label} ${ruleLabel(rule, index)}: ${(err as Error).message}`);
        }
        // The rule as the bot last verified it: a hand edit of its matches, filters or backendRefs (or of the
        // bot's test rule) holds until a person chooses, as a hand edit of the weights does.
        const edits = mode.kind === "expect" && mode.expect !== undefined ? ruleEdits(b, route, backends, index, rule, mode.print) : undefined;
        // A finish that already holds is the bot's own write landed before its process died (the record still
        // has the print of the step before): nothing of anyone's is left to protect, so it is confirmed.
        if (sameSpec(desired, route) && (!edits || winner !== undefined)) return this.confirmed(b, version, route, backends, index, percent, force);
        const now: Seen = shares.others.some((o) => o.weight > 0) ? "unreadable" : (canaryPercentOf(shares) ?? "unreadable");
        const found = `${ruleLabel(rule, index)}: ${renderRule(rule)}`;
        // Both at once are said together: an Adopt of the weights must not adopt an edit nobody was told of.
        const also = edits ? `; also, ${edits}` : "";
        if (mode.kind !== "force" && now === "unreadable") {
          throw new RouterError(
            "drift",
            `${b.label} was changed by someone else: expected a split between ${backends.stable} and ${backends.canary}, found ${found}${also}`,
            {
              expected: "pair",
              found: now,
              raw: found,
            },
          );
        }
        if (mode.kind === "expect") {
          // The weights already right (a test rule to add or restore) is no one else's edit either.
          if (baseline === undefined) baseline = now;
          else if (now !== baseline && now !== percent) {
            const before = baseline === "unreadable" ? "weights it could not read as a split of the pair" : `${baseline}% canary`;
            throw new RouterError(
              "drift",
              `${b.label} was changed by someone else: expected ${before}, found ${found}` + (typeof now === "number" ? ` (${now}% canary)` : "") + also,
              { expected: baseline, found: now, raw: found },
            );
          }
        }
        if (edits) throw new RouterError("drift", edits, { expected: baseline, found: now, raw: found });
        const limit = limitProblem(desired);
        if (limit) throw new RouterError("invalid", `${b.label} cannot be written: ${limit}`);
        const takeOwnership = force || (mode.kind === "expect" && mode.takeOwnership === true);
        if ((await unlessConflict(() => this.write(b, version, desired, { force: takeOwnership }))) === CONFLICT) return CONFLICT;
        const back = await this.read(b, version, "read back");
        if (!back) throw new RouterError("drift", `${b.label} was deleted right after the bot wrote it`);
        return this.confirmed(b, version, back, backends, index, percent, force);
      },
      gaveUp,
    );
  }

  /**
   * The route holds the weights we meant (else drift) and its parents accepted this generation. Waits for
   * the controllers a while, re-reading. With `force` (Abort) a refusal or silence is reported in `raw`
   * instead: going back to stable must complete, and what the API holds is what the bot could do.
   */
  private async confirmed(
    b: Binding,
    version: GatewayVersion,
    route: HttpRoute,
    backends: Backends,
    index: number,
    percent: number,
    force: boolean,
  ): Promise<Observed> {
    const deadline = Date.now() + this.confirmTimeoutMs;
    let current = route;
    for (;;) {
      const rule = current.spec.rules?.[index];
      if (!rule || !routesExactly(sharesOf(rule, backends, b.namespace), percent)) {
        throw new RouterError(
          "drift",
          `${b.label} does not hold what the bot wrote: wanted ${percent}% canary, read back ${rule ? renderRule(rule) : "no such rule"}`,
          {
            wanted: percent,
            raw: rule ? renderRule(rule) : "",
          },
        );
      }
      const verdicts = parentVerdicts(current);
      const refused = verdicts.find((v) => v.state === "refused");
      if (refused && refused.state === "refused" && !force) {
        throw new RouterError(
          "rejected",
          `${b.label} was refused by its parent ${refused.parent}: ${refused.condition}=False (${refused.reason})${refused.message ? `: ${refused.message}` : ""}`,
          { verdicts },
        );
      }
      const pending = verdicts.find((v) => v.state === "pending");
      if (!pending || force || refused) return observed(b, current, backends, index);
      if (Date.now() >= deadline) {
        throw new RouterError(
          "unavailable",
          `${b.label} holds ${percent}% canary but is not yet confirmed by ${pending.parent}: ${pending.state === "pending" ? pending.why : ""}`,
          { verdicts },
        );
      }
      await new Promise((r) => setTimeout(r, this.confirmPollMs));
      const again = await this.read(b, version, "read status of");
      if (!again) throw new RouterError("drift", `${b.label} was deleted while the bot waited for its controllers`);
      current = again;
    }
  }

  private async version(): Promise<GatewayVersion> {
    const version = await this.discovery.pick(GATEWAY_GROUP, GATEWAY_VERSIONS);
    if (!version) throw new RouterError("not-found", NO_GATEWAY_API, { served: [...(await this.discovery.served(GATEWAY_GROUP))] });
    return version;
  }

  private async read(b: Binding, version: GatewayVersion, verb = "read"): Promise<HttpRoute | undefined> {
    const raw = await kubeRequest(
      `${verb} ${b.label}`,
      (o) => this.objects.getNamespacedCustomObject({ group: GATEWAY_GROUP, version, namespace: b.namespace, plural: PLURAL, name: b.name }, o),
      { timeoutMs: this.timeoutMs, discovery: this.discovery, missingIsUndefined: true },
    );
    if (raw === undefined) return undefined;
    const parsed = HttpRouteSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RouterError("invalid", `${b.label} is malformed: ${issue?.path.join(".") || "object"}: ${issue?.message ?? "unexpected shape"}`);
    }
    // The object as the API answered it, not zod's copy: that one orders keys as the schema declares them,
    // and what the bot writes back must keep every field of other rules exactly as it was.
    return raw as HttpRoute;
  }

  /**
   * Server-side apply of `spec.rules` (atomic: the bot owns the list whole) carrying the read's
   * resourceVersion (a concurrent edit is a 409). `force` takes the rules from any other field manager.
   */
  private write(b: Binding, version: GatewayVersion, route: HttpRoute, opts: { force: boolean; dryRun?: boolean }): Promise<unknown> {
    const verb = opts.dryRun ? "check applying" : "apply";
    return serverSideApply(
      this.objects,
      `${verb} ${b.label}${opts.force && !opts.dryRun ? " (taking its rules)" : ""}`,
      {
        group: GATEWAY_GROUP,
        version,
        plural: PLURAL,
        kind: "HTTPRoute",
        namespace: b.namespace,
        name: b.name,
        resourceVersion: route.metadata.resourceVersion,
        fields: { spec: { rules: route.spec.rules ?? [] } },
        fieldManager: this.fieldManager,
        force: opts.force,
        ...(opts.dryRun ? { dryRun: true } : {}),
      },
      { timeoutMs: this.timeoutMs, discovery: this.discovery },
    );
  }
}

// ------------------------------------------------------------------------------------------ helpers

function bind(target: Target): Binding {
  const settings = GatewaySettingsSchema.parse(target.gateway ?? {});
  const namespace = gatewayNamespace(target);
  const name = settings.httpRoute ?? target.name;
  return { namespace, name, label: `HTTPRoute ${namespace}/${name}`, settings };
}

/**
 * The split rule, or a RouterError with `code` (drift mid-rollout, invalid before it). Without a rule
 * selector it is found by the stable's backendRef, or by the canary's once Finish removed the stable's.
 */
function ruleOf(route: HttpRoute, b: Binding, backends: Backends, code: "drift" | "invalid") {
  const found = findRule(route, b.settings.rule, backends, b.settings.testHeader, b.label);
  if (!found.ok) throw new RouterError(code, found.problem);
  return found;
}

/** The whole route as the bot wants it for `percent` (and, when finalizing, the winner made permanent). */
function desiredRoute(
  route: HttpRoute,
  b: Binding,
  index: number,
  backends: Backends,
  percent: number,
  winner: "stable" | "canary" | undefined,
  zeroOthers = false,
): HttpRoute {
  const dropStable = winner === "canary" && b.settings.finish === "remove-stable";
  const weighted = withWeights(route, { ruleIndex: index, backends, percent, port: b.settings.port, dropStable, zeroOthers });
  if (winner) return withoutTestRule(weighted, b.settings.testHeader);
  const rule = weighted.spec.rules![index]!;
  const canaryRef = (rule.backendRefs ?? []).find((r) => refersTo(r, backends.canary, b.namespace))!;
  return withTestRule(weighted, testRuleFor(rule, canaryRef, { name: b.settings.testHeader, value: backends.canary }), b.settings.testHeader);
}

/** "HTTPRoute shop/web rule `api`: its matches were changed by hand", against the print the bot verified. */
function ruleEdits(b: Binding, route: HttpRoute, backends: Backends, index: number, rule: Rule, baseline: string | undefined): string | undefined {
  const before = parsePrint(baseline);
  const edits = before && handEdits(before, rulePrint(route, index, backends, b.settings.testHeader), rule, index);
  return edits ? `${b.label} ${edits}` : undefined;
}

function observed(b: Binding, route: HttpRoute, backends: Backends, index: number): Observed {
  const rule = route.spec.rules![index]!;
  const percent = canaryPercentOf(sharesOf(rule, backends, b.namespace));
  const shown = `${ruleLabel(rule, index)}: ${renderRule(rule)}`;
  if (percent === undefined) throw new RouterError("invalid", `${b.label} routes nowhere: ${shown}`, { raw: shown });
  const test = testRuleIndex(route, b.settings.testHeader) === -1 ? "" : `; test rule ${b.settings.testHeader}: ${backends.canary}`;
  return {
    canaryPercent: percent,
    version: route.metadata.resourceVersion ?? "",
    raw: `${shown}${test}; ${renderVerdicts(parentVerdicts(route))}`,
    print: JSON.stringify(rulePrint(route, index, backends, b.settings.testHeader)),
  };
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * TrafficRouter for SMI meshes (Linkerd 2 + linkerd-smi, NGINX Service Mesh, OSM, Traefik Mesh): shifts
 * traffic by editing a TrafficSplit through the Kubernetes API.
 *
 * - The cluster decides the version: the router asks which split.smi-spec.io versions are served and writes
 *   through the newest it knows (meshes serve different ones, and only those).
 * - Writes are server-side apply of `spec.backends` only (an atomic list: the bot owns it whole) under the
 *   bot's field manager, carrying the resourceVersion just read, so a concurrent edit is a 409, never a silent
 *   overwrite; a 409 is retried only while the split still shows what we expected to find. Another manager
 *   owning spec.backends (a GitOps controller, kubectl edit) is RouterError "owned", taken (`force`) only when
 *   a person chose so: Re-apply (`takeOwnership`) or Abort. A missing split is created by the same apply.
 * - Apply, then read back: what the API holds after the write is what we report, and a mismatch is drift.
 * - The bot owns the whole split while a rollout runs: stable gets 100 - p, canary p, any other backend 0
 *   (kept in the list, not removed). Labels, annotations and spec.matches are carried over untouched.
 * - Weights are written as whole-number percents: integers for v1alpha2+, quantity strings ("90", "0") for
 *   v1alpha1. See smi-split.ts.
 * - finalize keeps the TrafficSplit (all weight on the winner): deleting it would hand the apex service's
 *   traffic back to whatever its own selector matches, which need not be the winner.
 * - A target that does not name its split is served by the one whose spec.service is the apex. Finding it
 *   takes a list of the namespace, so the router remembers the name (per process, bounded) and later reads
 *   it directly; a split that is gone or serves another service now is forgotten and the list decides again.
 *   validate() always lists, so a start still sees two splits claiming the same apex. When that list finds no
 *   split for the apex, the start's next calls take its word for a moment instead of listing again
 *   (recent-splits.ts).
 */
import { LRUCache } from "lru-cache";
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { kubeNamespace, type Target } from "../engine/target.ts";
import { DEFAULT_KUBE_TIMEOUT_MS, type kubeCall } from "../kube/call.ts";
import { ApiDiscovery } from "../kube/discovery.ts";
import { CONFLICT, retryOnConflict, unlessConflict } from "../kube/optimistic.ts";
import { kubeRequest } from "../kube/request.ts";
import { serverSideApply } from "../kube/apply.ts";
import { DEFAULT_GITOPS, type WrittenAt } from "../engine/ownership.ts";
import { RecentSplitLists } from "./recent-splits.ts";
import { RouterError, type ApplyExpect, type FinalizeOptions, type Observed, type RoutePair, type TrafficRouter } from "./router.ts";
import {
  SMI_GROUP,
  SMI_VERSIONS,
  TrafficSplitSchema,
  BOT_LABEL,
  MANAGED_BY,
  backendsFor,
  canaryPercentOf,
  newTrafficSplit,
  renderBackends,
  routesExactly,
  servicesWithTraffic,
  sharesOf,
  type SmiVersion,
  type TrafficSplit,
} from "./smi-split.ts";

export type SmiRouterOptions = {
  kubeConfig: KubeConfig;
  /** Deadline for each API request. */
  timeoutMs?: number;
  /** The field manager every write is recorded under (managedFields): what GitOps owners name to leave the bot's fields alone. */
  fieldManager?: string;
  /** How long the served-versions answer is trusted. */
  discoveryTtlMs?: number;
  /** Writes attempted per apply when they keep meeting 409 Conflict. */
  maxAttempts?: number;
  /** How many (namespace, apex) -> split names are remembered; the least recently used is dropped. */
  rememberedSplits?: number;
  /** How long a list that found no split for an apex answers the next calls for it (recent-splits.ts); 0: never. */
  recentListMs?: number;
  now?: () => number;
};

/** Long enough for one start's checks and first write, short enough that a split made by hand meanwhile is seen. */
export const RECENT_LIST_MS = 2_000;

const PLURAL = "trafficsplits";
const NO_SMI = "this cluster serves no split.smi-spec.io TrafficSplit API (is an SMI mesh installed?)";

/** What a split looked like, for telling our own state from someone else's edit. */
type Seen = number | "absent" | "unreadable";

type Located = { namespace: string; name: string; apex: string; split?: TrafficSplit };

export class SmiRouter implements TrafficRouter {
  readonly kind = "smi" as const;
  private readonly objects: CustomObjectsApi;
  private readonly discovery: ApiDiscovery;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly known: SplitNames;
  private readonly recent: RecentSplitLists;
  private readonly fieldManager: string;

  constructor(opts: SmiRouterOptions) {
    this.objects = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_KUBE_TIMEOUT_MS;
    this.fieldManager = opts.fieldManager ?? DEFAULT_GITOPS.fieldManager;
    this.discovery = new ApiDiscovery(opts.kubeConfig, { timeoutMs: this.timeoutMs, ttlMs: opts.discoveryTtlMs ?? 30_000 });
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.known = new SplitNames(opts.rememberedSplits ?? 5_000);
    this.recent = new RecentSplitLists(opts.recentListMs ?? RECENT_LIST_MS, opts.now);
  }

  // ------------------------------------------------------------------------------------------ interface

  async validate(target: Target, pair: RoutePair): Promise<string | undefined> {
    if (pair.stable === pair.canary) return `stable and canary are both ${pair.stable}`;
    try {
      const version = await this.version();
      // Listed afresh: a start must see a second split that claims the apex since we last looked.
      const loc = await this.locate(target, version, { fresh: true });
      const label = `TrafficSplit ${loc.namespace}/${loc.name}`;
      if (!loc.split) return await this.dryRunCreate(loc, pair, version);
      if (target.smi?.apexService && loc.split.spec.service !== target.smi.apexService) {
        return `${label} splits service ${loc.split.spec.service}, not ${target.smi.apexService}`;
      }
      return problemWith(label, loc.split, pair);
    } catch (err) {
      if (err instanceof RouterError && !err.transient) return err.message;
      throw err;
    }
  }

  async observe(target: Target, pair: RoutePair): Promise<Observed> {
    const loc = await this.locate(target, await this.version());
    if (!loc.split) {
      throw new RouterError("not-found", `TrafficSplit ${loc.namespace}/${loc.name} does not exist (the first apply creates it)`);
    }
    return observed(loc, loc.split, pair);
  }

  apply(target: Target, pair: RoutePair, canaryPercent: number, expect?: ApplyExpect): Promise<Observed> {
    return this.converge(target, pair, canaryPercent, expect, "expect", expect?.takeOwnership === true);
  }

  /**
   * All weight on the winner, keeping the object. With `force` (a person chose Abort after drift) the
   * write goes ahead whatever the weights are, also when they change between a 409 and the retry; it still
   * carries the resourceVersion it read and is read back. With `expect` (Finish) it is checked like apply:
   * weights other than the expected percent are drift and nothing is written.
   */
  finalize(target: Target, pair: RoutePair, winner: "stable" | "canary", opts: FinalizeOptions = {}): Promise<Observed> {
    const percent = winner === "canary" ? 100 : 0;
    if (opts.force) return this.converge(target, pair, percent, undefined, "force", true);
    if (opts.expect) return this.converge(target, pair, percent, opts.expect, "expect", opts.expect.takeOwnership === true);
    return this.converge(target, pair, percent, undefined, "pair-only", false);
  }

  /**
   * `mode`: "expect" checks the weights against `expect` (or, after a 409, against the first read);
   * "pair-only" (finalize without `expect`) also accepts any split between the pair, but not weight on
   * another backend or weights it cannot read (someone else's edit); "force" writes over anything.
   * `takeOwnership`: the apply takes spec.backends from any other field manager (force=true).
   */
  private async converge(
    target: Target,
    pair: RoutePair,
    canaryPercent: number,
    expect: { canaryPercent: number } | undefined,
    mode: "expect" | "pair-only" | "force",
    takeOwnership: boolean,
  ): Promise<Observed> {
    const force = mode === "force";
    if (!Number.isInteger(canaryPercent) || canaryPercent < 0 || canaryPercent > 100) {
      throw new RouterError("rejected", `canary percent must be a whole number from 0 to 100 (got ${canaryPercent})`);
    }
    if (pair.stable === pair.canary) throw new RouterError("invalid", `stable and canary are both ${pair.stable}`);
    const version = await this.version();
    // What we expect to find: what we last wrote, else (after a 409) what we saw before our first write.
    let baseline: Seen | undefined = expect?.canaryPercent;
    const where = target.smi?.trafficSplit
      ? `TrafficSplit ${kubeNamespace(target)}/${target.smi.trafficSplit}`
      : `The TrafficSplit for ${kubeNamespace(target)}/${target.smi?.apexService ?? target.name}`;
    const gaveUp = (n: number) => new RouterError("conflict", `${where} kept changing under us: gave up after ${n} conflicting writes`);
    return retryOnConflict(
      this.maxAttempts,
      async (): Promise<Observed | typeof CONFLICT> => {
        const loc = await this.locate(target, version);
        const label = `TrafficSplit ${loc.namespace}/${loc.name}`;
        if (!loc.split) {
          // A missing split routes nothing to the canary, so it is what "0%" (or a first apply) looks like.
          if (!force && typeof baseline === "number" && baseline !== 0) {
            throw new RouterError("drift", `${label} is gone: it was deleted after the bot set it to ${baseline}% canary`);
          }
          baseline ??= "absent";
          const body = newTrafficSplit(loc.namespace, loc.name, loc.apex, pair, canaryPercent, version);
          // Created by the same apply, so the bot's manager owns what it wrote (a create would record it as an
          // Update, which a later apply of the same manager conflicts with). Someone creating it meanwhile
          // owns its fields: their value there is "owned", never overwritten.
          const created = { metadata: { labels: body.metadata.labels }, fields: { spec: body.spec } };
          if ((await unlessConflict(() => this.applySplit(loc, version, created, takeOwnership))) === CONFLICT) return CONFLICT;
          if (!target.smi?.trafficSplit) this.known.remember(loc.namespace, loc.apex, loc.name);
          return this.verify(loc, pair, canaryPercent, version);
        }
        const shares = sharesOf(loc.split, pair);
        if (routesExactly(shares, canaryPercent)) return observed(loc, loc.split, pair);
        const now: Seen = canaryPercentOf(shares) ?? "unreadable";
        if (mode === "pair-only" && (now === "unreadable" || shares.others.some((o) => o.weight > 0))) {
          throw new RouterError(
            "drift",
            `${label} was changed by someone else: expected a split between ${pair.stable} and ${pair.canary}, found ${renderBackends(loc.split)}`,
            { expected: "pair", found: now, raw: renderBackends(loc.split) },
          );
        }
        if (baseline === undefined || force) baseline = now;
        else if (now !== baseline) {
          const before = baseline === "absent" ? "no TrafficSplit" : baseline === "unreadable" ? "unreadable weights" : `${baseline}% canary`;
          throw new RouterError(
            "drift",
            `${label} was changed by someone else: expected ${before}, found ${renderBackends(loc.split)}` +
              (typeof now === "number" ? ` (${now}% canary)` : ""),
            { expected: baseline, found: now, raw: renderBackends(loc.split) },
          );
        }
        // spec.service is sent as it is (the same value never conflicts), and the bot's label on a split it
        // created: an applier's field it stops sending is removed.
        const mine = loc.split.metadata.labels?.[MANAGED_BY] === BOT_LABEL.value ? { labels: { [MANAGED_BY]: BOT_LABEL.value } } : undefined;
        const owned = {
          resourceVersion: loc.split.metadata.resourceVersion,
          ...(mine ? { metadata: mine } : {}),
          fields: { spec: { service: loc.split.spec.service, backends: backendsFor(loc.split.spec.backends, pair, canaryPercent, version) } },
        };
        if ((await unlessConflict(() => this.applySplit(loc, version, owned, takeOwnership))) === CONFLICT) return CONFLICT;
        return this.verify(loc, pair, canaryPercent, version);
      },
      gaveUp,
    );
  }

  /**
   * The split, when it exists (the bot creates a missing one: nobody else owns it then); `spec.backends` is atomic.
   * Asked right after validate's list: its answer is used (a split it found is read by name).
   */
  async writtenObjects(target: Target): Promise<WrittenAt[]> {
    const loc = await this.locate(target, await this.version());
    if (!loc.split) return [];
    return [
      { group: SMI_GROUP, kind: "TrafficSplit", plural: PLURAL, versions: SMI_VERSIONS, namespace: loc.namespace, name: loc.name, fields: ["/spec/backends"] },
    ];
  }

  /** A TrafficSplit splits by weight only: there is no per-request override to offer. */
  testRequestHint(): string | undefined {
    return undefined;
  }

  /** The backend that carries all traffic now (the stable when no rollout is under way), if exactly one does. */
  async discoverStable(target: Target): Promise<string | undefined> {
    // Asked before a start's own list: another start's "no split" is not taken for this one (a split made by hand just now).
    const loc = await this.locate(target, await this.version(), { listed: false });
    if (!loc.split) return undefined;
    const live = servicesWithTraffic(loc.split);
    return live.length === 1 ? live[0] : undefined;
  }

  // ------------------------------------------------------------------------------------------ steps

  /** Newest TrafficSplit version the cluster serves (discovery is cached briefly; see kube/discovery.ts). */
  private async version(): Promise<SmiVersion> {
    const version = await this.discovery.pick(SMI_GROUP, SMI_VERSIONS);
    if (!version) throw new RouterError("not-found", NO_SMI, { served: [...(await this.discovery.served(SMI_GROUP))] });
    return version;
  }

  /**
   * The split this target uses: the named one, else the one whose spec.service is the apex service (the
   * remembered one when it still is, else none when a list just said so (unless `listed` is false), else
   * found by listing; `fresh` always lists).
   */
  private async locate(target: Target, version: SmiVersion, opts: { fresh?: boolean; listed?: boolean } = {}): Promise<Located> {
    const namespace = kubeNamespace(target);
    const apex = target.smi?.apexService ?? target.name;
    const named = target.smi?.trafficSplit;
    if (named) return this.readNamed(namespace, named, apex, version);
    if (opts.fresh) return this.listFor(namespace, apex, version);
    const known = await this.readKnown(namespace, apex, version);
    if (known) return known;
    if (opts.listed !== false && this.recent.noSplitFor(namespace, apex)) return { namespace, name: apex, apex };
    return this.listFor(namespace, apex, version);
  }

  private async readNamed(namespace: string, name: string, apex: string, version: SmiVersion): Promise<Located> {
    const raw = await this.read(namespace, name, version);
    if (raw === undefined) return { namespace, name, apex };
    const split = parseSplit(raw, `${namespace}/${name}`);
    return { namespace, name, apex: split.spec.service, split };
  }

  /** The remembered split for the apex, read by name; undefined (and forgotten) when it is gone or serves another service. */
  private async readKnown(namespace: string, apex: string, version: SmiVersion): Promise<Located | undefined> {
    const name = this.known.get(namespace, apex);
    if (name === undefined) return undefined;
    const raw = await this.read(namespace, name, version);
    if ((raw as { spec?: { service?: unknown } } | undefined)?.spec?.service !== apex) {
      this.known.forget(namespace, apex);
      return undefined;
    }
    return { namespace, name, apex, split: parseSplit(raw, `${namespace}/${name}`) };
  }

  private read(namespace: string, name: string, version: SmiVersion): Promise<unknown> {
    return this.call(
      `read TrafficSplit ${namespace}/${name}`,
      (o) => this.objects.getNamespacedCustomObject({ group: SMI_GROUP, version, namespace, plural: PLURAL, name }, o),
      { missingIsUndefined: true },
    );
  }

  /** The one split in the namespace whose spec.service is the apex, remembered; none or several are forgotten. */
  private async listFor(namespace: string, apex: string, version: SmiVersion): Promise<Located> {
    const list = await this.call(`list TrafficSplits in ${namespace}`, (o) =>
      this.objects.listNamespacedCustomObject({ group: SMI_GROUP, version, namespace, plural: PLURAL }, o),
    );
    const items: unknown[] = Array.isArray(list?.items) ? list.items : [];
    this.recent.listed(
      namespace,
      items.map((i) => {
        const x = i as { spec?: { service?: unknown }; metadata?: { name?: unknown } } | undefined;
        return { service: x?.spec?.service, name: x?.metadata?.name };
      }),
    );
    const matching = items.filter((i) => (i as { spec?: { service?: unknown } })?.spec?.service === apex);
    const names = matching.map((i) => String((i as { metadata?: { name?: unknown } }).metadata?.name));
    if (matching.length !== 1) this.known.forget(namespace, apex);
    if (matching.length > 1) {
      throw new RouterError(
        "invalid",
        `TrafficSplits ${names.map((n) => `${namespace}/${n}`).join(" and ")} ${names.length === 2 ? "both" : "all"} split service ${apex}: ` +
          "name the one to use in the target's smi.trafficSplit",
      );
    }
    if (matching.length === 0) {
      // The split would be created under the apex's name; one by that name splitting another service is in the way.
      const clash = items.find((i) => (i as { metadata?: { name?: unknown } })?.metadata?.name === apex) as { spec?: { service?: unknown } } | undefined;
      if (clash) {
        throw new RouterError(
          "invalid",
          `TrafficSplit ${namespace}/${apex} splits service ${String(clash.spec?.service)}, not ${apex}: set the target's smi.apexService or smi.trafficSplit`,
        );
      }
      return { namespace, name: apex, apex };
    }
    const split = parseSplit(matching[0], `${namespace}/${names[0]}`);
    this.known.remember(namespace, apex, split.metadata.name);
    return { namespace, name: split.metadata.name, apex, split };
  }

  private create(namespace: string, body: TrafficSplit, version: SmiVersion, dryRun = false): Promise<unknown> {
    const what = `${dryRun ? "check creating" : "create"} TrafficSplit ${namespace}/${body.metadata.name}`;
    return this.call(what, (o) =>
      this.objects.createNamespacedCustomObject(
        { group: SMI_GROUP, version, namespace, plural: PLURAL, body, fieldManager: this.fieldManager, ...(dryRun ? { dryRun: "All" } : {}) },
        o,
      ),
    );
  }

  /** Server-side apply of what the bot owns (spec.backends; all of it on a create), guarded by `resourceVersion` when given. */
  private applySplit(
    loc: Located,
    version: SmiVersion,
    part: { resourceVersion?: string | undefined; metadata?: Record<string, unknown>; fields: Record<string, unknown> },
    force: boolean,
  ): Promise<unknown> {
    const { namespace, name } = loc;
    // Whatever the answer, the last list no longer says there is no split here.
    this.recent.writing(namespace, name, loc.apex);
    const what = `${part.resourceVersion ? "apply" : "create by apply"} TrafficSplit ${namespace}/${name}${force ? " (taking its fields)" : ""}`;
    return serverSideApply(
      this.objects,
      what,
      { group: SMI_GROUP, version, plural: PLURAL, kind: "TrafficSplit", namespace, name, ...part, fieldManager: this.fieldManager, force },
      { timeoutMs: this.timeoutMs, discovery: this.discovery },
    );
  }

  /** Read back after a write: the mesh holds what we meant, or someone/something changed it (drift). */
  private async verify(loc: Located, pair: RoutePair, percent: number, version: SmiVersion): Promise<Observed> {
    const label = `TrafficSplit ${loc.namespace}/${loc.name}`;
    const raw = await this.call(`read back ${label}`, (o) =>
      this.objects.getNamespacedCustomObject({ group: SMI_GROUP, version, namespace: loc.namespace, plural: PLURAL, name: loc.name }, o),
    );
    const split = parseSplit(raw, `${loc.namespace}/${loc.name}`);
    if (!routesExactly(sharesOf(split, pair), percent)) {
      throw new RouterError("drift", `${label} does not hold what the bot wrote: wanted ${percent}% canary, read back ${renderBackends(split)}`, {
        wanted: percent,
        raw: renderBackends(split),
      });
    }
    return observed(loc, split, pair);
  }

  /** The API's own verdict on the split we would create: namespace exists, schema accepts it, RBAC allows it. */
  private async dryRunCreate(loc: Located, pair: RoutePair, version: SmiVersion): Promise<string | undefined> {
    try {
      await this.create(loc.namespace, newTrafficSplit(loc.namespace, loc.name, loc.apex, pair, 0, version), version, true);
      return undefined;
    } catch (err) {
      if (err instanceof RouterError && !err.transient) {
        return `TrafficSplit ${loc.namespace}/${loc.name} does not exist and cannot be created: ${err.message}`;
      }
      throw err;
    }
  }

  /** One API call with the deadline, its failure translated to a RouterError. */
  private call<T>(what: string, send: Parameters<typeof kubeCall<T>>[1]): Promise<T>;
  private call<T>(what: string, send: Parameters<typeof kubeCall<T>>[1], opts: { missingIsUndefined: true }): Promise<T | undefined>;
  private call<T>(what: string, send: Parameters<typeof kubeCall<T>>[1], opts?: { missingIsUndefined: true }): Promise<T | undefined> {
    const common = { timeoutMs: this.timeoutMs, discovery: this.discovery };
    return opts?.missingIsUndefined ? kubeRequest(what, send, { ...common, missingIsUndefined: true }) : kubeRequest(what, send, common);
  }
}

// ------------------------------------------------------------------------------------------ helpers

/** (namespace, apex) -> split name, least recently used dropped past `max`: the process's memory stays bounded. */
class SplitNames {
  private readonly names: LRUCache<string, string>;

  constructor(max: number) {
    this.names = new LRUCache({ max });
  }

  get(namespace: string, apex: string): string | undefined {
    return this.names.get(`${namespace}/${apex}`);
  }

  remember(namespace: string, apex: string, name: string): void {
    this.names.set(`${namespace}/${apex}`, name);
  }

  forget(namespace: string, apex: string): void {
    this.names.delete(`${namespace}/${apex}`);
  }
}

function parseSplit(raw: unknown, label: string): TrafficSplit {
  const parsed = TrafficSplitSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join(".") || "object";
    throw new RouterError("invalid", `TrafficSplit ${label} is malformed: ${where}: ${issue?.message ?? "unexpected shape"}`);
  }
  return parsed.data;
}

function observed(loc: Located, split: TrafficSplit, pair: RoutePair): Observed {
  const label = `TrafficSplit ${loc.namespace}/${loc.name}`;
  const shares = sharesOf(split, pair);
  const percent = canaryPercentOf(shares);
  if (percent === undefined) {
    const why = shares.unreadable.length ? `weights that are not numbers: ${shares.unreadable.join(", ")}` : "every backend has weight 0";
    throw new RouterError("invalid", `${label} routes nowhere the bot can read: ${why}`, { raw: renderBackends(split) });
  }
  return { canaryPercent: percent, version: split.metadata.resourceVersion ?? "", raw: renderBackends(split) };
}

/** Why this split cannot carry a rollout from pair.stable to pair.canary, or undefined when it can. */
export function problemWith(label: string, split: TrafficSplit, pair: RoutePair): string | undefined {
  const shares = sharesOf(split, pair);
  const live = servicesWithTraffic(split);
  const head = `${label} sends traffic to ${live.length ? live.join(", ") : "nothing"}`;
  if (shares.unreadable.length) return `${label} has weights that are not numbers: ${shares.unreadable.join(", ")}`;
  const problems: string[] = [];
  // An existing split must already name both services: a missing one is most often a typo in --to/--from,
  // and silently adding a backend to a split someone maintains by hand is not ours to do.
  if (!shares.hasStable) problems.push(`it has no backend ${pair.stable}`);
  if (!shares.hasCanary) problems.push(`it has no backend ${pair.canary}`);
  const busy = shares.others.filter((o) => o.weight > 0).map((o) => o.service);
  if (busy.length) {
    problems.push(`${busy.join(", ")} ${busy.length > 1 ? "are" : "is"} not part of this rollout (${pair.stable} -> ${pair.canary})`);
  }
  if (shares.total === 0) problems.push("every backend has weight 0");
  return problems.length ? `${head}: ${problems.join("; ")}` : undefined;
}

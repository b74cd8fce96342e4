/**
 * TrafficRouter for Linkerd 1 + namerd: a rollout owns one dentry of a namerd dtab, e.g.
 *   /host/world => /srv/world-v1                                 (0%)
 *   /host/world => 90 * /srv/world-v1 & 10 * /srv/world-v2       (10%)
 *   /host/world => /srv/world-v2                                 (100%)
 * Every other dentry belongs to someone else and is written back exactly as read.
 *
 * Writes are compare-and-set on namerd's ETag. A 412 (someone wrote the dtab since our read) is retried
 * from a fresh read, but only while our dentry still holds what we last wrote; when a person changed our
 * dentry we stop with "drift" and never overwrite their edit. After a write we read back and compare
 * semantically, since namerd re-renders weights (90 comes back as 90.00).
 *
 * The dentry must already exist: with `/host => /srv` in the dtab, `/host/world` resolves to `/srv/world`
 * without a dentry of its own, and creating one would silently move traffic before any rollout starts.
 */
import type { Target } from "../engine/target.ts";
import {
  DtabParseError,
  canaryPercentOf,
  findDentryIndex,
  parsePath,
  parsePrefix,
  prefixCovers,
  printDentry,
  printPath,
  printPrefix,
  printTree,
  replaceDentry,
  rolloutTree,
  treeEquals,
  type Dentry,
  type Dtab,
  type NameTree,
  type Path,
  type Prefix,
  type PrintStyle,
} from "./dtab.ts";
import { NamerdClient, VersionConflict } from "./namerd-client.ts";
import { RouterError, type FinalizeOptions, type Observed, type RoutePair, type TrafficRouter } from "./router.ts";

export type NamerdRouterOptions = {
  /** Per HTTP request to namerd. */
  timeoutMs?: number;
  /** Reads+writes tried when namerd answers 412 because other dentries changed meanwhile. */
  maxAttempts?: number;
  /** PUT body encoding. */
  format?: "dtab" | "json";
};

type NamerdSettings = NonNullable<Target["namerd"]>;

/** What one target's rollout touches in namerd, resolved from its `namerd:` block. */
type Binding = { client: NamerdClient; ns: string; prefix: Prefix; prefixText: string; settings: NamerdSettings };

export class NamerdRouter implements TrafficRouter {
  readonly kind = "namerd" as const;
  /** Rollouts begin at 0% with an l5d-dtab header test request (testRequestHint) before any shifting. */
  readonly hasTestStage = true;
  private readonly clients = new Map<string, NamerdClient>();
  private readonly maxAttempts: number;

  constructor(private readonly opts: NamerdRouterOptions = {}) {
    this.maxAttempts = opts.maxAttempts ?? 5;
  }

  async validate(target: Target, pair: RoutePair): Promise<string | undefined> {
    if (pair.stable === pair.canary) return `stable and canary are both ${pair.stable}`;
    try {
      const b = this.bind(target);
      const stable = dstFor(b.settings, pair.stable);
      const canary = dstFor(b.settings, pair.canary);
      const { dtab } = await b.client.getDtab(b.ns);
      const i = findDentryIndex(dtab, b.prefix);
      if (i === -1) {
        return `dtab ${b.ns} has no dentry for ${b.prefixText}: add \`${b.prefixText} => ${printPath(stable)}\` first (the bot only rewrites an existing dentry)`;
      }
      const dentry = dtab[i]!;
      if (canaryPercentOf(dentry.tree, stable, canary) === undefined) {
        return dentry.tree.kind === "leaf"
          ? `dtab ${b.ns}: ${printDentry(dentry)} does not route to ${pair.stable}`
          : `dtab ${b.ns}: ${printDentry(dentry)} is not a split between ${pair.stable} and ${pair.canary}`;
      }
      const shadow = dtab.slice(i + 1).find((d) => prefixCovers(d.prefix, b.prefix));
      if (shadow) {
        return `dtab ${b.ns}: ${printDentry(shadow)} comes after ${b.prefixText} and takes precedence over it`;
      }
      return undefined;
    } catch (err) {
      if (err instanceof RouterError) return err.message;
      throw err;
    }
  }

  async observe(target: Target, pair: RoutePair): Promise<Observed> {
    const b = this.bind(target);
    const stable = dstFor(b.settings, pair.stable);
    const canary = dstFor(b.settings, pair.canary);
    const { dtab, version } = await b.client.getDtab(b.ns);
    const dentry = ownDentry(b, dtab);
    const pct = canaryPercentOf(dentry.tree, stable, canary);
    if (pct === undefined) {
      throw new RouterError("drift", `dtab ${b.ns}: ${printDentry(dentry)} is not a split between ${printPath(stable)} and ${printPath(canary)}`);
    }
    return { canaryPercent: pct, version, raw: printDentry(dentry) };
  }

  async apply(target: Target, pair: RoutePair, canaryPercent: number, expect?: { canaryPercent: number }): Promise<Observed> {
    if (!Number.isInteger(canaryPercent) || canaryPercent < 0 || canaryPercent > 100) {
      throw new RouterError("invalid", `canary percent must be a whole number from 0 to 100, got ${canaryPercent}`);
    }
    const b = this.bind(target);
    const stable = dstFor(b.settings, pair.stable);
    const canary = dstFor(b.settings, pair.canary);
    const desired = rolloutTree(stable, canary, canaryPercent);
    if (expect === undefined) {
      // Nothing written yet: any split between the pair is a state this rollout may start from.
      return this.write(b, stable, canary, desired, {
        isOurs: (t) => canaryPercentOf(t, stable, canary) !== undefined,
        describe: `a split between ${printPath(stable)} and ${printPath(canary)}`,
      });
    }
    const last = rolloutTree(stable, canary, expect.canaryPercent);
    return this.write(b, stable, canary, desired, {
      isOurs: (t) => treeEquals(t, last),
      describe: `${b.prefixText} => ${printTree(last)} (what the bot last wrote)`,
    });
  }

  /**
   * One destination for good. Accepts any split between the pair (an abort may come at any step and
   * must not depend on what we remember), but still refuses to overwrite someone else's destination,
   * unless `force`: a person chose Abort after seeing the drift, so the stable dentry is written over the
   * hand edit. Even then only our dentry changes, the write is If-Match (412 re-reads and keeps edits of
   * other dentries) and the result is read back. A missing dentry is still not-found: re-creating a dentry
   * someone removed would route traffic they took away.
   * With `expect` (Finish), only a split routing that percent to the canary (what the bot last verified, in
   * any notation) is overwritten; anything else is drift and nothing is written.
   * `raw` is the whole dtab as namerctl prints it, for the final message.
   */
  async finalize(target: Target, pair: RoutePair, winner: "stable" | "canary", opts: FinalizeOptions = {}): Promise<Observed> {
    const b = this.bind(target);
    const stable = dstFor(b.settings, pair.stable);
    const canary = dstFor(b.settings, pair.canary);
    const desired: NameTree = { kind: "leaf", path: winner === "stable" ? stable : canary };
    const expected = opts.expect?.canaryPercent;
    const guard = opts.force
      ? { isOurs: () => true, describe: "anything (forced)" }
      : expected !== undefined
        ? {
            isOurs: (t: NameTree) => canaryPercentOf(t, stable, canary) === expected,
            describe: `${b.prefixText} => ${printTree(rolloutTree(stable, canary, expected))} (what the bot last verified, ${expected}% canary)`,
          }
        : {
            isOurs: (t: NameTree) => canaryPercentOf(t, stable, canary) !== undefined,
            describe: `a split between ${printPath(stable)} and ${printPath(canary)}`,
          };
    return this.write(b, stable, canary, desired, guard, "dtab");
  }

  /**
   * The stable is what the dentry routes to now. Throws rather than answering undefined, so the person
   * reads why (a split under way, a destination outside the pattern, no such namespace or dentry) and a
   * namerd outage stays a retryable error.
   */
  discoverStable(target: Target): Promise<string> {
    return this.readStableVersion(target);
  }

  testRequestHint(target: Target, pair: RoutePair): string | undefined {
    if (!target.namerd) return undefined;
    try {
      const canary = dstFor(target.namerd, pair.canary);
      const prefix = printPrefix(parsePrefix(target.namerd.prefix));
      const url = target.namerd.ingressUrl ?? "http://<linkerd-ingress>/";
      return (
        `curl -H 'l5d-dtab: ${prefix} => ${printPath(canary)}' ${shellQuote(url)}\n` +
        `The l5d-dtab header is appended to namerd's dtab for that one request only; other traffic is unaffected.`
      );
    } catch {
      return undefined;
    }
  }

  /** The version the dentry routes to now (`/host/world => /srv/world-v1` -> `world-v1`). */
  async readStableVersion(target: Target): Promise<string> {
    const b = this.bind(target);
    const { dtab } = await b.client.getDtab(b.ns);
    const dentry = ownDentry(b, dtab);
    if (dentry.tree.kind !== "leaf") {
      throw new RouterError(
        "invalid",
        `dtab ${b.ns}: ${printDentry(dentry)} is not a single destination (a rollout may be under way); name the stable version with --from`,
      );
    }
    const version = versionFromDst(b.settings.dst, dentry.tree.path);
    if (version === undefined) {
      throw new RouterError("invalid", `dtab ${b.ns}: ${printDentry(dentry)} does not match the dst pattern ${b.settings.dst}`);
    }
    return version;
  }

  // ---------------------------------------------------------------------------------------------

  private bind(target: Target): Binding {
    const settings = target.namerd;
    if (!settings) throw new RouterError("invalid", `target ${target.name} has no namerd block (url, dtabNamespace, prefix)`);
    let client = this.clients.get(settings.url);
    if (!client) {
      client = new NamerdClient({ url: settings.url, timeoutMs: this.opts.timeoutMs, format: this.opts.format });
      this.clients.set(settings.url, client);
    }
    const prefix = parseOrInvalid(() => parsePrefix(settings.prefix), `namerd.prefix ${settings.prefix}`);
    return { client, ns: settings.dtabNamespace, prefix, prefixText: printPrefix(prefix), settings };
  }

  /** Read, check the dentry is still ours, compare-and-set, read back. Retries 412s from fresh reads. */
  private async write(
    b: Binding,
    stable: Path,
    canary: Path,
    desired: NameTree,
    guard: { isOurs: (t: NameTree) => boolean; describe: string },
    /** What `raw` shows: our dentry (steps) or the whole dtab as namerctl prints it (finalize). */
    show: "dentry" | "dtab" = "dentry",
  ): Promise<Observed> {
    const observed = (dtab: Dtab, version: string, dentry: Dentry): Observed => ({
      canaryPercent: canaryPercentOf(dentry.tree, stable, canary)!,
      version,
      raw: show === "dtab" ? formatAsNamerctl(dtab, version) : printDentry(dentry),
    });
    for (let attempt = 1; ; attempt++) {
      const { dtab, version } = await b.client.getDtab(b.ns);
      const dentry = ownDentry(b, dtab);
      // Already there (also after a PUT whose answer was lost): nothing to write.
      if (treeEquals(dentry.tree, desired)) return observed(dtab, version, dentry);
      if (!guard.isOurs(dentry.tree)) {
        throw new RouterError("drift", `someone changed ${b.prefixText} in dtab ${b.ns}: expected ${guard.describe}, found ${printDentry(dentry)}`, {
          found: printDentry(dentry),
          expected: guard.describe,
        });
      }
      try {
        await b.client.putDtab(b.ns, replaceDentry(dtab, b.prefix, desired), version);
      } catch (err) {
        if (!(err instanceof VersionConflict)) throw err;
        if (attempt >= this.maxAttempts) {
          throw new RouterError("conflict", `dtab ${b.ns} kept changing under us: gave up after ${attempt} attempts`, err);
        }
        continue;
      }
      const back = await b.client.getDtab(b.ns);
      const i = findDentryIndex(back.dtab, b.prefix);
      const got = i === -1 ? undefined : back.dtab[i]!;
      if (!got || !treeEquals(got.tree, desired)) {
        throw new RouterError(
          "drift",
          `wrote ${b.prefixText} => ${printTree(desired)} to dtab ${b.ns} but read back ${got ? printDentry(got) : "no such dentry"}`,
        );
      }
      return observed(back.dtab, back.version, got);
    }
  }
}

/** `readStableVersion` without keeping a router around, e.g. for `/rollout start world --to world-v2`. */
export function readStableVersion(target: Target, opts?: NamerdRouterOptions): Promise<string> {
  return new NamerdRouter(opts).readStableVersion(target);
}

/** The destination path for a version: `/srv/{version}` + `world-v1` -> `/srv/world-v1`. */
export function dstFor(settings: Pick<NamerdSettings, "dst">, version: string): Path {
  const text = settings.dst.split("{version}").join(version);
  return parseOrInvalid(() => parsePath(text), `namerd.dst ${settings.dst} for version ${version} (${text})`);
}

/** The inverse of dstFor: which version a destination path names, if it fits the pattern. */
export function versionFromDst(pattern: string, path: Path): string | undefined {
  const parts = pattern.split("{version}").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  // The first {version} captures a label, later ones must repeat it.
  const re = new RegExp(`^${parts[0]}([^/]+)${parts.slice(1).join("\\1")}$`);
  return re.exec(printPath(path))?.[1];
}

/**
 * The dtab as `namerctl dtab get` prints it: `# version <etag>`, then one `prefix => dst ;` line per
 * dentry with the arrows aligned; dsts in namerd's rendering by default, as namerctl shows them verbatim.
 * No trailing newline, so it drops into a Slack code block.
 */
export function formatAsNamerctl(dtab: Dtab, version: string | undefined, style: PrintStyle = "namerd"): string {
  const prefixes = dtab.map((d) => printPrefix(d.prefix));
  const width = Math.max(0, ...prefixes.map((p) => p.length));
  const lines = version ? [`# version ${version}`] : [];
  dtab.forEach((d, i) => {
    const p = prefixes[i]!;
    lines.push(`${p}  ${"=>".padStart(width - p.length + 2)} ${printTree(d.tree, style)} ;`);
  });
  return lines.join("\n");
}

function ownDentry(b: Binding, dtab: Dtab): Dentry {
  const i = findDentryIndex(dtab, b.prefix);
  if (i === -1) throw new RouterError("not-found", `dtab ${b.ns} has no dentry for ${b.prefixText}`);
  return dtab[i]!;
}

function parseOrInvalid<T>(parse: () => T, what: string): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof DtabParseError) throw new RouterError("invalid", `${what} is not a valid dtab path: ${err.message}`, err);
    throw err;
  }
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

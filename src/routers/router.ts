import type { Target } from "../engine/target.ts";
import type { WrittenAt } from "../engine/ownership.ts";
import type { RoutePair } from "../engine/route.ts";

/**
 * One implementation per mesh; the engine and the workers only see this.
 * A router is bound to one rollout's pair of versions when it is asked to act, via `RoutePair`.
 * The pair and RouterError live in src/engine/route.ts (src/kube and src/metrics use them too); re-exported
 * for the routers and their callers.
 */
export { RouterError, type RouterErrorCode, type RoutePair } from "../engine/route.ts";
import { RouterError } from "../engine/route.ts";

export type Observed = {
  /** Percent of traffic the mesh sends to the canary now (0..100, rounded to a whole number). */
  canaryPercent: number;
  /** Opaque version for compare-and-set (resourceVersion, namerd ETag). */
  version: string;
  /** Human-readable rendering of what the mesh holds (a dtab line, the backends), for messages. */
  raw: string;
  /**
   * What was changed by hand since the bot's last write in what it manages besides the weights (a Gateway
   * rule's matches, filters or backendRefs, the bot's test rule), in words; absent when nothing was.
   */
  drift?: string;
  /**
   * Opaque: what the router manages besides the weights, as read (a Gateway rule's matches, filters,
   * backendRefs and the bot's test rule, hashed). Kept with the rollout after a verified write and handed
   * back (`ApplyExpect.print`, observe's `baseline`) to find hand edits of it.
   */
  print?: string;
};

/** The read-back holds the percent that was written, or the write is drift (someone else's value won). */
export function verifyPercent(obs: Observed, percent: number): void {
  if (obs.canaryPercent !== percent) {
    throw new RouterError("drift", `wrote ${percent}% to the canary but the mesh reads back ${obs.canaryPercent}% (${obs.raw})`);
  }
}

export type ApplyExpect = {
  canaryPercent: number;
  /** Observed.print of the last verified write: the mesh must still hold it, else "drift". Absent: not compared. */
  print?: string | undefined;
  /**
   * Take the fields from whichever field manager owns them (server-side apply `force=true`): only after a
   * person chose Re-apply over an "owned" refusal. Absent: another owner's fields are a RouterError("owned").
   */
  takeOwnership?: boolean;
};

export interface TrafficRouter {
  readonly kind: Target["router"];
  /** Check the target can be routed between these versions; resolves to a problem statement, or undefined. */
  validate(target: Target, pair: RoutePair): Promise<string | undefined>;
  /**
   * What the mesh routes now. Throws RouterError("not-found") if the routing object does not exist. With
   * `baseline` (Observed.print of the last verified write), a hand edit of it is described in `drift`.
   */
  observe(target: Target, pair: RoutePair, baseline?: string): Promise<Observed>;
  /**
   * Make the mesh route `canaryPercent` to the canary, then read it back. Idempotent: no write when the mesh
   * already holds it. Creates the routing object if missing (SMI). Rejects with RouterError on conflicts
   * it could not resolve, or "drift" when someone else changed what we own.
   * `expect` is what we last wrote (percent), used to tell our own state from someone else's edit.
   */
  apply(target: Target, pair: RoutePair, canaryPercent: number, expect?: ApplyExpect): Promise<Observed>;
  /**
   * Make the winner permanent (dtab without the loser, TrafficSplit all on the winner) and read back.
   * With `expect` (what the bot last verified, as for apply), write only over that percent: anything else is
   * drift and nothing is written (Finish never overwrites a hand edit). Without it, any split between the
   * pair is accepted. With `force`, write even when the mesh holds something we did not write (a person
   * chose Abort: their decision wins); without it, such a state is drift and nothing is written.
   */
  finalize(target: Target, pair: RoutePair, winner: "stable" | "canary", opts?: FinalizeOptions): Promise<Observed>;
  /** How a person sends one request to the canary only, if the mesh can (an l5d-dtab header). */
  testRequestHint(target: Target, pair: RoutePair): string | undefined;
  /** The version the mesh routes to now, when a person did not name the stable one (namerd reads its dentry). */
  discoverStable?(target: Target): Promise<string | undefined>;
  /**
   * The existing Kubernetes objects this router writes for the target, and which fields (for the GitOps
   * ownership check before a start). Absent: the mesh is not configured through Kubernetes objects.
   */
  writtenObjects?(target: Target, pair: RoutePair): Promise<WrittenAt[]>;
  /** Whether rollouts on this mesh begin with a 0% stage where only test requests reach the canary. */
  readonly hasTestStage?: boolean;
}

export type FinalizeOptions = {
  /**
   * Write over anything (an abort: going back to stable must complete), also fields another manager owns
   * (server-side apply `force=true`). Wins over `expect`.
   */
  force?: boolean;
  /** The canary percent the bot last verified: the mesh must still hold it, else "drift". */
  expect?: ApplyExpect;
};

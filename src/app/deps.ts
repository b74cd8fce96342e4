import type { Logger } from "pino";
import type { Policy } from "../engine/policy.ts";
import type { DecisionNote } from "../engine/policy.ts";
import type { Refusal } from "../engine/refusal.ts";
import type { Target } from "../engine/target.ts";
import type { Verdict } from "../engine/verdict.ts";
import type { DeploymentLister } from "../kube/deployment-list.ts";
import type { EffectQueue } from "../queue/queues.ts";
import type { AuditLog } from "../store/audit.ts";
import type { RolloutStore } from "../store/rollout-store.ts";
import type { AccessControl } from "./access.ts";
import type { StartRefusal } from "./start-types.ts";
import type { RequestLimits } from "./rate-limits.ts";
import type { ChannelVisibility } from "../slack/channel-visibility.ts";

/** The targets the bot knows, as the targets file declared them (parsed once, in main). */
export type TargetCatalog = {
  /** Targets declared in the targets file, by name. */
  targets: ReadonlyMap<string, Target>;
  /** Whether an undeclared target may be started from flags alone. */
  adhoc: boolean;
  /** File-level default policy (who may do what, where); each target's own `policy` overrides it key by key. */
  policy?: Policy;
  /** Production without a policy for ad-hoc targets: nobody may start or finish (src/config.ts). */
  closed?: boolean;
};

/** What the router registry can do, as far as a use case needs to know before anything is written. */
export type RouterCapabilities = {
  has(kind: Target["router"]): boolean;
  /** The router reads the stable version from the mesh when a person does not name it (namerd). */
  discoversStable(kind: Target["router"]): boolean;
  /** Rollouts on this mesh begin with a 0% stage where only test requests reach the canary. */
  hasTestStage(kind: Target["router"]): boolean;
};

/**
 * The audit trail keeps sentences (people read it back with `/rollout history`): the surface that owns the
 * words lends them, so the app layer records what a person was told without composing it.
 */
export type AuditWords = {
  refusal(r: Refusal): string;
  note(n: DecisionNote): string;
  /** A refused start, as the person was told. */
  start(r: StartRefusal): string;
  /** A success-rate verdict, for why the bot stepped, waited or stopped. */
  verdict(v: Verdict): string;
};

/** Everything a use case may touch. Surfaces hold one of these and call `src/app`; nothing else. */
export type AppDeps = {
  store: RolloutStore;
  queue: EffectQueue;
  audit: AuditLog;
  /** Who may do what (the targets file's policy and Slack user groups). */
  access: AccessControl;
  catalog: TargetCatalog;
  routers: RouterCapabilities;
  /** Success-rate sources by target: automatic steps need one. */
  metrics: { for(target: Target): unknown };
  words: AuditWords;
  now: () => number;
  log: Logger;
  /** Lists a namespace's Deployments (the start form's version choices); absent without a Kubernetes API. */
  deployments?: DeploymentLister;
  /** Per-person limits on starts, readings and charts (absent: none, as in unit tests). */
  limits?: RequestLimits;
  /** Which channels a person can see: reads show only rollouts of those (absent: every rollout). */
  channels?: ChannelVisibility;
  /** Who opened the App Home tab recently (their boards are kept current); absent where there is no Home tab. */
  homeViewers?: { seen(userId: string, at: number): Promise<void> };
};

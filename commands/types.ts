import type { Logger } from "pino";
import type { AccessControl } from "../src/control/access.ts";
import type { Policy } from "../src/engine/policy.ts";
import type { Target } from "../src/engine/target.ts";
import type { EffectQueue } from "../src/queue/queues.ts";
import type { AuditLog } from "../src/store/audit.ts";
import type { RolloutStore } from "../src/store/rollout-store.ts";
import type { SlackMetaStore } from "../src/store/slack-meta.ts";
import type { ParseResult } from "./args.ts";

/** Where a command came from: Slack, or later the sandbox. Commands never see Slack payloads. */
export type Caller = { userId: string; channelId: string; responseUrl?: string };

export type TargetCatalog = {
  /** Targets declared in the targets file, by name. */
  targets: ReadonlyMap<string, Target>;
  /** Whether an undeclared target may be started from flags alone. */
  adhoc: boolean;
  /** File-level default policy (who may do what, where); each target's own `policy` overrides it key by key. */
  policy?: Policy;
};

export type CommandDeps = {
  store: RolloutStore;
  queue: EffectQueue;
  meta: SlackMetaStore;
  catalog: TargetCatalog;
  /** Who may do what (the targets file's policy and Slack user groups). */
  access: AccessControl;
  /** Every command, click and automatic decision is appended here. */
  audit: AuditLog;
  /** Router kinds this bot can drive, and which of them find the stable version themselves. */
  routers: { has(kind: Target["router"]): boolean; discoversStable(kind: Target["router"]): boolean; hasTestStage(kind: Target["router"]): boolean };
  /** Success-rate sources by target: automatic steps need one. */
  metrics: { for(target: Target): unknown };
  now: () => number;
  log: Logger;
};

/** `audited`: the command wrote its own audit entry (a decision); otherwise runCommand records it. */
export type Reply = { text: string; blocks?: Record<string, unknown>[]; audited?: boolean };

export interface Command<A> {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  parse(tokens: string[]): ParseResult<A>;
  run(deps: CommandDeps, caller: Caller, args: A): Promise<Reply>;
}

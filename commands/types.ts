import type { Logger } from "pino";
import type { Target } from "../src/engine/target.ts";
import type { EffectQueue } from "../src/queue/queues.ts";
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
};

export type CommandDeps = {
  store: RolloutStore;
  queue: EffectQueue;
  meta: SlackMetaStore;
  catalog: TargetCatalog;
  /** Router kinds this bot can drive, and which of them find the stable version themselves. */
  routers: { has(kind: Target["router"]): boolean; discoversStable(kind: Target["router"]): boolean; hasTestStage(kind: Target["router"]): boolean };
  now: () => number;
  log: Logger;
};

export type Reply = { text: string; blocks?: Record<string, unknown>[] };

export interface Command<A> {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  parse(tokens: string[]): ParseResult<A>;
  run(deps: CommandDeps, caller: Caller, args: A): Promise<Reply>;
}

import type { AppDeps } from "../src/app/deps.ts";
import type { ParseResult } from "./args.ts";

import type { Caller } from "../src/app/start-types.ts";

export type { Caller } from "../src/app/start-types.ts";
export type { TargetCatalog } from "../src/app/deps.ts";

/** Commands call the app layer (`src/app`) with these; they never touch the store, queue or policy. */
export type CommandDeps = AppDeps;

/**
 * A reply to the person who typed the command. `outcome`: whether it was done or refused (for the audit
 * trail; default done). `audited`: the use case wrote its own audit entry (a decision); otherwise
 * runCommand records it.
 */
export type Reply = { text: string; blocks?: Record<string, unknown>[]; outcome?: "done" | "refused"; audited?: boolean };

export interface Command<A> {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  parse(tokens: string[]): ParseResult<A>;
  run(deps: CommandDeps, caller: Caller, args: A): Promise<Reply>;
}

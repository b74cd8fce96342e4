import type { AppDeps } from "./deps.ts";

/**
 * A person opened the App Home tab: remember them (their board is then kept current as rollouts change)
 * and have their board published now. `notice` goes at the top (the answer to a click made there, which has
 * no channel or response_url to answer through).
 */
export async function openedHome(deps: Pick<AppDeps, "queue" | "now" | "homeViewers">, userId: string, notice?: string): Promise<void> {
  await deps.homeViewers?.seen(userId, deps.now());
  await deps.queue.homeFor(userId, notice);
}

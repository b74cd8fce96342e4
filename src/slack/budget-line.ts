import { AsyncLocalStorage } from "node:async_hooks";
import { onPaidTurn } from "./budget-fetch.ts";
import { SlackTurnLater, type SlackBudget } from "./budget.ts";

/**
 * Which bucket's line a job is coming back for. A job put back by the Slack budget (SlackTurnLater) was given
 * a slot in that bucket's line; when it runs again, its first call to that bucket claims the slot instead of
 * queueing again behind the jobs put back after it. Carried through the job's calls without threading it
 * through every signature, as onPaidTurn is.
 */
const back = new AsyncLocalStorage<{ bucket: string | undefined }>();

/** Run a job's body; `bucket`: the line it is coming back for (from its data), if any. */
export function runBackFor<T>(bucket: string | undefined, run: () => Promise<T>): Promise<T> {
  return back.run({ bucket }, run);
}

/** Whether this call is the one the job came back for (true once per run). */
export function claimReturn(bucket: string): boolean {
  const store = back.getStore();
  if (!store || store.bucket !== bucket) return false;
  store.bucket = undefined;
  return true;
}

/**
 * One Web API call of an effect job, on its turn: taken before the call, here rather than in the client's
 * fetch, so that over budget the job is put back in line (SlackTurnLater, handled by the worker) instead of
 * waiting in its worker slot, where mesh writes would queue behind it, and the client's own retries never
 * repeat the wait. Without a budget, the call goes straight away.
 */
export async function onJobTurn<T>(
  budget: SlackBudget | undefined,
  call: { method: string; channel?: string | undefined; onPutBack?: ((bucket: string) => void) | undefined },
  run: () => Promise<T>,
): Promise<T> {
  if (!budget) return run();
  try {
    await budget.turn(call.method, call.channel, Date.now(), claimReturn);
  } catch (err) {
    if (err instanceof SlackTurnLater) call.onPutBack?.(err.bucket);
    throw err;
  }
  return onPaidTurn(run);
}

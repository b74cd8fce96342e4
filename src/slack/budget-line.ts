import { AsyncLocalStorage } from "node:async_hooks";

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

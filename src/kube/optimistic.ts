/**
 * Read-modify-write under optimistic concurrency: every write carries the resourceVersion it read, so a
 * concurrent edit is a 409, never a silent overwrite; a 409 starts the attempt over from a fresh read,
 * where the caller decides again whether the object still holds what it may write over.
 */
import { RouterError } from "../engine/route.ts";

/** What an attempt returns when its write met a 409: read again and decide again. */
export const CONFLICT: unique symbol = Symbol("conflict");

/** Run `attempt` until it returns something other than CONFLICT, at most `maxAttempts` times. */
export async function retryOnConflict<T>(
  maxAttempts: number,
  attempt: (n: number) => Promise<T | typeof CONFLICT>,
  gaveUp: (attempts: number) => RouterError,
): Promise<T> {
  for (let n = 1; n <= maxAttempts; n++) {
    const result = await attempt(n);
    if (result !== CONFLICT) return result;
  }
  throw gaveUp(maxAttempts);
}

/** Send one write; CONFLICT when the API answered 409 (RouterError "conflict"), else whatever it resolved to. */
export async function unlessConflict<T>(send: () => Promise<T>): Promise<T | typeof CONFLICT> {
  try {
    return await send();
  } catch (err) {
    if (err instanceof RouterError && err.code === "conflict") return CONFLICT;
    throw err;
  }
}

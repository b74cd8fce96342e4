import { AsyncLocalStorage } from "node:async_hooks";
import type { SlackBudget } from "./budget.ts";

/**
 * The one door every Web API call of the bot goes through: the `fetch` given to Bolt's clients (the
 * worker's, the listeners' per-request ones, the user groups' and readiness's), so each HTTP attempt,
 * retries included, takes its turn from the shared budget first.
 */

/** A refresh that already took its turn (SlackBudget.take with priority "refresh") passes this in. */
const prepaid = new AsyncLocalStorage<{ used: boolean }>();

/** Run `call` (one Web API call) on a turn already taken: its first attempt does not take another. */
export function onPaidTurn<T>(call: () => Promise<T>): Promise<T> {
  return prepaid.run({ used: false }, call);
}

export function budgetedFetch(
  budget: SlackBudget,
  opts: { timeoutMs: number; inner?: typeof fetch; onWait?: (method: string, ms: number) => void },
): typeof fetch {
  const inner = opts.inner ?? fetch;
  return async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const method = methodOf(url);
    const paid = prepaid.getStore();
    if (method === undefined) return inner(input, init);
    if (paid && !paid.used) {
      paid.used = true;
      return inner(input, init);
    }
    const waited = await budget.acquire(method, method === "chat.postMessage" ? channelOf(init?.body) : undefined);
    if (waited > 0) opts.onWait?.(method, waited);
    // The client's deadline started before the wait: the call itself gets the whole deadline again.
    return inner(input, waited > 0 ? { ...init, signal: AbortSignal.timeout(opts.timeoutMs) } : init);
  };
}

/** `https://slack.com/api/chat.update` -> `chat.update`; anything not a Web API method -> undefined. */
function methodOf(url: string): string | undefined {
  return /\/api\/([A-Za-z0-9_.]+)(?:\?|$)/.exec(url)?.[1];
}

/** The channel of a form-encoded (how @slack/web-api sends) or JSON body. */
function channelOf(body: unknown): string | undefined {
  if (typeof body !== "string") return undefined;
  if (body.startsWith("{")) {
    try {
      const parsed = JSON.parse(body) as { channel?: unknown };
      return typeof parsed.channel === "string" ? parsed.channel : undefined;
    } catch {
      return undefined;
    }
  }
  return new URLSearchParams(body).get("channel") ?? undefined;
}

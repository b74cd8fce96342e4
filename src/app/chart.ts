import { err, ok, type Result } from "../engine/result.ts";
import type { Rollout } from "../engine/rollout.ts";
import type { AppDeps } from "./deps.ts";
import { withinLimit, type RateLimited } from "./rate-limits.ts";

/**
 * Ask for a rollout's success-rate chart in its thread. It changes no state, so anyone may, within limits:
 * per person, and per thread whoever asks (a chart is a public post, so a thread cannot be flooded). The
 * picture is drawn and uploaded by a job (rendering is CPU work that does not belong in a Slack request's
 * 3 seconds).
 */
export async function requestChart(
  deps: Pick<AppDeps, "store" | "queue" | "now" | "limits">,
  userId: string,
  id: string,
): Promise<Result<Rollout, { code: "no-rollout"; id: string } | RateLimited>> {
  const r = await deps.store.get(id);
  if (!r) return err({ code: "no-rollout", id });
  const mine = await withinLimit(deps.limits, "chart", userId);
  if (!mine.ok) return mine;
  const thread = await withinLimit(deps.limits, "chart-thread", r.id);
  if (!thread.ok) return thread;
  await deps.queue.chart(r.id, `ask${Math.floor(deps.now() / 5_000)}`);
  return ok(r);
}

import { err, ok, type Result } from "../engine/result.ts";
import type { Rollout } from "../engine/rollout.ts";
import type { AppDeps } from "./deps.ts";

/**
 * Ask for a rollout's success-rate chart in its thread. It changes no state, so anyone may; the picture is
 * drawn and uploaded by a job (rendering is CPU work that does not belong in a Slack request's 3 seconds).
 */
export async function requestChart(deps: Pick<AppDeps, "store" | "queue" | "now">, id: string): Promise<Result<Rollout, { code: "no-rollout"; id: string }>> {
  const r = await deps.store.get(id);
  if (!r) return err({ code: "no-rollout", id });
  await deps.queue.chart(r.id, `ask${Math.floor(deps.now() / 5_000)}`);
  return ok(r);
}

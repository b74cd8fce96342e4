import type { Rollout } from "../engine/rollout.ts";
import { botDecides } from "./bot-decide.ts";
import type { DecideDeps } from "./decide.ts";

/**
 * A wave's automatic gate (`wave: { gate: auto }`): once the cluster at `position` finished healthy and its
 * bake time passed, the bot opens the gate to the next cluster through the same decision as a person's
 * Advance. A timer for a gate the wave has left (a person opened it, an Abort) does nothing.
 */
export async function openGateOnTime(deps: DecideDeps, r: Rollout, position: number): Promise<void> {
  const opensAt = r.wave?.atGate?.opensAt;
  if (r.status !== "at-gate" || r.wave?.position !== position || opensAt === undefined) return;
  // A delayed job may fire a moment early; the engine opens the gate only once the bake time has passed.
  const early = opensAt - deps.now();
  if (early > 5_000) return;
  if (early > 0) await new Promise((resolve) => setTimeout(resolve, early));
  const next = r.wave.rows[position + 1]?.cluster ?? "";
  await botDecides(deps, r, "advance", `${r.wave.rows[position]!.cluster} finished healthy and baked: on to ${next}`);
}

import { isTerminal, withSnapshot, type Rollout } from "../engine/rollout.ts";
import { withBakeReading } from "../engine/wave-rollout.ts";
import { botChanges, botDecides } from "./bot-decide.ts";
import type { ReadReading } from "./auto-step.ts";
import type { DecideDeps } from "./decide.ts";

/**
 * A wave's automatic gate (`wave: { gate: auto }`): once the cluster at `position` finished healthy and its
 * bake time passed, the bot opens the gate to the next cluster through the same decision as a person's
 * Advance, which the engine refuses while something holds it (a bake whose readings say worse, a finished
 * cluster changed since). A timer for a gate the wave has left (a person opened it, an Abort) does nothing.
 */

/** What the gate's own timer looks at first, so the gate opens on the wave as it is at that moment. */
export type GateLook = {
  /** Read the finished clusters' routes (a change there keeps the gate closed). */
  watch?: (r: Rollout) => Promise<void>;
  /** Take one more reading of the cluster that finished: the last of its bake. */
  read?: ReadReading;
};

export async function openGateOnTime(deps: DecideDeps, r: Rollout, position: number, look: GateLook = {}): Promise<void> {
  const opensAt = r.wave?.atGate?.opensAt;
  if (r.status !== "at-gate" || r.wave?.position !== position || opensAt === undefined) return;
  // A delayed job may fire a moment early; the engine opens the gate only once the bake time has passed.
  const early = opensAt - deps.now();
  if (early > 5_000) return;
  if (early > 0) await new Promise((resolve) => setTimeout(resolve, early));
  await look.watch?.(r);
  if (look.read) {
    const reading = await look.read(r);
    await botChanges(deps, r.id, (x) => (isTerminal(x) ? x : withBakeReading(withSnapshot(x, reading), deps.now())));
  }
  const now = look.watch || look.read ? await deps.store.get(r.id) : r;
  if (!now || now.status !== "at-gate" || now.wave?.position !== position) return;
  const next = now.wave.rows[position + 1]?.cluster ?? "";
  await botDecides(deps, now, "advance", `${now.wave.rows[position]!.cluster} finished healthy and its bake held nothing against it: on to ${next}`);
}

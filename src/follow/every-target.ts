import type { Target } from "../engine/target.ts";

/** A clock over some targets: stop() clears it and waits for the readings in flight. */
export type TargetClock = { stop(): Promise<void> };

/**
 * Run `pollOnce` for each target at once and then every `intervalOf(target)` ms. A reading still running when
 * its next beat comes skips that beat (a slow API must not pile reads up); stop() ends the clock and waits for
 * the readings in flight. The followers (Argo Rollouts, Flagger) share it.
 */
export function everyTarget(targets: Target[], intervalOf: (t: Target) => number, pollOnce: (t: Target) => Promise<void>): TargetClock {
  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<void>>();
  let stopped = false;
  for (const t of targets) {
    let busy = false;
    const tick = () => {
      if (busy || stopped) return;
      busy = true;
      const p = pollOnce(t).finally(() => {
        busy = false;
        running.delete(p);
      });
      running.add(p);
    };
    tick();
    timers.push(setInterval(tick, intervalOf(t)));
  }
  return {
    async stop() {
      stopped = true;
      for (const t of timers) clearInterval(t);
      await Promise.allSettled([...running]);
    },
  };
}

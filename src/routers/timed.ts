import type { Target } from "../engine/target.ts";
import { RouterRegistry } from "./registry.ts";
import type { TrafficRouter } from "./router.ts";

/** Where a mesh call's duration goes (the bot's metrics). */
export type MeshTiming = (router: string, op: "write" | "read", seconds: number, cluster?: string) => void;

/**
 * The same routers, each call timed: `apply` and `finalize` (a write and its read-back) as writes, `observe`
 * as a read. Failed calls are timed too: a slow failing API is what an operator wants to see.
 */
export function timedRegistry(registry: RouterRegistry, kinds: Target["router"][], timing: MeshTiming): RouterRegistry {
  const out = new RouterRegistry();
  for (const kind of kinds) if (registry.has(kind)) out.register(timedRouter(registry.get(kind), timing));
  return out;
}

function timedRouter(r: TrafficRouter, timing: MeshTiming): TrafficRouter {
  const timed =
    <A extends [Target, ...unknown[]], T>(op: "write" | "read", fn: (...a: A) => Promise<T>) =>
    async (...a: A): Promise<T> => {
      const t0 = performance.now();
      try {
        return await fn(...a);
      } finally {
        timing(r.kind, op, (performance.now() - t0) / 1000, a[0].cluster);
      }
    };
  // A prototype chain keeps every other member (validate, testRequestHint, discoverStable, hasTestStage).
  const wrapped: TrafficRouter = Object.create(r);
  Object.assign(wrapped, {
    apply: timed("write", r.apply.bind(r)),
    finalize: timed("write", r.finalize.bind(r)),
    observe: timed("read", r.observe.bind(r)),
  });
  return wrapped;
}

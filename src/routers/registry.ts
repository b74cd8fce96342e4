import type { Target } from "../engine/target.ts";
import { RouterError, type TrafficRouter } from "./router.ts";

/** Picks the router for a target's mesh; each mesh is one entry, added at the composition root. */
export class RouterRegistry {
  private readonly routers = new Map<Target["router"], TrafficRouter>();

  register(router: TrafficRouter): this {
    this.routers.set(router.kind, router);
    return this;
  }

  for(target: Target): TrafficRouter {
    return this.get(target.router);
  }

  get(kind: Target["router"]): TrafficRouter {
    const router = this.routers.get(kind);
    if (!router) throw new RouterError("invalid", `no router for '${kind}' is configured in this bot`);
    return router;
  }

  has(kind: Target["router"]): boolean {
    return this.routers.has(kind);
  }
}

import { describe, expect, it } from "vitest";
import { resolveTarget } from "../../src/app/start.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { startRefusalReply } from "../../src/slack/views/refusal.ts";

/**
 * Issue 20, security review: probes that got through the first hardening. A person with ordinary rights,
 * over signed requests to the real bot and the local peers (or the pure fence where that is the whole story).
 */

describe("--to on a declared target", () => {
  const catalog = {
    adhoc: false,
    targets: new Map(
      [
        { name: "shop", namespace: "shop", stable: "shop-v1", smi: { trafficSplit: "shop-ts" } },
        { name: "cart", namespace: "shop", stable: "cart-v1", smi: { trafficSplit: "cart-ts" } },
        { name: "api", namespace: "other", stable: "api-v1", smi: { trafficSplit: "api-ts" } },
      ].map((t) => [t.name, TargetSchema.parse(t)] as const),
    ),
  };

  it("may not name another declared target's stable in the same namespace (its traffic, and later its scale-down)", () => {
    const out = resolveTarget(catalog, { target: "shop", to: "cart-v1" });
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(startRefusalReply(out.error)).toBe(
      ":no_entry: `--to cart-v1` is not allowed for `shop`: `cart-v1` is the stable version of target `cart` in the same namespace, so shifting `shop`'s traffic to it would reach into `cart`. Name a version of `shop`. Nothing was changed.",
    );
  });

  it("may name any other version, and a name that is another namespace's stable", () => {
    expect(resolveTarget(catalog, { target: "shop", to: "shop-v2" }).ok).toBe(true);
    expect(resolveTarget(catalog, { target: "shop", to: "api-v1" }).ok).toBe(true);
  });
});

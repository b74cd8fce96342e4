import { describe, expect, it } from "vitest";
import { allowsFrom, fenceAdhoc, fenceDeclared } from "../../src/engine/fence.ts";
import { authorize, effectivePolicy, PolicySchema } from "../../src/engine/policy.ts";
import { TargetSchema } from "../../src/engine/target.ts";

/** Issue 20: the fence of a declared target, of ad-hoc targets, and the closed policy, as pure decisions. */

const shop = TargetSchema.parse({ name: "shop", namespace: "shop", stable: "shop-v1", allowFrom: ["shop-blue", "shop-rc*"] });

describe("fenceDeclared", () => {
  it("refuses each flag that names where the target lives, whatever its value, naming the flag", () => {
    for (const flag of ["namespace", "router", "split"] as const) {
      expect(fenceDeclared(shop, { [flag]: "shop" })).toEqual({ code: "fenced-flag", flag, target: "shop", value: "shop" });
    }
  });

  it("lets --from repeat the stable or name what allowFrom lets through, and nothing else", () => {
    expect(fenceDeclared(shop, {})).toBeUndefined();
    expect(fenceDeclared(shop, { from: "shop-v1" })).toBeUndefined();
    expect(fenceDeclared(shop, { from: "shop-blue" })).toBeUndefined();
    expect(fenceDeclared(shop, { from: "shop-rc12" })).toBeUndefined();
    expect(fenceDeclared(shop, { from: "payments-db" })).toEqual({
      code: "from-not-allowed",
      target: "shop",
      from: "payments-db",
      stable: "shop-v1",
      allowFrom: ["shop-blue", "shop-rc*"],
    });
    expect(fenceDeclared(TargetSchema.parse({ name: "cart", stable: "cart-v1" }), { from: "cart-v0" })?.code).toBe("from-not-allowed");
  });

  it("without a declared stable: a router that reads it from the mesh checks --from there; SMI needs allowFrom", () => {
    const world = TargetSchema.parse({
      name: "world",
      router: "namerd",
      namerd: { url: "http://namerd:4180", dtabNamespace: "internal", prefix: "/host/world" },
    });
    expect(fenceDeclared(world, { from: "world-v1" })).toBeUndefined();
    expect(fenceDeclared(TargetSchema.parse({ name: "web", router: "gateway", gateway: { rule: "main" } }), { from: "web-v1" })).toBeUndefined();
    // Without a named rule, --from would pick which rule of the route is shifted.
    expect(fenceDeclared(TargetSchema.parse({ name: "web", router: "gateway" }), { from: "web-v1" })?.code).toBe("from-not-allowed");
    expect(fenceDeclared(TargetSchema.parse({ name: "cart" }), { from: "cart-v1" })?.code).toBe("from-not-allowed");
    expect(fenceDeclared(TargetSchema.parse({ name: "cart", allowFrom: ["cart-*"] }), { from: "cart-v1" })).toBeUndefined();
  });
});

describe("allowFrom patterns", () => {
  it("match whole names only; `*` is any run of name characters", () => {
    expect(allowsFrom(["shop-*"], "shop-v2")).toBe(true);
    expect(allowsFrom(["shop-*"], "shop-")).toBe(true);
    expect(allowsFrom(["shop-*"], "myshop-v2")).toBe(false);
    expect(allowsFrom(["*-blue"], "shop-blue")).toBe(true);
    expect(allowsFrom(["shop"], "shop-v2")).toBe(false);
    expect(allowsFrom(undefined, "shop")).toBe(false);
  });

  it("are checked by the schema: names and `*` only, never empty", () => {
    expect(TargetSchema.safeParse({ name: "x", allowFrom: ["a.b"] }).success).toBe(false);
    expect(TargetSchema.safeParse({ name: "x", allowFrom: ["(.*)"] }).success).toBe(false);
    expect(TargetSchema.safeParse({ name: "x", allowFrom: [] }).success).toBe(false);
    expect(TargetSchema.safeParse({ name: "x", policy: { namespaces: ["shop"] } }).success).toBe(false);
  });
});

describe("fenceAdhoc", () => {
  it("keeps an ad-hoc target in the policy's namespaces (no namespace is `default`); no list: anywhere", () => {
    expect(fenceAdhoc({ name: "cart", namespace: "shop" }, ["shop"])).toBeUndefined();
    expect(fenceAdhoc({ name: "dns", namespace: "kube-system" }, ["shop"])).toEqual({
      code: "namespace-not-allowed",
      target: "dns",
      namespace: "kube-system",
      namespaces: ["shop"],
    });
    expect(fenceAdhoc({ name: "cart" }, ["shop"])?.code).toBe("namespace-not-allowed");
    expect(fenceAdhoc({ name: "dns", namespace: "kube-system" }, undefined)).toBeUndefined();
  });
});

describe("closed by default", () => {
  const req = { userId: "U1", channelId: "C1", target: "evil", reachesFull: false };
  it("refuses start and finish to everyone, lets stopping and advancing through, until any policy is written", () => {
    const closed = effectivePolicy(undefined, {}, { closed: true });
    expect(authorize(closed, { ...req, action: "start" }, () => false)).toEqual({
      ok: false,
      error: { code: "denied", why: "closed", key: "start", target: "evil" },
    });
    expect(authorize(closed, { ...req, action: "finish" }, () => false)).toMatchObject({ ok: false, error: { why: "closed", key: "finish" } });
    expect(authorize(closed, { ...req, action: "abort" }, () => false).ok).toBe(true);
    expect(authorize(closed, { ...req, action: "advance" }, () => false).ok).toBe(true);
    const opened = effectivePolicy(PolicySchema.parse({ start: ["*"] }), {}, { closed: true });
    expect(opened.closed).toBeUndefined();
    expect(authorize(opened, { ...req, action: "start" }, () => false).ok).toBe(true);
  });
});

import { describe, expect, it } from "vitest";
import { tokenize } from "../../commands/args.ts";
import { parseStart, resolveTarget } from "../../commands/start.ts";
import { PolicySchema } from "../../src/engine/policy.ts";
import { parseSteps as parseStepsData } from "../../src/engine/plan.ts";
import { saidSteps } from "../support/said.ts";

const parseSteps = (text: string) => saidSteps(parseStepsData(text));
import { TargetSchema } from "../../src/engine/target.ts";

const err = (text: string) => {
  const r = parseStart(tokenize(text));
  if (r.ok) throw new Error(`expected an error for ${text}`);
  return r.error;
};

describe("/rollout start grammar", () => {
  it("reads the seed command", () => {
    const r = parseStart(tokenize("backend-svc --from backend-v1 --to backend-v2 --steps 10,80,100 --namespace default"));
    expect(r).toEqual({ ok: true, value: { target: "backend-svc", from: "backend-v1", to: "backend-v2", steps: [10, 80, 100], namespace: "default" } });
  });

  it("accepts --flag=value and the dashes Slack clients substitute for --", () => {
    const r = parseStart(tokenize("world \u2014to=world-v2 \u2013steps 10,100"));
    expect(r).toEqual({ ok: true, value: { target: "world", to: "world-v2", steps: [10, 100] } });
  });

  it.each([
    ["backend-svc", "`--to <version>` is required"],
    ["Backend_svc --to v2", "target `Backend_svc` is not a valid Kubernetes name"],
    ["backend-svc --to backend_v2", "--to `backend_v2` is not a valid Kubernetes name"],
    ["backend-svc --to v2 --from v2", "`--from` and `--to` are both `v2`"],
    ["backend-svc --to v2 --steps 10,5,100", "strictly increasing: `10` then `5`"],
    ["backend-svc --to v2 --steps 10,50", "the last step must be `100`"],
    ["backend-svc --to v2 --steps 0,100", "step `0` is not a whole number from 1 to 100"],
    ["backend-svc --to v2 --steps 10,abc,100", "step `abc` is not a whole number"],
    ["backend-svc --to v2 --steps 10,150", "step `150` is not a whole number from 1 to 100"],
    ["backend-svc --to v2 --colour blue", "unknown flag `--colour`"],
    ["backend-svc --to", "flag `--to` needs a value"],
    ["backend-svc --to v2 --to v3", "flag `--to` is given twice"],
    ["backend-svc extra --to v2", "unexpected `extra`"],
    ["backend-svc --to v2 --router linkerd", "--router `linkerd` is not one of smi, namerd, gateway"],
  ])("%s -> %s", (text, message) => {
    expect(err(text)).toContain(message);
  });
});

describe("steps", () => {
  it("parses with spaces and rejects empties", () => {
    expect(parseSteps("10, 50 ,100")).toEqual({ ok: true, steps: [10, 50, 100] });
    expect(parseSteps("10,,100")).toEqual({ ok: false, error: "step `(empty)` is not a whole number from 1 to 100" });
    expect(parseSteps("100")).toEqual({ ok: true, steps: [100] });
  });
});

describe("target resolution", () => {
  const declared = TargetSchema.parse({
    name: "backend-svc",
    namespace: "shop",
    stable: "backend-v1",
    smi: { trafficSplit: "backend-ts" },
    steps: [10, 80, 100],
  });
  const catalog = { adhoc: false, targets: new Map([["backend-svc", declared]]) };

  it("uses the declared target as declared, and refuses a flag that would move it (the fence)", () => {
    const r = resolveTarget(catalog, { target: "backend-svc", to: "backend-v2" });
    expect(r.ok && r.value).toMatchObject({ name: "backend-svc", namespace: "shop", stable: "backend-v1", smi: { trafficSplit: "backend-ts" } });
    expect(resolveTarget(catalog, { target: "backend-svc", to: "backend-v2", namespace: "other" })).toEqual({
      ok: false,
      error: expect.stringContaining("`--namespace` cannot be used with `backend-svc`: it is declared in the targets file"),
    });
    expect(resolveTarget(catalog, { target: "backend-svc", to: "backend-v2", from: "payments-db" })).toEqual({
      ok: false,
      error: expect.stringContaining("`--from payments-db` is not allowed for `backend-svc`"),
    });
    // Repeating the declared stable is no override.
    expect(resolveTarget(catalog, { target: "backend-svc", to: "backend-v2", from: "backend-v1" }).ok).toBe(true);
  });

  it("lets --from name a version the target's allowFrom lists or matches", () => {
    const open = TargetSchema.parse({ name: "shop", stable: "shop-v1", allowFrom: ["shop-blue", "shop-rc*"] });
    const cat = { adhoc: false, targets: new Map([["shop", open]]) };
    expect(resolveTarget(cat, { target: "shop", to: "shop-v2", from: "shop-blue" }).ok).toBe(true);
    expect(resolveTarget(cat, { target: "shop", to: "shop-v2", from: "shop-rc7" }).ok).toBe(true);
    expect(resolveTarget(cat, { target: "shop", to: "shop-v2", from: "payments-db" })).toEqual({
      ok: false,
      error: expect.stringContaining("or a version its `allowFrom` lets through (`shop-blue`, `shop-rc*`)"),
    });
  });

  it("keeps ad-hoc targets inside the policy's namespaces", () => {
    const cat = { adhoc: true, targets: new Map(), policy: PolicySchema.parse({ namespaces: ["shop"] }) };
    expect(resolveTarget(cat, { target: "cart", to: "cart-v2", namespace: "shop" }).ok).toBe(true);
    expect(resolveTarget(cat, { target: "dns", to: "evil", namespace: "kube-system" })).toEqual({
      ok: false,
      error: "ad-hoc rollouts may not touch namespace `kube-system`: the policy allows `shop`. Nothing was changed.",
    });
    // No --namespace is `default`, which the list does not name either.
    expect(resolveTarget(cat, { target: "cart", to: "cart-v2" }).ok).toBe(false);
  });

  it("refuses an undeclared target when ad-hoc targets are off, listing the known ones", () => {
    expect(resolveTarget(catalog, { target: "payments", to: "v2" })).toEqual({
      ok: false,
      error: "unknown target `payments`: known targets are `backend-svc`",
    });
  });

  it("assembles an ad-hoc target from flags when allowed", () => {
    const r = resolveTarget({ adhoc: true, targets: new Map() }, { target: "cart", to: "cart-v2", namespace: "shop" });
    expect(r.ok && r.value).toMatchObject({ name: "cart", namespace: "shop", router: "smi" });
  });

  it("refuses a namerd ad-hoc target without its namerd settings", () => {
    const r = resolveTarget({ adhoc: true, targets: new Map() }, { target: "world", to: "world-v2", router: "namerd" });
    expect(r).toEqual({ ok: false, error: expect.stringContaining("needs a `namerd:` block") });
  });
});

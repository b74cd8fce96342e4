import { describe, expect, it } from "vitest";
import { judgePreflight, judgeReadiness, preflightPlan, selectedBy, type DeploymentFacts } from "../../src/engine/preflight.ts";
import { GatewaySettingsSchema } from "../../src/engine/target.ts";
import { describePreflightProblem } from "../../src/slack/views/preflight-text.ts";

const gw = (settings: object) => GatewaySettingsSchema.parse(settings);
const ready = (name: string, over: Partial<DeploymentFacts> = {}): DeploymentFacts => ({
  name,
  replicas: 3,
  generation: 2,
  observedGeneration: 2,
  availableReplicas: 3,
  podLabels: { app: name },
  ...over,
});

describe("preflight plan", () => {
  const pair = { stable: "cart-v1", canary: "cart-v2" };
  it("SMI checks the apex (smi.apexService, else the target name), stable and canary Services", () => {
    expect(preflightPlan({ name: "cart", namespace: "shop", router: "smi" }, pair)!.services.map((s) => `${s.role}:${s.name}`)).toEqual([
      "apex:cart",
      "stable:cart-v1",
      "canary:cart-v2",
    ]);
    expect(preflightPlan({ name: "cart", namespace: "shop", router: "smi", smi: { apexService: "web" } }, pair)!.services[0]).toEqual({
      role: "apex",
      name: "web",
    });
  });
  it("Gateway checks the Services its router writes: the `service` template or explicit names, in the route's namespace", () => {
    const versions = { stable: "v1", canary: "v2" };
    const templated = preflightPlan(
      { name: "web", namespace: "apps", router: "gateway", gateway: gw({ namespace: "routes", service: "web-{version}" }) },
      versions,
    );
    expect(templated).toEqual({
      namespace: "routes",
      services: [
        { role: "stable", name: "web-v1" },
        { role: "canary", name: "web-v2" },
      ],
      canary: { name: "web-v2", selectorFrom: "web-v2" },
    });
    const fixed = preflightPlan({ name: "pay", namespace: "shop", router: "gateway", gateway: gw({ stableService: "pay-a", canaryService: "pay-b" }) }, pair)!;
    expect(fixed.services.map((s) => s.name)).toEqual(["pay-a", "pay-b"]);
    expect(fixed.canary).toEqual({ name: "cart-v2", selectorFrom: "pay-b" });
  });
  it("namerd checks only the canary's Deployment, by name, when the target names a namespace; else nothing", () => {
    expect(preflightPlan({ name: "world", namespace: "web", router: "namerd" }, pair)).toEqual({ namespace: "web", services: [], canary: { name: "cart-v2" } });
    expect(preflightPlan({ name: "world", router: "namerd" }, pair)).toBeUndefined();
  });
  it("SMI and Gateway targets without a namespace are in `default`", () => {
    expect(preflightPlan({ name: "cart", router: "smi" }, pair)!.namespace).toBe("default");
    expect(preflightPlan({ name: "web", router: "gateway", gateway: gw({}) }, pair)!.namespace).toBe("default");
  });
});

describe("readiness", () => {
  it.each([
    [ready("cart-v2"), undefined],
    [ready("cart-v2", { replicas: 0, availableReplicas: 0 }), "`cart-v2`: scaled to 0 replicas"],
    [ready("cart-v2", { availableReplicas: 0 }), "`cart-v2`: 0 of 3 replicas available"],
    [ready("cart-v2", { generation: 3 }), "`cart-v2`: its latest change (generation 3) is not rolled out yet (observed generation 2)"],
    // More available than desired (a scale-down in progress) is ready.
    [ready("cart-v2", { availableReplicas: 5 }), undefined],
  ])("%o -> %s", (d, words) => {
    const p = judgeReadiness(d, "shop");
    expect(p ? describePreflightProblem(p) : undefined).toBe(words);
  });

  it("lists every problem: missing Services first, then the Deployment", () => {
    const plan = preflightPlan({ name: "cart", namespace: "shop", router: "smi" }, { stable: "cart-v1", canary: "cart-v2" })!;
    const problems = judgePreflight({ plan, services: new Map([["cart", { name: "cart" }]]), canary: { via: "name", deployments: [] } });
    expect(problems.map((p) => `${p.code}:${p.name}`)).toEqual(["service-missing:cart-v1", "service-missing:cart-v2", "deployment-missing:cart-v2"]);
  });

  it("a selector picks Deployments by their pods' labels; an empty selector picks none", () => {
    const all = [ready("a", { podLabels: { app: "cart", track: "canary" } }), ready("b", { podLabels: { app: "cart" } })];
    expect(selectedBy(all, { app: "cart", track: "canary" }).map((d) => d.name)).toEqual(["a"]);
    expect(selectedBy(all, { app: "cart" }).map((d) => d.name)).toEqual(["a", "b"]);
    expect(selectedBy(all, {})).toEqual([]);
  });
});

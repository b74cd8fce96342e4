import { describe, expect, it } from "vitest";
import { percentOnSplit } from "../support/split.ts";
import { useSandbox } from "../support/sandbox.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 12: the sandbox page's API against the real bot (no browser): what the page is told, that bad
 * input gets a specific error and changes nothing, and that Reset puts the seed back everywhere.
 */

const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
const sandbox = useSandbox();
const { get, post } = sandbox;
const world = () => sandbox.world();
const split = () => percentOnSplit(world().kube.get("trafficsplits", "default", "backend-svc")?.spec, "backend-v2");
const euSplit = () => percentOnSplit(world().kubeOf("prod-eu").get("trafficsplits", "default", "backend-svc")?.spec, "backend-v2");

describe("the sandbox's API", () => {
  it("starts with the seed: six panels in two clusters (the wave's payments in each), the mesh on stable, the namerctl dtab, the l5d-dtab test request and the HTTPRoute's rules", async () => {
    const s = await get(`/api/state?user=${ALICE}`);
    expect(s.me).toBe(ALICE);
    expect(s.messages).toEqual([]);
    expect(s.targets.map((t) => [t.key, t.cluster, t.mesh.kind])).toEqual([
      ["backend-svc", undefined, "split"],
      ["world", undefined, "dtab"],
      ["web", undefined, "route"],
      ["backend-svc@prod-eu", "prod-eu", "split"],
      ["payments", undefined, "split"],
      ["payments@prod-eu", "prod-eu", "split"],
    ]);
    // Each cluster, how the bot reaches it and the shares of the targets living there.
    const stable = (v1: string, v2: string) => [
      { version: v1, percent: 100 },
      { version: v2, percent: 0 },
    ];
    expect(s.clusters).toEqual([
      {
        label: "own cluster",
        reach: "the bot's own kubeconfig (KUBECONFIG); for the wave also as `staging`, through the same file (its `clusters:` entry)",
        metricsSource: world().metricsSource,
        targets: [
          { key: "backend-svc", weights: stable("backend-v1", "backend-v2") },
          { key: "world", weights: stable("world-v1", "world-v2") },
          { key: "web", weights: stable("web-v1", "web-v2") },
          { key: "payments", weights: stable("payments-v1", "payments-v2") },
        ],
      },
      {
        name: "prod-eu",
        label: "cluster prod-eu",
        reach: `kubeconfig file ${world().kubeOf("prod-eu").kubeconfigPath} (its \`clusters:\` entry)`,
        metricsSource: expect.stringMatching(/^linkerd1 admin \(http:\/\/127\.0\.0\.1:\d+\)$/),
        targets: [
          { key: "backend-svc@prod-eu", weights: stable("backend-v1", "backend-v2") },
          { key: "payments@prod-eu", weights: stable("payments-v1", "payments-v2") },
        ],
      },
    ]);
    expect(s.clusters[1]!.metricsSource).not.toBe(s.clusters[0]!.metricsSource);
    // prod-eu is declared as a remote cluster is, through the kubeconfig file its peer wrote.
    expect(world().targets.clusters?.get("prod-eu")).toMatchObject({ kubeconfig: world().kubeOf("prod-eu").kubeconfigPath });
    expect(world().kubeOf("prod-eu").get("deployments", "default", "backend-v2")?.status).toMatchObject({ readyReplicas: 2 });
    expect(s.targets[2]!.mesh).toEqual({
      kind: "route",
      weights: [
        { version: "web-v1", percent: 100 },
        { version: "web-v2", percent: 0 },
      ],
      route: "shop/web",
      rules: [
        { label: "rule static", text: "/static → static-files 1", split: false, test: false },
        { label: "rule api", text: "/api → web-v1 100", split: true, test: false },
      ],
      parents: "Service shop/web (port 80) accepted",
    });
    const world1 = s.targets[1]!.mesh;
    expect(world1.kind === "dtab" && world1.namerctl).toMatch(/^# version \S+\n[\s\S]*\/host\/world\s+=> \/srv\/world-v1 ;$/);
    expect(world1.kind === "dtab" && world1.testRequest).toBe("curl -H 'l5d-dtab: /host/world => /srv/world-v2' http://linkerd.sandbox.local:4140/");
    expect(world().kube.get("deployments", "default", "backend-v2")?.status).toMatchObject({ readyReplicas: 2 });
    expect(world().kube.get("services", "web", "world-v2")).toBeDefined();
  });

  it("answers bad input with a specific error and changes nothing", async () => {
    const before = world().slack.calls.length;
    expect(await post("/api/command", { user: "UNOBODY", text: "list" })).toEqual({ status: 400, body: { error: "user is not one of the sandbox's people" } });
    expect(await post("/api/command", { user: ALICE, text: "list", extra: 1 })).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining("extra") },
    });
    expect(await post("/api/traffic", { target: "backend-svc", errorRate: 3 })).toEqual({
      status: 400,
      body: { error: "error rate must be a number from 0 to 1" },
    });
    expect(await post("/api/click", { user: ALICE, ts: "1.000001", blockId: "b", actionId: "a" })).toEqual({
      status: 404,
      body: { error: "that message is gone" },
    });
    // Views: one that is not open for the person, a pick Slack would not send, values the form does not have.
    expect(await post("/api/view/submit", { user: ALICE, viewId: "V00000999", values: {} })).toEqual({ status: 404, body: { error: "that view is closed" } });
    expect(await post("/api/view/click", { user: ALICE, viewId: "not-a-view", blockId: "b", actionId: "a" })).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining("viewId is not a view id") },
    });
    expect(await post("/api/home", { user: ALICE, tab: "messages" })).toMatchObject({ status: 400, body: { error: expect.stringContaining("tab") } });
    expect(world().traffic.view("backend-svc")!.canaryControls.errorRate).toBe(0);
    expect(world().slack.calls.length).toBe(before);
    expect(world().slack.ephemeralsFor(ALICE)).toEqual([]);
  });

  it("shows each person only their own ephemeral replies", async () => {
    expect(await post("/api/command", { user: BOB, text: "/rollout list" })).toEqual({ status: 200, body: { ok: true } });
    await waitFor(async () => ((await get(`/api/state?user=${BOB}`)).ephemerals.length === 1 ? true : undefined), { what: "Bob's reply" });
    expect((await get(`/api/state?user=${ALICE}`)).ephemerals).toEqual([]);
  });

  it("the start form opens for the person who typed /rollout only; a pick Slack would not send and unknown fields are refused", async () => {
    const callsBefore = world().slack.calls.length;
    expect(await post("/api/command", { user: BOB, text: "" })).toEqual({ status: 200, body: { ok: true } });
    const form = await waitFor(async () => (await get(`/api/state?user=${BOB}`)).modal, { what: "Bob's start form" });
    expect(form.title).toMatchObject({ text: "Start a rollout" });
    expect((await get(`/api/state?user=${ALICE}`)).modal).toBeUndefined();
    const sent = world().slack.calls.length;
    expect(await post("/api/view/pick", { user: BOB, viewId: form.id, blockId: "steps", value: "10", values: {} })).toEqual({
      status: 400,
      body: { error: "the form has no select steps" },
    });
    expect(await post("/api/view/submit", { user: BOB, viewId: form.id, values: { nope: { x: { type: "plain_text_input", value: "1" } } } })).toEqual({
      status: 400,
      body: { error: "the form has no field nope" },
    });
    expect(await post("/api/view/submit", { user: ALICE, viewId: form.id, values: {} })).toEqual({ status: 404, body: { error: "that view is closed" } });
    expect(world().slack.calls.length).toBe(sent);
    expect(await post("/api/view/close", { user: BOB, viewId: form.id })).toEqual({ status: 200, body: { ok: true } });
    expect((await get(`/api/state?user=${BOB}`)).modal).toBeUndefined();
    expect(
      world()
        .slack.calls.slice(callsBefore)
        .map((c) => c.method),
    ).toContain("views.open");
  });

  it("an HTTPRoute rollout shifts only the split rule; the panel shows the rules and the bot's test rule", async () => {
    const rules = () =>
      (world().kube.get("httproutes", "shop", "web")!.spec as { rules: { name?: string; backendRefs: { name: string; weight?: number }[] }[] }).rules;
    const staticBefore = structuredClone(rules()[0]);
    expect(await post("/api/command", { user: ALICE, text: "start web --to web-v2" })).toEqual({ status: 200, body: { ok: true } });
    const panel = await waitFor(
      async () => {
        const t = (await get(`/api/state?user=${ALICE}`)).targets.find((x) => x.name === "web")!;
        return t.mesh.kind === "route" && t.mesh.rules.some((r) => r.test) ? t.mesh : undefined;
      },
      { what: "the test rule on the route" },
    );
    expect(panel.rules.find((r) => r.test)?.text).toBe("/api + x-rollout: web-v2 → web-v2 1");
    const msg = await waitFor(async () => (await get(`/api/state?user=${ALICE}`)).messages.find((m) => m.text.includes("web#1")), { what: "web's message" });
    const start = world()
      .slack.buttons("C0DEPLOYS", msg.ts)
      .find((b) => /Start shifting/.test(b.text))!;
    expect(await post("/api/click", { user: ALICE, ts: msg.ts, blockId: start.block_id, actionId: start.action_id })).toEqual({
      status: 200,
      body: { ok: true },
    });
    await waitFor(
      () =>
        rules()
          .find((r) => r.name === "api")
          ?.backendRefs.map((b) => `${b.name} ${b.weight}`)
          .join(" / ") === "web-v1 90 / web-v2 10"
          ? true
          : undefined,
      {
        what: "web at 10%",
      },
    );
    expect(rules()[0]).toEqual(staticBefore);
    await waitFor(() => (Math.abs((world().traffic.view("web")!.shares["web-v2"] ?? 0) - 0.1) < 1e-9 ? true : undefined), { what: "traffic split 90/10" });
  }, 30_000);

  it("Reset stops the rollouts' world in both clusters: empty channel, seed weights, no records", async () => {
    await post("/api/command", { user: ALICE, text: "start backend-svc --to backend-v2" });
    await post("/api/command", { user: ALICE, text: "start backend-svc@prod-eu --to backend-v2" });
    await waitFor(() => (split() === 10 && euSplit() === 10 ? true : undefined), { what: "the first step in both clusters" });
    expect(await world().bot().store.get("backend-svc#1")).toBeDefined();
    expect(await world().bot().store.get("backend-svc@prod-eu#1")).toBeDefined();
    expect(await post("/api/reset", {})).toEqual({ status: 200, body: { ok: true } });
    const s = await get(`/api/state?user=${ALICE}`);
    expect([s.messages, s.ephemerals]).toEqual([[], []]);
    expect([split(), euSplit()]).toEqual([0, 0]);
    expect(world().kubeOf("prod-eu").requests).toEqual([]);
    expect(await world().bot().store.get("backend-svc#1")).toBeUndefined();
    expect(await world().bot().store.get("backend-svc@prod-eu#1")).toBeUndefined();
    // The fresh bot numbers rollouts from 1 again and drives the mesh as before.
    await post("/api/command", { user: ALICE, text: "start backend-svc --to backend-v2" });
    await waitFor(() => (split() === 10 ? true : undefined), { what: "the first step after the reset" });
    const r = await waitFor(
      async () => {
        const x = await world().bot().store.get("backend-svc#1");
        return x?.status === "active" && x.appliedPercent === 10 ? x : undefined;
      },
      { what: "the new rollout's record at 10%" },
    );
    expect(r.startedBy).toBe(ALICE);
  }, 30_000);
});

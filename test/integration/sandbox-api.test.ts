import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandboxServer, type SandboxServer } from "../../src/sandbox/server.ts";
import type { PageState } from "../../src/sandbox/views/state.ts";
import { randomSandboxPrefix, startWorld, type World } from "../../src/sandbox/world.ts";
import { percentOnSplit } from "../support/split.ts";
import { REDIS_URL } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 12: the sandbox page's API against the real bot (no browser): what the page is told, that bad
 * input gets a specific error and changes nothing, and that Reset puts the seed back everywhere.
 */

const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
let world: World;
let server: SandboxServer;

beforeAll(async () => {
  world = await startWorld({
    redisUrl: REDIS_URL,
    keyPrefix: randomSandboxPrefix(),
    tickMs: 200,
    historyLength: 50,
    timing: { windowSeconds: 5, refreshSeconds: 5, autoNotice: "2s" },
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
  });
  server = await startSandboxServer(world, { port: 0 });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await world?.close();
});

const get = async (path: string) => (await fetch(new URL(path, server.url))).json() as Promise<PageState>;
const post = async (path: string, body: unknown) => {
  const res = await fetch(new URL(path, server.url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { ok?: true; error?: string } };
};
const split = () => percentOnSplit(world.kube.get("trafficsplits", "default", "backend-svc")?.spec, "backend-v2");

describe("the sandbox's API", () => {
  it("starts with the seed: two targets, the mesh on stable, the namerctl dtab and the l5d-dtab test request", async () => {
    const s = await get(`/api/state?user=${ALICE}`);
    expect(s.me).toBe(ALICE);
    expect(s.messages).toEqual([]);
    expect(s.targets.map((t) => [t.name, t.mesh.kind])).toEqual([
      ["backend-svc", "split"],
      ["world", "dtab"],
    ]);
    const world1 = s.targets[1]!.mesh;
    expect(world1.kind === "dtab" && world1.namerctl).toMatch(/^# version \S+\n[\s\S]*\/host\/world\s+=> \/srv\/world-v1 ;$/);
    expect(world1.kind === "dtab" && world1.testRequest).toBe("curl -H 'l5d-dtab: /host/world => /srv/world-v2' http://linkerd.sandbox.local:4140/");
    expect(world.kube.get("deployments", "default", "backend-v2")?.status).toMatchObject({ readyReplicas: 2 });
    expect(world.kube.get("services", "web", "world-v2")).toBeDefined();
  });

  it("answers bad input with a specific error and changes nothing", async () => {
    const before = world.slack.calls.length;
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
    expect(world.traffic.view("backend-svc")!.canaryControls.errorRate).toBe(0);
    expect(world.slack.calls.length).toBe(before);
    expect(world.slack.ephemeralsFor(ALICE)).toEqual([]);
  });

  it("shows each person only their own ephemeral replies", async () => {
    expect(await post("/api/command", { user: BOB, text: "/rollout list" })).toEqual({ status: 200, body: { ok: true } });
    await waitFor(async () => ((await get(`/api/state?user=${BOB}`)).ephemerals.length === 1 ? true : undefined), { what: "Bob's reply" });
    expect((await get(`/api/state?user=${ALICE}`)).ephemerals).toEqual([]);
  });

  it("Reset stops the rollouts' world: empty channel, seed weights, no records", async () => {
    await post("/api/command", { user: ALICE, text: "start backend-svc --to backend-v2" });
    await waitFor(() => (split() === 10 ? true : undefined), { what: "the first step" });
    expect(await world.bot().store.get("backend-svc#1")).toBeDefined();
    expect(await post("/api/reset", {})).toEqual({ status: 200, body: { ok: true } });
    const s = await get(`/api/state?user=${ALICE}`);
    expect([s.messages, s.ephemerals]).toEqual([[], []]);
    expect(split()).toBe(0);
    expect(await world.bot().store.get("backend-svc#1")).toBeUndefined();
    // The fresh bot numbers rollouts from 1 again and drives the mesh as before.
    await post("/api/command", { user: ALICE, text: "start backend-svc --to backend-v2" });
    await waitFor(() => (split() === 10 ? true : undefined), { what: "the first step after the reset" });
    const r = await waitFor(
      async () => {
        const x = await world.bot().store.get("backend-svc#1");
        return x?.status === "active" && x.appliedPercent === 10 ? x : undefined;
      },
      { what: "the new rollout's record at 10%" },
    );
    expect(r.startedBy).toBe(ALICE);
  }, 30_000);
});

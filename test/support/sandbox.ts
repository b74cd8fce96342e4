import { pino } from "pino";
import { afterAll, beforeAll } from "vitest";
import { startSandboxServer, type SandboxServer } from "../../sandbox/server.ts";
import { SANDBOX_CHANNEL } from "../../sandbox/seed.ts";
import type { PageState } from "../../sandbox/views/state.ts";
import { randomSandboxPrefix, startWorld, type World } from "../../sandbox/world.ts";
import { REDIS_URL } from "./redis.ts";
import { waitFor } from "./wait.ts";

export type PageAnswer = { status: number; body: { ok?: true; error?: string; said?: string } };

/**
 * One sandbox (its world and the page's server) for a test file: started before its tests with short
 * timings, closed after them; the page's API reached over HTTP as the page reaches it.
 */
export function useSandbox() {
  let world: World | undefined;
  let server: SandboxServer | undefined;
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

  const started = <T>(x: T | undefined): T => {
    if (!x) throw new Error("the sandbox has not started");
    return x;
  };
  const url = (path: string) => new URL(path, started(server).url);
  const get = async (path: string) => (await fetch(url(path))).json() as Promise<PageState>;
  const post = async (path: string, body: unknown): Promise<PageAnswer> => {
    const res = await fetch(url(path), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as PageAnswer["body"] };
  };
  return {
    world: () => started(world),
    get,
    post,
    /** The channel message of rollout `id` once it contains `contains`, as `user`'s page shows it. */
    message: (user: string, id: string, contains: string) =>
      waitFor(
        async () =>
          (await get(`/api/state?user=${user}`)).messages.find(
            (m) => JSON.stringify(m.blocks).includes(`(${id})`) && JSON.stringify(m.blocks).includes(contains),
          ),
        { what: `${id}'s message with ${contains}`, timeoutMs: 30_000 },
      ),
    /** `user` clicks the button labelled `label` on the channel message `ts`, through the page. */
    click: async (user: string, ts: string, label: string) => {
      const b = started(world)
        .slack.buttons(SANDBOX_CHANNEL.id, ts)
        .find((x) => x.text === label);
      if (!b) throw new Error(`no button "${label}" on message ${ts}`);
      return post("/api/click", { user, ts, blockId: b.block_id, actionId: b.action_id });
    },
  };
}

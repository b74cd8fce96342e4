import { describe, expect, it } from "vitest";
import { parseEnv } from "../../src/config.ts";
import { Keys } from "../../src/store/keys.ts";
import { parseRedisUrl } from "../../src/store/redis-connection.ts";
import { redactUrl } from "../../src/store/redis-watch.ts";

/** REDIS_URL: one Redis as before, or a Redis Cluster in the redis+cluster:// form (issue 13). */

const BASE = { SLACK_SIGNING_SECRET: "s", SLACK_BOT_TOKEN: "xoxb-1" };
const problems = (url: string) => {
  const env = parseEnv({ ...BASE, REDIS_URL: url });
  return env.ok ? [] : env.error;
};

describe("REDIS_URL", () => {
  it("takes a single Redis as it always did, the URL handed over untouched", () => {
    for (const url of ["redis://127.0.0.1:6379", "rediss://user:p%40ss@redis.example.com:6380/2"]) {
      expect(problems(url)).toEqual([]);
      expect(parseRedisUrl(url)).toEqual({ ok: true, value: { kind: "single", url } });
    }
    const env = parseEnv(BASE);
    expect(env.ok && env.value.REDIS_URL).toBe("redis://127.0.0.1:6379");
  });

  it("names a Redis Cluster by its seed nodes, with the password (percent-decoded) and TLS of rediss+cluster", () => {
    expect(problems("redis+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2:7001,redis-2.redis")).toEqual([]);
    expect(parseRedisUrl("redis+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2:7001,redis-2.redis")).toEqual({
      ok: true,
      value: {
        kind: "cluster",
        nodes: [
          { host: "10.0.0.1", port: 7000 },
          { host: "10.0.0.2", port: 7001 },
          { host: "redis-2.redis", port: 6379 },
        ],
        password: "s@cret",
        tls: false,
      },
    });
    expect(parseRedisUrl("rediss+cluster://bot:pw@[::1]:7000/0")).toEqual({
      ok: true,
      value: { kind: "cluster", nodes: [{ host: "::1", port: 7000 }], username: "bot", password: "pw", tls: true },
    });
    expect(parseRedisUrl("redis+cluster://h1:7000/")).toEqual({ ok: true, value: { kind: "cluster", nodes: [{ host: "h1", port: 7000 }], tls: false } });
  });

  it("refuses anything else with what is wrong, and does not start", () => {
    expect(problems("localhost:6379")).toEqual(["REDIS_URL must be a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL"]);
    expect(problems("redis-cluster://h1:7000")).toEqual(["REDIS_URL must be a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL"]);
    expect(problems("redis+cluster://")).toEqual(["REDIS_URL names no cluster node: give redis+cluster://host:port[,host:port...]"]);
    expect(problems("redis+cluster://:pw@")).toEqual(["REDIS_URL names no cluster node: give redis+cluster://host:port[,host:port...]"]);
    expect(problems("redis+cluster://h1:7000/3")).toEqual(["REDIS_URL names database 3, but a Redis Cluster has only database 0"]);
    expect(problems("redis+cluster://h1:7000,h2:70000")).toEqual(["REDIS_URL has a cluster node 'h2:70000' that is not host:port"]);
    expect(problems("redis+cluster://h1:7000,,h2:7001")).toEqual(["REDIS_URL has a cluster node '' that is not host:port"]);
    expect(problems("redis+cluster://h1:7000:1")).toEqual(["REDIS_URL has a cluster node 'h1:7000:1' that is not host:port"]);
    expect(problems("redis+cluster://h1:7000?tls=true")).toEqual(["REDIS_URL takes no ?options or #fragment in the redis+cluster:// form"]);
    expect(problems("redis+cluster://:%E0%A4%A@h1:7000")).toEqual(["REDIS_URL has a user or password that is not percent-encoded properly"]);
  });

  it("is logged without its password, in either form", () => {
    expect(redactUrl("redis+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2:7001")).toBe("redis+cluster://:***@10.0.0.1:7000,10.0.0.2:7001");
    expect(redactUrl("rediss+cluster://bot:pw@h1:7000")).toBe("rediss+cluster://bot:***@h1:7000");
    expect(redactUrl("redis+cluster://h1:7000,h2:7000")).toBe("redis+cluster://h1:7000,h2:7000");
    expect(redactUrl("rediss://user:pw@h1:6380")).toBe("rediss://user:***@h1:6380");
  });
});

describe("key layout", () => {
  it("on one Redis is what it was (an upgraded deployment finds its records and queued jobs)", () => {
    const k = new Keys("rollout-bot");
    expect([k.record("web", 3), k.active("web"), k.index(), k.activeIndex(), k.globalAudit(), k.bullPrefix()]).toEqual([
      "rollout-bot:{web}:r:3",
      "rollout-bot:{web}:active",
      "rollout-bot:index",
      "rollout-bot:active",
      "rollout-bot:audit",
      "rollout-bot:bull",
    ]);
  });

  it("on a cluster differs only in BullMQ's prefix, which takes a hash tag of its own", () => {
    const k = new Keys("rollout-bot", true);
    expect([k.record("web", 3), k.active("web"), k.index(), k.activeIndex(), k.globalAudit(), k.bullPrefix()]).toEqual([
      "rollout-bot:{web}:r:3",
      "rollout-bot:{web}:active",
      "rollout-bot:index",
      "rollout-bot:active",
      "rollout-bot:audit",
      "{rollout-bot:bull}",
    ]);
  });
});

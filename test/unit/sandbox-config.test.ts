import { mkdtemp, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { onPath, parseSandboxEnv } from "../../sandbox/config.ts";

describe("the sandbox's settings", () => {
  it("defaults to local Redis, port 3000, loopback, and no Prometheus when none is on PATH", () => {
    const r = parseSandboxEnv({ PATH: "" });
    expect(r).toMatchObject({ ok: true, value: { redisUrl: "redis://127.0.0.1:6379", port: 3000, host: "127.0.0.1", logLevel: "warn" } });
    expect(r.ok ? r.value.prometheusBinary : "not ok").toBeUndefined();
  });

  it("finds prometheus on PATH, unless told not to use it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sandbox-path-"));
    await writeFile(join(dir, "prometheus"), "#!/bin/sh\n");
    await chmod(join(dir, "prometheus"), 0o755);
    expect(onPath("prometheus", `/nonexistent:${dir}`)).toBe(join(dir, "prometheus"));
    expect(parseSandboxEnv({ PATH: dir })).toMatchObject({ ok: true, value: { prometheusBinary: join(dir, "prometheus") } });
    const off = parseSandboxEnv({ PATH: dir, SANDBOX_PROMETHEUS: "off" });
    expect(off.ok ? off.value.prometheusBinary : "not ok").toBeUndefined();
  });

  it("names each bad setting", () => {
    const r = parseSandboxEnv({ REDIS_URL: "localhost:6379", PORT: "http" });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toEqual([expect.stringMatching(/^REDIS_URL must be a redis:\/\//), expect.stringMatching(/^PORT /)]);
  });
});

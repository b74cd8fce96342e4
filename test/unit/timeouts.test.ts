import { describe, expect, it } from "vitest";
import { parseEnv, timeoutMsFromEnv } from "../../src/config.ts";

/** The per-request deadlines of the Kubernetes, namerd and Slack clients (ROLLOUT_*_TIMEOUT_SECONDS). */

const BASE = { SLACK_SIGNING_SECRET: "s", SLACK_BOT_TOKEN: "xoxb-1" };

describe("timeout settings", () => {
  it("default to 10 s (Kubernetes, Slack) and 5 s (namerd)", () => {
    expect(timeoutMsFromEnv("ROLLOUT_KUBE_TIMEOUT_SECONDS", {})).toBe(10_000);
    expect(timeoutMsFromEnv("ROLLOUT_NAMERD_TIMEOUT_SECONDS", {})).toBe(5_000);
    expect(timeoutMsFromEnv("ROLLOUT_SLACK_TIMEOUT_SECONDS", {})).toBe(10_000);
    const env = parseEnv(BASE);
    expect(env.ok && [env.value.ROLLOUT_KUBE_TIMEOUT_SECONDS, env.value.ROLLOUT_NAMERD_TIMEOUT_SECONDS, env.value.ROLLOUT_SLACK_TIMEOUT_SECONDS]).toEqual([
      10, 5, 10,
    ]);
  });

  it("take seconds, fractions included", () => {
    expect(timeoutMsFromEnv("ROLLOUT_KUBE_TIMEOUT_SECONDS", { ROLLOUT_KUBE_TIMEOUT_SECONDS: "2.5" })).toBe(2_500);
    expect(timeoutMsFromEnv("ROLLOUT_NAMERD_TIMEOUT_SECONDS", { ROLLOUT_NAMERD_TIMEOUT_SECONDS: "30" })).toBe(30_000);
  });

  it("refuse to start on 0, negative, non-numbers or more than 300 s (and read as the default meanwhile)", () => {
    for (const bad of ["0", "-1", "ten", "301", ""]) {
      const env = parseEnv({ ...BASE, ROLLOUT_KUBE_TIMEOUT_SECONDS: bad });
      expect(env.ok, `ROLLOUT_KUBE_TIMEOUT_SECONDS=${JSON.stringify(bad)}`).toBe(false);
      if (!env.ok) expect(env.error.join("\n")).toMatch(/^ROLLOUT_KUBE_TIMEOUT_SECONDS /m);
      expect(timeoutMsFromEnv("ROLLOUT_KUBE_TIMEOUT_SECONDS", { ROLLOUT_KUBE_TIMEOUT_SECONDS: bad })).toBe(10_000);
    }
  });
});

import { afterAll, beforeAll, expect, it } from "vitest";
import { CHANNEL, startHarness, type Harness } from "../support/bot-harness.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Issue 20, item 5: nothing a person types mints a metric series. The probe of the report: 150 unknown
 * subcommands grew `rollout_bot_transitions_total` from 14 to 164 series. Now every one is counted under
 * `action="unknown"`, and forged buttons under their known action or `unknown` too.
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const series = async () => {
  const text = await (await fetch(`${h.bot.healthUrl}/metrics`)).text();
  return text.split("\n").filter((l) => l.startsWith("rollout_bot_transitions_total{"));
};

it("150 unknown subcommands add one series (action=unknown), counted 150 times", async () => {
  await h.driver.slash({ userId: "UALICE", channelId: CHANNEL, text: "help" });
  await waitFor(async () => ((await series()).length > 0 ? true : undefined), { what: "the first transition counted" });
  const before = await series();
  for (let i = 0; i < 150; i += 15) {
    await Promise.all(
      Array.from({ length: 15 }, (_, j) =>
        h.driver.slash({ userId: "UMALLORY", channelId: CHANNEL, text: `x${i + j}-${Math.random().toString(36).slice(2)} now` }),
      ),
    );
  }
  const unknown = await waitFor(
    async () => (await series()).find((l) => l.startsWith('rollout_bot_transitions_total{action="unknown",outcome="refused"} 150')),
    { what: "150 unknown subcommands counted" },
  );
  expect(unknown).toBeDefined();
  const after = await series();
  expect(after.length).toBe(before.length + 1);
  expect(after.filter((l) => !/action="(unknown|command:help)"/.test(l))).toEqual([]);
  // The audit trail still says what was typed.
  expect((await h.bot.audit.recent(1))[0]?.detail).toMatch(/^\/rollout x\d+-/);
});

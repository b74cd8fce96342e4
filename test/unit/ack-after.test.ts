import { describe, expect, it } from "vitest";
import { ackAfter } from "../../src/slack/listeners/ack.ts";
import { sleep } from "../support/wait.ts";

/** What Slack receives from one request's ack: how often, and with which body. */
function recorder() {
  const acks: (string | undefined)[] = [];
  return { acks, ack: async (body?: string) => void acks.push(body) };
}

describe("ackAfter", () => {
  it("the work's ack carries its body when it comes first, and is the only ack", async () => {
    const r = recorder();
    let carried: boolean | undefined;
    await ackAfter(r.ack, async (ack) => {
      carried = await ack("the reply");
      expect(await ack("again")).toBe(false);
    });
    expect(carried).toBe(true);
    expect(r.acks).toEqual(["the reply"]);
  });

  it("a decision slower than the safety ack: Slack got an empty ack, and the work is told its body did not go", async () => {
    const r = recorder();
    let carried: boolean | undefined;
    await ackAfter(
      r.ack,
      async (ack) => {
        await sleep(80);
        expect(r.acks).toEqual([undefined]);
        carried = await ack("the reply");
      },
      20,
    );
    expect(carried).toBe(false);
    expect(r.acks).toEqual([undefined]);
  });

  it("work that never acks is acked once it is done, before the safety time if sooner", async () => {
    const r = recorder();
    await ackAfter(r.ack, async () => expect(r.acks).toEqual([]), 1_000);
    expect(r.acks).toEqual([undefined]);
  });
});

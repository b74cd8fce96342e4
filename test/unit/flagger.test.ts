import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadFlaggerTokens, parseTargetsFile } from "../../src/config.ts";
import { flaggerCall, flaggerDecide, newFlaggerRollout } from "../../src/engine/flagger.ts";
import { TargetSchema } from "../../src/engine/target.ts";

/** Flagger gating, pure: how calls are folded and answered, and the target's settings. */

const target = TargetSchema.parse({ name: "shop", namespace: "prod", router: "flagger", flagger: { channel: "C0DEPLOYS", tokenEnv: "T" } });
const base = () => newFlaggerRollout({ id: "shop#1", target, channel: "C0DEPLOYS", checksum: "abc", phase: "Succeeded", now: 1 });
const gate = (hook: "confirm-rollout" | "confirm-promotion" | "rollback", phase: string) => ({ hook, name: "shop", namespace: "prod", phase, checksum: "abc" });
const alice = { kind: "user", id: "UALICE" } as const;

describe("Flagger gate calls and decisions", () => {
  it("the first call's phase is the previous revision's: Succeeded there does not complete the new one", () => {
    const { rollout, answer } = flaggerCall(base(), gate("confirm-rollout", "Succeeded"), 2);
    expect(answer).toEqual({ open: false, why: "waiting" });
    expect(rollout.status).toBe("active");
    expect(rollout.flagger!.waiting).toBe("confirm-rollout");
  });

  it("a repeated call returns the same record (nothing to write) and the same answer", () => {
    const first = flaggerCall(base(), gate("confirm-rollout", "Waiting"), 2).rollout;
    const again = flaggerCall(first, gate("confirm-rollout", "Waiting"), 3);
    expect(again.rollout).toBe(first);
    expect(again.answer.open).toBe(false);
  });

  it("Approve is for the gate the button was shown for; a click on a gate Flagger has left is refused", () => {
    const waiting = flaggerCall(base(), gate("confirm-rollout", "Waiting"), 2).rollout;
    const moved = flaggerDecide("advance", waiting, alice, 2, 3);
    expect(moved).toMatchObject({ ok: false, error: { code: "flagger-gate-moved", seen: "confirm-promotion", now: "confirm-rollout" } });
    const approved = flaggerDecide("advance", waiting, alice, 0, 3);
    expect(approved.ok && flaggerCall(approved.value, gate("confirm-rollout", "Waiting"), 4).answer).toEqual({ open: true, why: "approved" });
  });

  it("Roll back: the rollback gate answers yes and the record ends, broadcast", () => {
    const waiting = flaggerCall(base(), gate("confirm-rollout", "Waiting"), 2).rollout;
    const asked = flaggerDecide("abort", waiting, alice, undefined, 3);
    if (!asked.ok) throw new Error("refused");
    expect(flaggerCall(asked.value, gate("confirm-rollout", "Waiting"), 4).answer).toEqual({ open: false, why: "rollback-requested" });
    const { rollout, answer } = flaggerCall(asked.value, gate("rollback", "Waiting"), 4);
    expect(answer).toEqual({ open: true, why: "rolling-back" });
    expect(rollout.status).toBe("aborted");
    expect(rollout.events.at(-1)).toMatchObject({ kind: "alert", note: { code: "flagger-failed", mention: { user: "UALICE" } } });
  });
});

describe("Flagger target settings and tokens", () => {
  it("needs a flagger block and exactly one token source", () => {
    const file = (flagger: string) => parseTargetsFile(`targets:\n  - name: shop\n    router: flagger\n${flagger}`);
    expect(file("")).toMatchObject({ ok: false });
    expect(JSON.stringify(file("    flagger: { channel: C0DEPLOYS }"))).toContain("exactly one of `tokenFile` or `tokenEnv`");
    expect(file("    flagger: { channel: C0DEPLOYS, tokenEnv: FLAGGER_SHOP }")).toMatchObject({ ok: true });
  });

  it("reads the token from its file or variable, and refuses a missing or short one naming the target", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flagger-token-"));
    writeFileSync(join(dir, "t"), "0123456789abcdef0123\n");
    const parsed = parseTargetsFile(
      `targets:\n  - name: a\n    router: flagger\n    flagger: { channel: C0DEPLOYS, tokenFile: ${join(dir, "t")} }\n  - name: b\n    router: flagger\n    flagger: { channel: C0DEPLOYS, tokenEnv: B_TOKEN }\n`,
    );
    if (!parsed.ok) throw new Error(parsed.error.join());
    const good = await loadFlaggerTokens(parsed.value, { B_TOKEN: "fedcba9876543210fedcba" });
    expect(good.ok && [...good.value.entries()]).toEqual([
      ["a", "0123456789abcdef0123"],
      ["b", "fedcba9876543210fedcba"],
    ]);
    const bad = await loadFlaggerTokens(parsed.value, { B_TOKEN: "short" });
    expect(bad).toEqual({ ok: false, error: [expect.stringContaining("target 'b'")] });
  });
});

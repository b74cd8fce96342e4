import { describe, expect, it } from "vitest";
import {
  abort,
  advance,
  finish,
  hold,
  markAborted,
  markApplied,
  markCompleted,
  markStarted,
  newRollout,
  parseRolloutId,
  resume,
  type Rollout,
} from "../../src/engine/rollout.ts";
import { TargetSchema } from "../../src/engine/target.ts";
import { said } from "../support/said.ts";

const target = TargetSchema.parse({ name: "backend-svc", smi: { trafficSplit: "backend-ts" } });
const alice = { kind: "user" as const, id: "UALICE" };
const bob = { kind: "user" as const, id: "UBOB" };

function live(steps = [10, 80, 100]): Rollout {
  const r = newRollout({
    id: "backend-svc#1",
    target,
    stable: "backend-v1",
    canary: "backend-v2",
    steps,
    startedBy: "UALICE",
    channel: "C1",
    testStage: false,
    now: 1,
  });
  return markStarted(r, { percent: steps[0]!, raw: "backend-v1 90 / backend-v2 10", initialRaw: "(none)" }, 2);
}

function ok(r: ReturnType<typeof advance>): Rollout {
  if (!r.ok) throw new Error(said(r).ok ? "" : (said(r) as { reason: string }).reason);
  return r.value;
}

describe("rollout transitions", () => {
  it("walks 10 -> 80 -> 100 -> completed, each step waiting for the mesh to be verified", () => {
    let r = live();
    expect(r.status).toBe("active");
    r = ok(advance(r, alice, 0, 3));
    expect(r.desiredPercent).toBe(80);
    expect(said(advance(r, alice, 1, 4))).toEqual({ ok: false, reason: expect.stringContaining("still applying 80%") });
    r = markApplied(r, 80, "backend-v1 20 / backend-v2 80", 5);
    r = ok(advance(r, bob, 1, 6));
    r = markApplied(r, 100, "backend-v1 0 / backend-v2 100", 7);
    expect(said(advance(r, bob, 2, 8))).toEqual({ ok: false, reason: expect.stringContaining("last step: use Finish") });
    r = ok(finish(r, bob, 9));
    expect(r.status).toBe("finishing");
    r = markCompleted(r, "backend-v1 0 / backend-v2 100", 10);
    expect(r.status).toBe("completed");
    expect(r.events.map((e) => e.kind)).toEqual(["started", "advanced", "applied", "advanced", "applied", "finish-requested", "completed"]);
  });

  it("tells a late clicker who advanced first", () => {
    const r = ok(advance(live(), alice, 0, 3));
    const late = advance(r, bob, 0, 4);
    expect(said(late)).toEqual({ ok: false, reason: "Already advanced to 80% by <@UALICE>." });
  });

  it("refuses to finish before 100%", () => {
    expect(said(finish(live(), alice, 3))).toEqual({ ok: false, reason: expect.stringContaining("only at 100%") });
  });

  it("aborts from any live state, once, and remembers who", () => {
    let r = ok(advance(live(), alice, 0, 3));
    r = ok(abort(r, bob, 4));
    expect(r.status).toBe("aborting");
    expect(r.desiredPercent).toBe(0);
    expect(said(abort(r, alice, 5))).toEqual({ ok: false, reason: expect.stringContaining("already being aborted by <@UBOB>") });
    expect(advance(r, alice, 1, 5).ok).toBe(false);
    r = markAborted(r, "backend-v1 100 / backend-v2 0", 6);
    expect(r.status).toBe("aborted");
    expect(said(abort(r, alice, 7))).toEqual({ ok: false, reason: expect.stringContaining("was aborted by <@UBOB>") });
  });

  it("holds and resumes; a held rollout does not advance", () => {
    let r = ok(hold(live(), alice, 3));
    expect(said(advance(r, alice, 0, 4))).toEqual({ ok: false, reason: expect.stringContaining("held") });
    r = ok(resume(r, bob, 5));
    expect(ok(advance(r, alice, 0, 6)).desiredPercent).toBe(80);
  });

  it("ignores a late verification for a percent that is no longer desired", () => {
    let r = ok(advance(live(), alice, 0, 3));
    r = ok(abort(r, bob, 4));
    const after = markApplied(r, 80, "raw", 5);
    expect(after.appliedPercent).toBe(10);
  });

  it("parses rollout ids and refuses look-alikes", () => {
    expect(parseRolloutId("backend-svc#12")).toEqual({ target: "backend-svc", seq: 12 });
    for (const bad of ["backend-svc", "#1", "Backend#1", "a#b", "a#1#2", "a -b#1"]) expect(parseRolloutId(bad)).toBeUndefined();
  });
});

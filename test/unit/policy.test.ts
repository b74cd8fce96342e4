import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseTargetsFile } from "../../src/config.ts";
import {
  authorize as authorizeData,
  effectivePolicy,
  groupsToResolve,
  PolicySchema,
  type AuthRequest,
  type Membership,
  type Policy,
  type PolicyAction,
} from "../../src/engine/policy.ts";
import { describeRule } from "../../src/slack/views/refusal.ts";
import { said } from "../support/said.ts";

/** The policy's decision as the person is told it (the engine returns codes; the view words them). */
const authorize = (...args: Parameters<typeof authorizeData>) => said(authorizeData(...args));

const T = "backend-svc";
const nobodyInGroups: Membership = () => false;
const groups =
  (memberOf: Record<string, string[]>, user: string): Membership =>
  (g) =>
    (memberOf[g] ?? []).includes(user);

function req(action: PolicyAction, userId: string, extra: Partial<AuthRequest> = {}): AuthRequest {
  return { action, userId, channelId: "C0DEPLOYS", target: T, reachesFull: false, startedBy: "UALICE", ...extra };
}

const policy = (p: Policy, target: { policy?: Policy; channels?: string[] } = {}) => effectivePolicy(PolicySchema.parse(p), target);

describe("policy defaults", () => {
  it("without a policy anyone may do anything, anywhere", () => {
    const p = effectivePolicy(undefined);
    expect(p.channels).toBeUndefined();
    for (const action of ["start", "advance", "finish", "abort", "hold", "resume"] as const) {
      expect(authorize(p, req(action, "UANYONE", { channelId: "CRANDOM", reachesFull: true }), nobodyInGroups)).toEqual({ ok: true });
    }
  });

  it("abort and hold stay open to anyone in an allowed channel when only the others are restricted", () => {
    const p = policy({ channels: ["C0DEPLOYS"], start: ["UALICE"], advance: ["@sre"], finish: ["@sre"] });
    expect(authorize(p, req("abort", "UMALLORY"), nobodyInGroups)).toEqual({ ok: true });
    expect(authorize(p, req("hold", "UMALLORY"), nobodyInGroups)).toEqual({ ok: true });
    const elsewhere = authorize(p, req("abort", "UMALLORY", { channelId: "C0OTHER" }), nobodyInGroups);
    expect(elsewhere).toEqual({ ok: false, reason: expect.stringContaining("only in <#C0DEPLOYS>") });
  });

  it("a target's own keys override the file default key by key; channels fall back to the target's `channels`", () => {
    const file: Policy = { channels: ["C0FILE"], start: ["UALICE"], finish: ["@release"], requireSecondApprover: true };
    const p = effectivePolicy(file, { policy: { finish: ["UBOB"] }, channels: ["C0TARGET"] });
    expect(p.channels).toEqual(["C0TARGET"]);
    expect(p.rules.start).toEqual({ anyone: false, users: ["UALICE"], groups: [] });
    expect(p.rules.finish).toEqual({ anyone: false, users: ["UBOB"], groups: [] });
    expect(p.rules.advance).toEqual({ anyone: true });
    expect(p.requireSecondApprover).toBe(true);
    expect(effectivePolicy(file, { policy: { channels: ["C0OWN"], requireSecondApprover: false }, channels: ["C0TARGET"] })).toMatchObject({
      channels: ["C0OWN"],
      requireSecondApprover: false,
    });
    expect(effectivePolicy(file, {}).channels).toEqual(["C0FILE"]);
  });

  it('"*" means anyone', () => {
    expect(policy({ advance: ["*", "UALICE"] }).rules.advance).toEqual({ anyone: true });
  });
});

describe("who may", () => {
  const p = policy({ start: ["UALICE", "@deployers"], advance: ["@deployers"], finish: ["@release"], abort: ["@sre", "UCAROL"] });
  const memberOf = { deployers: ["UDAN"], release: ["UREL"], sre: ["USRE"] };

  it.each([
    ["start", "UALICE", false, true],
    ["start", "UDAN", false, true],
    ["start", "UMALLORY", false, false],
    ["advance", "UDAN", false, true],
    ["advance", "UREL", false, false],
    // the advance that reaches 100% is the final step: finish's rule
    ["advance", "UDAN", true, false],
    ["advance", "UREL", true, true],
    ["finish", "UREL", true, true],
    ["finish", "UDAN", true, false],
    ["resume", "UDAN", false, true],
    ["resume", "USRE", false, false],
    ["abort", "USRE", false, true],
    ["abort", "UCAROL", false, true],
    ["hold", "USRE", false, true],
    ["abort", "UDAN", false, false],
    ["hold", "UDAN", false, false],
  ] as const)("%s by %s (reaches 100%%: %s) -> %s", (action, user, reachesFull, allowed) => {
    const d = authorize(p, req(action, user, { reachesFull }), groups(memberOf, user));
    expect(d.ok).toBe(allowed);
  });

  it("a refusal says who may, and that nothing changed", () => {
    const d = authorize(p, req("advance", "UMALLORY", { reachesFull: true }), nobodyInGroups);
    expect(d).toEqual({
      ok: false,
      reason: "You may not do that: Only members of @release may take rollouts of `backend-svc` to 100% or finish them. Nothing was changed.",
    });
    const s = authorize(p, req("start", "UMALLORY"), nobodyInGroups);
    expect(s.ok === false && s.reason).toContain("Only <@UALICE> or members of @deployers may start rollouts of `backend-svc`");
  });

  it("a start whose first step is 100% needs the right to finish too", () => {
    expect(authorize(p, req("start", "UALICE", { reachesFull: true }), nobodyInGroups).ok).toBe(false);
    const both = policy({ start: ["UALICE"], finish: ["UALICE"] });
    expect(authorize(both, req("start", "UALICE", { reachesFull: true }), nobodyInGroups).ok).toBe(true);
  });

  it("asks only for the groups the decision can depend on", () => {
    expect(groupsToResolve(p, "advance")).toEqual(["deployers", "release"]);
    expect(groupsToResolve(p, "abort")).toEqual(["sre"]);
    expect(groupsToResolve(p, "hold")).toEqual(["sre"]);
    expect(groupsToResolve(p, "resume")).toEqual(["deployers"]);
    expect(groupsToResolve(effectivePolicy(undefined), "finish")).toEqual([]);
  });

  it("describes rules for people", () => {
    expect(describeRule({ anyone: true })).toBe("anyone");
    expect(describeRule({ anyone: false, users: ["U1"], groups: [] })).toBe("<@U1>");
    expect(describeRule({ anyone: false, users: ["U1", "U2"], groups: ["sre"] })).toBe("<@U1>, <@U2> or members of @sre");
  });
});

describe("requireSecondApprover", () => {
  const p = policy({ requireSecondApprover: true });

  it("the starter cannot take the final step; anyone else can; earlier steps are the starter's too", () => {
    const starter = authorize(p, req("advance", "UALICE", { reachesFull: true }), nobodyInGroups);
    expect(starter).toEqual({ ok: false, reason: expect.stringContaining("you started this rollout, so someone else must take it to 100% or finish it") });
    expect(authorize(p, req("finish", "UALICE"), nobodyInGroups).ok).toBe(false);
    expect(authorize(p, req("advance", "UBOB", { reachesFull: true }), nobodyInGroups).ok).toBe(true);
    expect(authorize(p, req("finish", "UBOB"), nobodyInGroups).ok).toBe(true);
    expect(authorize(p, req("advance", "UALICE"), nobodyInGroups).ok).toBe(true);
    expect(authorize(p, req("abort", "UALICE"), nobodyInGroups).ok).toBe(true);
  });

  it("refuses a plan that starts at 100%", () => {
    const d = authorize(p, req("start", "UALICE", { reachesFull: true, startedBy: undefined }), nobodyInGroups);
    expect(d).toEqual({ ok: false, reason: expect.stringContaining("cannot start at 100%") });
  });
});

describe("the bot's final step, for whoever turned automatic steps on", () => {
  const p = policy({ channels: ["C0DEPLOYS"], advance: ["@deployers"], finish: ["@release"] });
  const onBehalf = (userId: string, extra: Partial<AuthRequest> = {}) =>
    req("advance", userId, { channelId: undefined, reachesFull: true, onBehalf: true, ...extra });

  it("needs that person's right to finish, but not a channel (it was checked when they turned automatic steps on)", () => {
    expect(authorize(p, onBehalf("UREL"), groups({ release: ["UREL"] }, "UREL"))).toEqual({ ok: true });
    const refused = authorize(p, onBehalf("UDAN"), groups({ deployers: ["UDAN"] }, "UDAN"));
    expect(refused).toEqual({
      ok: false,
      reason:
        "<@UDAN>, who turned automatic steps on, may not take it to 100%: Only members of @release may take rollouts of `backend-svc` to 100% or finish them",
    });
  });

  it("is refused when membership cannot be checked, and says so", () => {
    const d = authorize(p, onBehalf("UREL"), () => "unknown");
    expect(d.ok).toBe(false);
    expect(!d.ok && d.reason).toContain("membership of @release could not be checked right now");
    expect(!d.ok && d.unknown).toBe(true); // asking again may change it: the bot waits rather than gives up
  });

  it("under requireSecondApprover, is refused when the starter turned automatic steps on, allowed for anyone else", () => {
    const second = policy({ requireSecondApprover: true });
    const d = authorize(second, onBehalf("UALICE", { startedBy: "UALICE" }), nobodyInGroups);
    expect(d.ok).toBe(false);
    expect(!d.ok && d.reason).toContain(
      "requires a second approver for the final step, and automatic steps were turned on by the person who started the rollout (<@UALICE>)",
    );
    expect(authorize(second, onBehalf("UBOB", { startedBy: "UALICE" }), nobodyInGroups)).toEqual({ ok: true });
  });
});

describe("when Slack cannot say who is in a group", () => {
  const p = policy({ advance: ["@deployers"], abort: ["@sre"] });
  const unknown: Membership = () => "unknown";

  it("stopping goes through, with a note for the audit trail", () => {
    expect(authorize(p, req("abort", "UANY"), unknown)).toEqual({ ok: true, note: expect.stringContaining("@sre could not be checked") });
    expect(authorize(p, req("hold", "UANY"), unknown).ok).toBe(true);
  });

  it("anything else is refused, saying why", () => {
    const d = authorize(p, req("advance", "UANY"), unknown);
    expect(d).toEqual({ ok: false, reason: expect.stringContaining("could not check membership of @deployers right now"), unknown: true });
  });
});

describe("policy schema", () => {
  it.each([
    [{ start: ["alice"] }, "`alice` is not a Slack user ID (U0123ABCD), a user-group handle (@sre)"],
    [{ abort: [] }, "an empty list would let nobody abort"],
    [{ finsh: ["UALICE"] }, "finsh"],
    [{ channels: ["#deploys"] }, "must be a Slack channel ID like C0123DEPLOYS"],
  ])("%j is refused", (input, message) => {
    const r = PolicySchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain(message);
  });

  it("lower-cases handles", () => {
    expect(PolicySchema.parse({ advance: ["@SRE-Oncall"] }).advance).toEqual(["@sre-oncall"]);
  });

  it("reads a file-level default and per-target policies from the targets file", () => {
    const r = parseTargetsFile(`
policy:
  channels: [C0DEPLOYS]
  start: ["@deployers", UALICE]
  finish: ["@release"]
targets:
  - name: backend-svc
    policy:
      requireSecondApprover: true
  - name: payments
`);
    if (!r.ok) throw new Error(r.error.join("\n"));
    expect(r.value.policy).toEqual({ channels: ["C0DEPLOYS"], start: ["@deployers", "UALICE"], finish: ["@release"] });
    expect(r.value.targets.get("backend-svc")?.policy).toEqual({ requireSecondApprover: true });
    const bad = parseTargetsFile("targets:\n  - name: web\n    policy:\n      advance: [bob]\n");
    expect(bad.ok === false && bad.error.join()).toContain("targets[0].policy.advance[0]");
  });
});

describe("properties", () => {
  const user = fc.constantFrom("UALICE", "UBOB", "UCAROL", "UDAN");
  const principal = fc.oneof(user, fc.constantFrom("@sre", "@deployers", "*"));
  const list = fc.option(fc.array(principal, { minLength: 1, maxLength: 3 }), { nil: undefined });
  const policyArb = fc.record(
    {
      channels: fc.option(fc.constantFrom(["C0DEPLOYS"], ["C0DEPLOYS", "C0OTHER"], ["C0OTHER"]), { nil: undefined }),
      start: list,
      advance: list,
      finish: list,
      abort: list,
      requireSecondApprover: fc.option(fc.boolean(), { nil: undefined }),
    },
    { requiredKeys: [] },
  );
  const request = fc.record({
    action: fc.constantFrom<PolicyAction>("start", "advance", "finish", "abort", "hold", "resume"),
    userId: user,
    channelId: fc.constantFrom("C0DEPLOYS", "C0OTHER", undefined),
    reachesFull: fc.boolean(),
    startedBy: user,
  });
  const membership = fc.func(fc.constantFrom<boolean | "unknown">(true, false, "unknown"));

  it("every refusal says nothing changed; with no abort rule, abort is refused only for the channel", () => {
    fc.assert(
      fc.property(policyArb, request, membership, (raw, r, member) => {
        const p = effectivePolicy(PolicySchema.parse(raw));
        const d = authorize(p, { ...r, target: T }, (g) => member(g));
        if (!d.ok) expect(d.reason).toMatch(/Nothing was changed\.$/);
        if ((r.action === "abort" || r.action === "hold") && !raw.abort) {
          const inChannel = !p.channels || (r.channelId !== undefined && p.channels.includes(r.channelId));
          expect(d.ok).toBe(inChannel);
        }
      }),
      { numRuns: 20_000 },
    );
  });

  it("naming a person never takes a right away (outside the second-approver rule)", () => {
    fc.assert(
      fc.property(policyArb, request, membership, (raw, r, member) => {
        const before = effectivePolicy(PolicySchema.parse({ ...raw, requireSecondApprover: false }));
        const withUser = PolicySchema.parse({
          ...raw,
          requireSecondApprover: false,
          ...Object.fromEntries((["start", "advance", "finish", "abort"] as const).map((k) => [k, raw[k] ? [...raw[k]!, r.userId] : undefined])),
        });
        const after = effectivePolicy(withUser);
        const a = authorize(before, { ...r, target: T }, (g) => member(g));
        const b = authorize(after, { ...r, target: T }, (g) => member(g));
        if (a.ok) expect(b.ok).toBe(true);
        if (!b.ok) expect(b.reason).toContain("only in"); // only the channel can still refuse
      }),
    );
  });
});

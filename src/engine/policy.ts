import { z } from "zod";
import { err, ok, type Result } from "./result.ts";

/**
 * Who may do what to a target's rollouts, and where. Pure: the targets file declares a policy (file-level
 * defaults, overridden key by key per target); `authorize` decides one request given the caller's group
 * memberships, which the caller resolved beforehand (Slack user groups are I/O, so they live outside).
 *
 * Defaults when nothing is said: anyone may do anything, in any channel. Abort (and Hold, which follows
 * Abort's rule) stays open to anyone in an allowed channel unless the policy names who may: stopping must
 * be easy. An outage of the group lookup never blocks stopping either.
 */

/** A Slack user ID (U…/W…), a user-group handle (@sre), or `*` for anyone. */
const PRINCIPAL = /^(\*|[UW][A-Z0-9]{2,}|@[a-z0-9][a-z0-9._-]{0,79})$/;
const CHANNEL_ID = /^[CGD][A-Z0-9]{2,}$/;

export const PrincipalSchema = z
  .string()
  .trim()
  .transform((s) => (s.startsWith("@") ? s.toLowerCase() : s))
  .refine((s) => PRINCIPAL.test(s), {
    error: (issue) => `\`${String(issue.input)}\` is not a Slack user ID (U0123ABCD), a user-group handle (@sre) or "*" (anyone)`,
  });

function principalList(action: string) {
  return z.array(PrincipalSchema).min(1, `an empty list would let nobody ${action}: leave \`${action}\` out to let anyone, or name who may`);
}

export const PolicySchema = z.strictObject({
  /** Slack channel IDs where the target's rollouts may be driven (absent: anywhere). */
  channels: z.array(z.string().regex(CHANNEL_ID, "must be a Slack channel ID like C0123DEPLOYS (not #name)")).min(1).optional(),
  start: principalList("start").optional(),
  /** Advance to any step below 100%, and Resume. */
  advance: principalList("advance").optional(),
  /** The final step: the advance that reaches 100%, and Finish. */
  finish: principalList("finish").optional(),
  /** Abort, and Hold. Absent: anyone in an allowed channel. */
  abort: principalList("abort").optional(),
  /** The final step must be taken by someone other than the person who started the rollout. */
  requireSecondApprover: z.boolean().optional(),
  /**
   * File level only: the Kubernetes namespaces ad-hoc targets may live in (absent: any). Declared targets
   * are fenced by their own declaration (src/engine/fence.ts).
   */
  namespaces: z
    .array(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a Kubernetes namespace name"))
    .min(1)
    .optional(),
});

export type Policy = z.infer<typeof PolicySchema>;

/** The rules the policy has, one per kind of decision. */
export type RuleKey = "start" | "advance" | "finish" | "abort";
/** What a person asks for. */
export type PolicyAction = "start" | "advance" | "finish" | "abort" | "hold" | "resume";

/** Every decision a person (or the bot) can take about a running rollout. */
export type ActionKind =
  "advance" | "finish" | "abort" | "hold" | "resume" | "auto" | "manual" | "reapply" | "adopt" | "promote" | "retry" | "approve-all" | "pause-flux";

/**
 * Which policy right an action needs (the one place this is said): switching to automatic steps lets the
 * bot advance, so it needs the right to advance; switching back to manual only stops the bot, like Hold.
 * After drift, Re-apply and Adopt both move traffic (ours back over the edit, or theirs made official).
 * Promote (skip to 100% and finish) is a final step: the right to finish, and the second approver.
 * Resume lets the plan go on, and after drift writes the planned weights over the edit as Re-apply does:
 * the right to advance, and where that write reaches 100%, the final step's rules (src/app/decide.ts).
 */
export const RIGHT: Readonly<Record<ActionKind, PolicyAction>> = {
  advance: "advance",
  finish: "finish",
  abort: "abort",
  hold: "hold",
  resume: "advance",
  auto: "advance",
  manual: "hold",
  reapply: "advance",
  adopt: "advance",
  // Pause Flux (a GitOps revert by kustomize-controller): Re-apply's write, with Flux paused on the object
  // for the rest of the rollout; the same right as Re-apply, since it is Re-apply made to stick.
  "pause-flux": "advance",
  promote: "finish",
  // Argo Rollouts: Retry after an abort sends the revision through its steps again, like advancing.
  retry: "advance",
  // Flagger: approving every remaining traffic increase at once is each of those advances; where no gate of
  // the bot's stands before promotion after it, it is also the final step (src/engine/flagger.ts).
  "approve-all": "advance",
};

export type Rule = { anyone: true } | { anyone: false; users: string[]; groups: string[] };

export type EffectivePolicy = {
  /** Undefined: any channel. */
  channels?: string[];
  /**
   * Closed by default (production, ad-hoc targets, no `policy` in the targets file): nobody may start or
   * finish until an operator writes a policy. Stopping stays open.
   */
  closed?: true;
  rules: Record<RuleKey, Rule>;
  requireSecondApprover: boolean;
};

const ANYONE: Rule = { anyone: true };
const RULE_KEYS: readonly RuleKey[] = ["start", "advance", "finish", "abort"];

function toRule(list: readonly string[] | undefined): Rule {
  if (!list || list.includes("*")) return ANYONE;
  return { anyone: false, users: list.filter((p) => !p.startsWith("@")), groups: list.filter((p) => p.startsWith("@")).map((p) => p.slice(1)) };
}

/**
 * The policy that governs one target: the target's own keys, else the file-level default's, else anyone.
 * Channels: the target's `policy.channels`, else its older `channels` field, else the file default.
 */
export function effectivePolicy(
  fileDefault: Policy | undefined,
  target: { policy?: Policy | undefined; channels?: string[] | undefined } = {},
  opts: { closed?: boolean } = {},
): EffectivePolicy {
  const own = target.policy ?? {};
  const base = fileDefault ?? {};
  const channels = own.channels ?? (target.channels?.length ? target.channels : undefined) ?? base.channels;
  const rules = Object.fromEntries(RULE_KEYS.map((k) => [k, toRule(own[k] ?? base[k])])) as Record<RuleKey, Rule>;
  // Closed only while nothing was said: any policy entry (the file's or the target's) is the opening up.
  const closed = opts.closed && !fileDefault && !target.policy;
  return {
    ...(channels ? { channels } : {}),
    ...(closed ? { closed: true as const } : {}),
    rules,
    requireSecondApprover: own.requireSecondApprover ?? base.requireSecondApprover ?? false,
  };
}

/**
 * The rules a request may be judged by. An advance may turn out to be the final step (decided against
 * the record at compare-and-set time), so both its rules count; a start straight to 100% is a final step.
 */
export function rulesInvolved(action: PolicyAction): RuleKey[] {
  switch (action) {
    case "start":
      return ["start", "finish"];
    case "advance":
      return ["advance", "finish"];
    case "finish":
      return ["finish"];
    case "abort":
    case "hold":
      return ["abort"];
    case "resume":
      return ["advance"];
  }
}

/** The group handles whose membership must be known to decide `action`. */
export function groupsToResolve(policy: EffectivePolicy, action: PolicyAction): string[] {
  const out = new Set<string>();
  for (const k of rulesInvolved(action)) {
    const rule = policy.rules[k];
    if (!rule.anyone) for (const g of rule.groups) out.add(g);
  }
  return [...out].sort();
}

export type AuthRequest = {
  action: PolicyAction;
  userId: string;
  /** Where the person asked; undefined when Slack did not say (then a channel restriction refuses). */
  channelId: string | undefined;
  target: string;
  /** Whether this request takes the rollout to 100% (the final step). */
  reachesFull: boolean;
  /** Who started the rollout (absent for a start). */
  startedBy?: string;
  /**
   * The bot is about to act for `userId`, who turned automatic steps on: their rights are what count, but
   * not the channel (it was checked when they turned them on), and a refusal is worded about them.
   */
  onBehalf?: boolean;
};

/** Membership of one group: known yes/no, or unknown because the lookup failed. */
export type Membership = (group: string) => boolean | "unknown";

/**
 * Why the policy refuses a request, as data (the words are the views'). `unknown`: refused only because
 * Slack could not say who is in a group (asking again may change it).
 *  - `channel`: not in one of the target's channels;
 *  - `rule`: not among who may (`key`'s rule); `channels` is repeated in the answer when the policy has them;
 *    `unresolved` lists group handles whose membership could not be checked; `onBehalf` when the bot was
 *    about to act for `userId`, who turned automatic steps on;
 *  - `closed`: production without a policy for ad-hoc targets: nobody may start or finish until one is written;
 *  - `start-at-full`: a second approver is required, so a plan cannot start at 100%;
 *  - `second-approver`: the person who started the rollout may not take its final step.
 */
export type PolicyRefusal = { code: "denied"; unknown?: boolean } & (
  | { why: "channel"; key: RuleKey; target: string; channels: string[] }
  | { why: "rule"; key: RuleKey; target: string; rule: Rule; channels?: string[]; unresolved: string[]; onBehalf?: { userId: string } }
  | { why: "start-at-full"; target: string }
  | { why: "closed"; key: RuleKey; target: string }
  | { why: "second-approver"; target: string; rule: Rule; userId: string; onBehalf: boolean }
);

/** Something the person should know about an allowed request: groups that could not be checked (stopping only). */
export type PolicyNote = { code: "unchecked-groups"; groups: string[] };

export type Decision = Result<{ note?: PolicyNote }, PolicyRefusal>;

/** What a person should know about a decision that was taken: groups not checked, or auto steps that will stop before 100%. */
export type DecisionNote = PolicyNote | { code: "auto-stops-before-full"; refusal: PolicyRefusal };

const STOPPING: ReadonlySet<PolicyAction> = new Set(["abort", "hold"]);

/** Decide one request. A refusal says who may do it (and where): data for the person refused. */
export function authorize(policy: EffectivePolicy, req: AuthRequest, member: Membership): Decision {
  const keys: RuleKey[] =
    req.action === "start"
      ? req.reachesFull
        ? ["start", "finish"]
        : ["start"]
      : req.action === "advance"
        ? [req.reachesFull ? "finish" : "advance"]
        : req.action === "finish"
          ? ["finish"]
          : req.action === "resume"
            ? ["advance"]
            : ["abort"];
  const primary = keys.at(-1)!;

  if (policy.channels && !req.onBehalf && (!req.channelId || !policy.channels.includes(req.channelId))) {
    return err({ code: "denied", why: "channel", key: primary, target: req.target, channels: policy.channels });
  }

  const closedKey = policy.closed ? keys.find((k) => k === "start" || k === "finish") : undefined;
  if (closedKey) return err({ code: "denied", why: "closed", key: closedKey, target: req.target });

  const unknown: string[] = [];
  for (const key of keys) {
    const rule = policy.rules[key];
    if (rule.anyone || rule.users.includes(req.userId)) continue;
    const answers = rule.groups.map((g) => [g, member(g)] as const);
    if (answers.some(([, a]) => a === true)) continue;
    const unresolved = answers.filter(([, a]) => a === "unknown").map(([g]) => g);
    if (unresolved.length && STOPPING.has(req.action)) {
      // Stopping is never blocked by a lookup outage: let it through and say why in the audit trail.
      unknown.push(...unresolved);
      continue;
    }
    return err({
      code: "denied",
      why: "rule",
      key,
      target: req.target,
      rule,
      ...(policy.channels && !req.onBehalf ? { channels: policy.channels } : {}),
      unresolved,
      ...(req.onBehalf ? { onBehalf: { userId: req.userId } } : {}),
      ...(unresolved.length ? { unknown: true } : {}),
    });
  }

  // Only moving traffic forward can be "the final step": stopping (abort, hold) must never need a second person.
  const final = req.action === "finish" || ((req.action === "advance" || req.action === "start") && req.reachesFull);
  if (policy.requireSecondApprover && final) {
    if (req.action === "start") return err({ code: "denied", why: "start-at-full", target: req.target });
    if (req.startedBy === req.userId) {
      return err({
        code: "denied",
        why: "second-approver",
        target: req.target,
        rule: policy.rules.finish,
        userId: req.userId,
        onBehalf: Boolean(req.onBehalf),
      });
    }
  }
  return ok(unknown.length ? { note: { code: "unchecked-groups", groups: unknown } } : {});
}

import {
  authorize,
  effectivePolicy,
  groupsToResolve,
  type AuthRequest,
  type Decision,
  type EffectivePolicy,
  type Policy,
  type PolicyAction,
} from "../engine/policy.ts";
import type { Target } from "../engine/target.ts";
import type { GroupMembership } from "../slack/usergroups.ts";

/**
 * Access control for people: the policy of a target (from the targets file as loaded now, so a person
 * removed from a list loses access to rollouts already running) and the caller's group memberships,
 * looked up before the decision so the decision itself stays pure and can be taken inside a
 * compare-and-set against the record as it is then.
 */

export type PolicyCatalog = {
  targets: ReadonlyMap<string, Target>;
  policy?: Policy | undefined;
  /** Production without a policy: nobody may start or finish (src/config.ts closeForProduction). */
  closed?: boolean | undefined;
};

/** Decide against the record as it is at compare-and-set time. */
export type Gate = (req: Pick<AuthRequest, "reachesFull" | "startedBy" | "onBehalf">) => Decision;

export class AccessControl {
  constructor(
    private readonly catalog: PolicyCatalog,
    private readonly groups: GroupMembership,
  ) {}

  policyFor(target: string): EffectivePolicy {
    return effectivePolicy(this.catalog.policy, this.catalog.targets.get(target), { closed: Boolean(this.catalog.closed) });
  }

  /** Resolve what `userId`'s request may depend on, then return a pure gate for it. */
  async prepare(userId: string, action: PolicyAction, target: string, channelId: string | undefined): Promise<Gate> {
    const policy = this.policyFor(target);
    const handles = groupsToResolve(policy, action);
    const answers = handles.length ? await this.groups.membership(userId, handles) : new Map<string, boolean | "unknown">();
    return (req) => authorize(policy, { action, userId, channelId, target, ...req }, (g) => answers.get(g) ?? "unknown");
  }

  /**
   * May the bot take a rollout's final step (to 100%, or Finish) for `userId`, who turned its automatic
   * steps on? Automatic steps carry that person's rights, no more: the `finish` rule and the second approver
   * apply to them exactly as if they clicked.
   */
  async finalStepOnBehalf(userId: string, target: string, startedBy: string): Promise<Decision> {
    const gate = await this.prepare(userId, "advance", target, undefined);
    return gate({ reachesFull: true, startedBy, onBehalf: true });
  }
}

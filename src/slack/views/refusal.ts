import { formatDuration } from "../../engine/duration.ts";
import { waveRefusalText, waveStartRefusalText } from "./wave-text.ts";
import { deployProblemText } from "./deploy-text.ts";
import type { DecisionNote, PolicyRefusal, Rule, RuleKey } from "../../engine/policy.ts";
import type { AutoTooFast, Refusal } from "../../engine/refusal.ts";
import type { Actor } from "../../engine/status.ts";
import type { ArgoAction } from "../../engine/argo-types.ts";
import type { LookupMiss } from "../../app/find.ts";
import type { StartRefusal } from "../../app/start-types.ts";
import type { RateLimited } from "../../app/rate-limits.ts";
import { issueText } from "./problems.ts";
import { echo, escapeMrkdwn, inlineCode } from "./format.ts";

/** Refusals and policy answers in Slack's words (mrkdwn, mentions). Pure. */

/** A person as a mention; the bot with its reason. */
export function describeActor(a: Actor): string {
  return a.kind === "user" ? `<@${a.id}>` : `the bot (${a.why})`;
}

const by = (a: Actor | undefined): string => (a ? ` by ${describeActor(a)}` : "");

/** "automatic steps every 8s are shorter than the evidence for `web` can ever be: ..." */
export function autoTooFastText(r: AutoTooFast): string {
  return (
    `automatic steps every ${formatDuration(r.intervalMs)} are shorter than the evidence for \`${r.target}\` can ever be: ` +
    `with a scrape every ${r.scrapeSeconds} s, a lag of ${r.lagSeconds} s and a reading every ${r.refreshSeconds} s, the first clean reading ` +
    `after a step comes at least ${r.minSeconds} s after it; use an interval of ${formatDuration(r.minSeconds * 1000)} or more`
  );
}

export function refusalText(r: Refusal): string {
  switch (r.code) {
    case "auto-too-fast":
      return autoTooFastText(r);
    case "denied":
      return policyRefusalText(r);
    case "ended":
      return r.status === "completed" ? `Rollout ${r.id} is already completed${by(r.by)}.` : `Rollout ${r.id} was aborted${by(r.by)}.`;
    case "never-started":
      return `Rollout ${r.id} never started: ${r.problem ? escapeMrkdwn(r.problem) : "rejected"}.`;
    case "being-aborted":
      return `Rollout ${r.id} is being aborted${by(r.by)}.`;
    case "already-aborting":
      return `Rollout ${r.id} is already being aborted${by(r.by)}.`;
    case "already-finishing":
      return `Rollout ${r.id} is already finishing${by(r.by)}.`;
    case "already-advanced":
      return `Already advanced to ${r.to}%${by(r.by)}.`;
    case "moved-on":
      return `Rollout ${r.id} is no longer at that step (now at ${r.percent}%).`;
    case "held":
      return `Rollout ${r.id} is held${r.problem ? ` (${escapeMrkdwn(r.problem)})` : ""}: resume it first.`;
    case "starting":
      return `Rollout ${r.id} is still starting: wait for the first step to be applied.`;
    case "in-flight":
      return `Rollout ${r.id} is still applying ${r.percent}%: wait for it to be verified.`;
    case "last-step":
      return `Rollout ${r.id} is at its last step: use Finish.`;
    case "not-at-full":
      return `Rollout ${r.id} is at ${r.percent}%: it can finish only at 100%.`;
    case "no-drift":
      return `Rollout ${r.id} has no drift to resolve.`;
    case "no-split-to-reapply":
      return `The mesh no longer splits ${r.stable}/${r.canary} at all (${inlineCode(r.raw, 300)}): fix it by hand and Resume, or Abort.`;
    case "gitops-revert": {
      const kind = r.owner?.kind === "argocd" ? "Application" : r.owner?.kind === "flux-helmrelease" ? "HelmRelease" : "Kustomization";
      const owner = r.owner?.name ? `${kind} \`${r.owner.name}\`` : `its ${kind}`;
      const pause = r.owner?.kind === "flux-kustomization" ? " Or press Pause Flux for this rollout." : "";
      return `Rollout ${r.id} was put back by \`${r.manager}\` (${owner}): Re-apply would only start a tug of war. Adopt what git says, or Abort; to keep the bot's weights, add the snippet from the thread to ${owner} first, then Adopt and advance again.${pause}`;
    }
    case "not-flux-revert": {
      if (r.ownerKind === "argocd")
        return `Rollout ${r.id} was put back by Argo CD: pausing it would mean editing the Application's sync policy, which the bot does not do. Add the snippet from the thread to the Application, then Adopt and advance again; or Abort.`;
      const who = r.manager ? `\`${r.manager}\`` : "a hand edit";
      return `Rollout ${r.id} is not held on a Flux Kustomization's revert (the mesh was changed by ${who}): only kustomize-controller honours \`kustomize.toolkit.fluxcd.io/reconcile: disabled\`, so there is nothing to pause. Use the buttons on the message.`;
    }
    case "pause-in-wave":
      return `Rollout ${r.id} is a wave: a pause set in ${r.cluster} could not be taken off with certainty when the wave moves on, so the bot does not pause Flux here. Add the snippet from the thread to the Kustomization, then Adopt; or Abort.`;
    case "no-split-to-adopt":
      return `There is no split of ${r.stable}/${r.canary} to adopt.`;
    case "already-held":
      return `Rollout ${r.id} is already held.`;
    case "cannot-hold":
      return `Rollout ${r.id} is ${r.status}: it cannot be held now.`;
    case "not-held":
      return `Rollout ${r.id} is not held (it is ${r.status}).`;
    case "has-ended":
      return `Rollout ${r.id} has ended (${r.status}).`;
    case "already-manual":
      return `Rollout ${r.id} is already manual.`;
    case "needs-interval":
      return "automatic steps need an interval, e.g. `10m`";
    case "no-rollout":
      return `There is no rollout ${r.id}.`;
    case "stage-restarted":
      return "the stage's clock was restarted while the reading was taken";
    case "not-for-controller":
      return `Rollout ${r.id} is run by Argo Rollouts: \`${r.kind}\` does not apply to it (use Promote, Promote fully, Abort, Retry, Pause or Resume).`;
    case "request-pending":
      return `A ${argoActionWord(r.action)} request${by(r.by)} is already on its way to Argo Rollouts for ${r.id}; nothing more was sent.`;
    case "step-passed":
      return `That click was on step ${r.seen + 1} of ${r.total}, but rollout ${r.id} has moved on to ${r.now >= r.total ? "the end of its steps" : `step ${r.now + 1}`}${by(r.by)}; nothing was sent.`;
    case "argo-aborted":
      return `Rollout ${r.id} is aborted: Retry first (nothing was sent).`;
    case "argo-not-aborted":
      return `Rollout ${r.id} is not aborted: there is nothing to retry.`;
    case "flagger-not-waiting":
      return `Flagger is not waiting at a gate for ${r.id}: nothing to approve now (the message shows when it asks).`;
    case "flagger-gate-moved":
      return `That Approve was for \`${r.seen}\`; Flagger now waits at \`${r.now}\` for ${r.id}. Nothing was opened: look at the message again.`;
    case "flagger-already-open":
      if (r.steps === "all") return `Every remaining traffic increase of ${r.id} was already approved${by(r.by)}; Flagger takes them at its next calls.`;
      if (r.steps === "one")
        return `The next traffic increase of ${r.id} was already approved${by(r.by)}; Flagger takes it at its next call and then asks again.`;
      return `\`${r.gate}\` of ${r.id} was already approved${by(r.by)}; Flagger passes it at its next call.`;
    case "flagger-only":
      return `\`${r.kind}\` is for a Flagger Canary's traffic steps; rollout ${r.id} is not one. Nothing was changed.`;
    case "argo-no-step":
      return `Rollout ${r.id} has no step left to promote.`;
    case "at-gate":
      return `${r.id} waits at the gate before ${r.next}: Advance opens it (the new version is already final in the clusters so far); Abort reverts them.`;
    case "wave-cluster-not-declared":
    case "wave-cluster-twice":
    case "wave-too-short":
    case "wave-not-at-gate":
    case "wave-drifted":
    case "wave-bake-held":
    case "wave-baking":
    case "wave-unhealthy":
    case "wave-held-unreachable":
    case "wave-aborting":
    case "wave-not-reverting":
    case "wave-not-reverted":
      return `${capitalize(waveRefusalText(r))}. Nothing was changed.`;
  }
}

/** The plugin command a request is, in words. */
export function argoActionWord(a: ArgoAction): string {
  return a === "promote-full" ? "promote --full" : a;
}

const VERB: Record<RuleKey, string> = {
  start: "start rollouts of",
  advance: "advance rollouts of",
  finish: "take rollouts of {t} to 100% or finish them",
  abort: "abort or hold rollouts of",
};

function verb(key: RuleKey, target: string): string {
  const v = VERB[key];
  return v.includes("{t}") ? v.replace("{t}", `\`${target}\``) : `${v} \`${target}\``;
}

/** "<@U1>, <@U2> or members of @sre" */
export function describeRule(rule: Rule): string {
  if (rule.anyone) return "anyone";
  const parts = [...rule.users.map((u) => `<@${u}>`), ...rule.groups.map((g) => `members of @${g}`)];
  if (parts.length <= 1) return parts[0] ?? "nobody";
  return `${parts.slice(0, -1).join(", ")} or ${parts.at(-1)}`;
}

function channelsText(channels: string[]): string {
  return channels.map((c) => `<#${c}>`).join(", ");
}

/**
 * The policy's answer in words for the person refused. Refusals of the bot's own automatic steps (on behalf
 * of whoever turned them on) have no closing full stop: the bot's messages go on after them.
 */
export function policyRefusalText(r: PolicyRefusal): string {
  switch (r.why) {
    case "channel":
      return `You can ${verb(r.key, r.target)} only in ${channelsText(r.channels)}. Nothing was changed.`;
    case "rule": {
      const who = `Only ${describeRule(r.rule)} may ${verb(r.key, r.target)}${r.channels ? ` (in ${channelsText(r.channels)})` : ""}`;
      const groups = r.unresolved.map((g) => `@${g}`).join(", ");
      if (r.onBehalf) {
        const lookup = r.unresolved.length ? ` (membership of ${groups} could not be checked right now)` : "";
        return `<@${r.onBehalf.userId}>, who turned automatic steps on, may not take it to 100%${lookup}: ${who}`;
      }
      const lookup = r.unresolved.length ? ` I could not check membership of ${groups} right now; try again shortly.` : "";
      return `You may not do that: ${who}.${lookup} Nothing was changed.`;
    }
    case "closed":
      return `Nobody may ${verb(r.key, r.target)} yet: this bot runs in production with ad-hoc targets and no \`policy\` in its targets file, so starting and finishing are closed until an operator writes one (docs/security.md). Nothing was changed.`;
    case "start-at-full":
      return `\`${r.target}\` requires a second approver for the final step, so a plan cannot start at 100%: add a step below 100. Nothing was changed.`;
    case "second-approver": {
      if (r.onBehalf) {
        const others = r.rule.anyone ? "anyone else" : `${describeRule(r.rule)}, other than <@${r.userId}>,`;
        return `\`${r.target}\` requires a second approver for the final step, and automatic steps were turned on by the person who started the rollout (<@${r.userId}>): ${others} may take it to 100%, or turn automatic steps on again to let the bot do it`;
      }
      const who = r.rule.anyone ? "anyone else" : `${describeRule(r.rule)}, other than you,`;
      return `\`${r.target}\` requires a second approver: you started this rollout, so someone else must take it to 100% or finish it (${who} may). Nothing was changed.`;
    }
  }
}

/** What a person should know about a decision that was taken. */
export function decisionNoteText(n: DecisionNote): string {
  if (n.code === "auto-stops-before-full") return `automatic steps will stop before 100%: ${policyRefusalText(n.refusal)}.`;
  return `membership of ${n.groups.map((g) => `@${g}`).join(", ")} could not be checked; stopping is never blocked by that`;
}

/** No rollout answers to what the person typed. */
export function lookupMissText(m: LookupMiss): string {
  return m.code === "no-such-rollout" ? `there is no rollout ${echo(m.ref)}` : `${echo(m.ref)} has no running rollout${m.latest ? " and no past one" : ""}`;
}

/** Automatic steps without a success-rate source: name what turned them on, the flag or the targets file. Pure. */
export function noMetricsForAuto(target: string, byFlag: boolean): string {
  const why = `automatic steps need success-rate metrics, and \`${target}\` has no \`metrics:\` source`;
  return byFlag
    ? `${why}: start it without --auto, or declare its metrics in the targets file`
    : `\`${target}\` has \`auto.enabled: true\` in the targets file, but ${why}: declare its metrics there, or set \`auto.enabled: false\``;
}

function busyText(r: Extract<StartRefusal, { code: "busy" }>): string {
  const who = r.startedBy ? ` started by <@${r.startedBy}>` : "";
  const where = r.channel ? ` in <#${r.channel}>` : "";
  return `target is busy: rollout \`${r.id}\`${who}${where} is running (${r.percent ?? 0}% on the canary). Finish or abort it first (\`/rollout status ${r.id}\`).`;
}

/** Why a start was refused, without the leading emoji. */
export function startRefusalText(r: StartRefusal): string {
  switch (r.code) {
    case "unknown-target":
      return `unknown target \`${r.target}\`${r.known.length ? `: known targets are ${r.known.map((k) => `\`${k}\``).join(", ")}` : ": no targets are declared"}`;
    case "invalid-target":
      return `target \`${r.target}\`: ${r.issues.map((i) => issueText(i)).join("; ")}`;
    case "controller-target":
      if (r.controller === "flagger")
        return `\`${r.target}\` is gated for Flagger: a rollout starts when Canary \`${r.rollout}\` gets a new revision and Flagger calls the bot's gates, and its message appears in the channel`;
      return `\`${r.target}\` is followed from Argo Rollouts: a rollout starts when Rollout \`${r.rollout}\` gets a new pod template (\`kubectl argo rollouts set image\`, or your GitOps tool), and its message appears in the channel`;
    case "no-router":
      return `this bot has no \`${r.router}\` router configured`;
    case "denied":
      return policyRefusalText(r);
    case "stable-required":
      return `\`--from <version>\` is required for \`${r.target}\`: the target does not name its stable version`;
    case "already-stable":
      return `\`${r.canary}\` is already the stable version of \`${r.target}\``;
    case "busy":
      return busyText(r);
    case "no-metrics-for-auto":
      return noMetricsForAuto(r.target, r.byFlag);
    case "fenced-flag":
      return `\`--${r.flag}\` cannot be used with \`${r.target}\`: it is declared in the targets file, which says where it lives and how it is routed. Start it without \`--${r.flag}\`. Nothing was changed.`;
    case "from-not-allowed": {
      const allowed = r.allowFrom.length ? ` or a version its \`allowFrom\` lets through (${r.allowFrom.map((a) => `\`${a}\``).join(", ")})` : "";
      const stable = r.stable ? `its declared stable version \`${r.stable}\`` : "the stable version the mesh routes to";
      return `\`--from ${r.from}\` is not allowed for \`${r.target}\`: a rollout of it shifts traffic away from ${stable}${allowed}. Leave \`--from\` out, or have the targets file list the version under \`allowFrom\`. Nothing was changed.`;
    }
    case "namespace-not-allowed":
      return `ad-hoc rollouts may not touch namespace \`${r.namespace}\`: the policy allows ${r.namespaces.map((n) => `\`${n}\``).join(", ")}. Nothing was changed.`;
    case "to-other-target":
      return `\`--to ${r.to}\` is not allowed for \`${r.target}\`: \`${r.to}\` is the stable version of target \`${r.owner}\` in the same namespace, so shifting \`${r.target}\`'s traffic to it would reach into \`${r.owner}\`. Name a version of \`${r.target}\`. Nothing was changed.`;
    case "adhoc-overlaps":
      return `ad-hoc target \`${r.target}\` would drive the routing of declared target \`${r.owner}\` (the same TrafficSplit or HTTPRoute in namespace \`${r.namespace}\`): start \`${r.owner}\` itself, under its own rules. Nothing was changed.`;
    case "rate-limited":
      return rateLimitedText(r);
    case "channel-unseen":
      return `you are not a member of <#${r.channel}>, so a rollout's messages cannot go there on your behalf: pick a channel you are in. Nothing was changed.`;
    case "auto-too-fast":
      return autoTooFastText(r);
    case "deploy-not-enabled":
      return `\`--image\` is not enabled for \`${r.target}\`: the targets file must say \`deploy: true\` for the bot to create its Deployments (and the deploy RBAC component must be installed). Deploy the new version yourself and start with \`--to <version>\`. Nothing was changed.`;
    case "deploy-cannot-name":
      return `could not find a free name for the new version of \`${r.target}\` (${r.why}): add \`--to <name>\`. Nothing was changed.`;
    case "to-required":
      return `\`--to <version>\` is required: which version should get the traffic? (Or \`--image <image>\` to have the bot deploy it.)`;
    case "wave-clusters":
    case "not-a-wave":
      return waveStartRefusalText(r);
    default:
      return `${deployProblemText(r)}. Nothing was changed.`;
  }
}

const FENCE_CODES: ReadonlySet<string> = new Set([
  "denied",
  "deploy-not-enabled",
  "fenced-flag",
  "from-not-allowed",
  "namespace-not-allowed",
  "to-other-target",
  "adhoc-overlaps",
  "wave-clusters",
  "not-a-wave",
]);

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** A refused start as the person sees it: `:no_entry:` for the policy and the target's fence, `:x:` for everything else. */
export function startRefusalReply(r: StartRefusal): string {
  return `${FENCE_CODES.has(r.code) ? ":no_entry:" : r.code === "rate-limited" ? ":hourglass:" : ":x:"} ${startRefusalText(r)}`;
}

const RATE_WHAT: Record<RateLimited["kind"], string> = {
  start: "started {n} rollouts",
  refresh: "asked for {n} readings",
  chart: "asked for {n} charts",
  "chart-thread": "",
};

/** Too many requests of one kind: when to try again. */
export function rateLimitedText(r: RateLimited): string {
  const wait = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
  if (r.kind === "chart-thread") return `A chart of this rollout was posted to its thread moments ago; ask again in ${wait} s. Nothing was posted.`;
  const what = RATE_WHAT[r.kind].replace("{n}", String(r.limit));
  return `Slow down: you ${what} in the last ${Math.round(r.windowMs / 1000)} s, the most one person may. Try again in ${wait} s. Nothing was changed.`;
}

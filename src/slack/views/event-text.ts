import { formatDuration } from "../../engine/duration.ts";
import { describePreflightProblems } from "./preflight-text.ts";
import type { BotNote } from "../../engine/notes.ts";
import type { Actor, Rollout, RolloutEvent } from "../../engine/rollout.ts";
import type { Verdict } from "../../engine/verdict.ts";
import { describeVerdict } from "./verdict-text.ts";
import { actorText, clip, duration, escapeMrkdwn, slackTime, split } from "./format.ts";
import { argoActionWord, describeActor, policyRefusalText } from "./refusal.ts";
import type { ArgoChange } from "../../engine/argo-types.ts";
import { argoStepText } from "./argo-steps.ts";
import type { FlaggerChange } from "../../engine/flagger-types.ts";
import { waveEventText } from "./wave-text.ts";

/** One thread reply per event: who, what, weights before -> after, when; in a wave, the cluster first. Pure. */
export function renderEvent(r: Rollout, e: RolloutEvent): string {
  const text = eventText(r, e);
  return e.cluster !== undefined && e.kind !== "wave" ? `${e.cluster}: ${text}` : text;
}

function eventText(r: Rollout, e: RolloutEvent): string {
  const who = actorText(e.actor);
  const when = slackTime(e.at);
  const weights = e.from !== undefined && e.to !== undefined ? ` (${r.stable}/${r.canary} ${split(e.from)} → ${split(e.to)})` : "";
  const extra = e.text ? `: ${escapeMrkdwn(e.text)}` : "";
  switch (e.kind) {
    case "started":
      return `:rocket: ${who} started rollout ${r.id}, ${r.canary} now gets ${e.to}% ${when}\n${e.text ? escapeMrkdwn(e.text) : `started: ${r.stable} → ${r.canary}, plan ${r.steps.join("% → ")}%`}`;
    case "advanced":
      return `:arrow_forward: ${who} advanced to ${e.to}%${weights} ${when}`;
    case "applied":
      return `:white_check_mark: Applied and verified ${split(e.to ?? 0)}${weights}: \`${escapeMrkdwn(e.text ?? "")}\` ${when}`;
    case "finish-requested":
      // From below 100%: an emergency promote skipped the remaining steps.
      if (e.from !== undefined && e.from < 100)
        return `:fast_forward: ${who} skipped to 100% (emergency promote from ${e.from}%): making ${r.canary} permanent ${when}`;
      return `:checkered_flag: ${who} is finishing the rollout: making ${r.canary} permanent ${when}`;
    case "completed":
      return `:white_check_mark: Rollout ${r.id} completed: ${r.canary} is permanent ${when}. Mesh now:${meshText(e.text)}\n${summary(r, e.at)}`;
    case "abort-requested":
      return `:rewind: ${who} aborted${weights}${extra} ${when}`;
    case "aborted":
      return `:x: Rollout ${r.id} aborted by ${who}: all traffic back on ${r.stable}, verified ${when}. Mesh now:${meshText(e.text)}\n${summary(r, e.at)}`;
    case "rejected":
      return `:no_entry: Rollout ${r.id} rejected${extra} ${when}`;
    case "held":
      return `:double_vertical_bar: ${who} held the rollout${extra} ${when}`;
    case "resumed": {
      const how =
        e.how === "reapply"
          ? e.text
            ? `: re-applying ${e.to}%, ${escapeMrkdwn(e.text)}`
            : `: re-applying ${e.to}% over the hand edit`
          : e.how === "adopt"
            ? `: adopted the hand edit: ${e.to}% on ${r.canary}`
            : extra;
      return `:arrow_forward: ${who} resumed the rollout${how}${weights} ${when}`;
    }
    case "deployed":
      return `:package: ${escapeMrkdwn(e.text ?? `${r.canary} is up`)} ${when}`;
    case "cleanup":
      return `:broom: ${escapeMrkdwn(e.text ?? "removed")} ${when}`;
    case "warning":
      return `:warning: ${escapeMrkdwn(e.text ?? "problem")} ${when}`;
    case "gitops":
      return `:link: ${escapeMrkdwn(e.text ?? "")} ${when}`;
    case "mode": {
      if (e.intervalMs === undefined) return `:gear: ${escapeMrkdwn(e.text ?? "mode changed")} ${when}`; // a record from before notes were data
      const mode = e.intervalMs === null ? "switched to manual steps" : `switched to automatic steps every ${Math.round(e.intervalMs / 1000)}s`;
      return `:gear: ${describeActor(e.actor)} ${mode} ${when}`;
    }
    case "notice":
    case "reminder":
    case "alert":
      // Notes are the bot's own words for people (they carry mentions); older records kept them as text.
      return `${e.kind === "alert" ? ":rotating_light:" : e.kind === "notice" ? ":alarm_clock:" : ":bell:"} ${e.note ? noteText(e.note) : (e.text ?? "")}`;
    case "wave":
      return e.wave ? waveEventText(e.wave, who, when) : `${escapeMrkdwn(e.text ?? "")} ${when}`;
    case "controller":
      if (e.flagger) return `${flaggerChangeText(e.flagger, e.actor)} ${when}`;
      return e.change ? `${argoChangeText(r, e.change, e.actor)} ${when}` : `${escapeMrkdwn(e.text ?? "")} ${when}`;
  }
}

/**
 * Blocks for events that offer a decision in the thread: a notice of an automatic step carries a Hold
 * button while the rollout can still be held. Other events are plain text.
 */
export function renderEventBlocks(r: Rollout, e: RolloutEvent): Record<string, unknown>[] | undefined {
  if (e.kind !== "notice" || r.status !== "active" || !r.auto) return undefined;
  return [
    { type: "section", text: { type: "mrkdwn", text: clip(renderEvent(r, e), 3000) } },
    {
      type: "actions",
      block_id: `notice:${r.id}:${e.seq}`,
      elements: [{ type: "button", text: { type: "plain_text", text: "Hold" }, action_id: "rollout.hold", value: `${r.id}|${r.stepIndex}` }],
    },
  ];
}

/** Completion and abort summaries: how long, which steps, and who or what decided each. */
export function summary(r: Rollout, endedAt: number): string {
  const decisions = r.events.filter((e) => e.kind === "advanced" || e.kind === "finish-requested" || e.kind === "abort-requested");
  const lines = decisions.map((e) => {
    const what = e.kind === "advanced" ? `→ ${e.to}%` : e.kind === "finish-requested" ? "finish" : "abort";
    return `${what} by ${actorText(e.actor)}`;
  });
  const reached = Math.max(0, ...r.events.filter((e) => e.kind === "applied" || e.kind === "started").map((e) => e.to ?? 0));
  return `*Summary*: ${duration(endedAt - r.createdAt)}, ${decisions.filter((e) => e.kind === "advanced").length} step(s) taken, highest ${reached}% on ${r.canary}. ${lines.length ? `Decisions: ${lines.join(", ")}.` : ""}`.trim();
}

/** A one-line rendering inline; a whole dtab (namerctl's lines) as a code block. */
function meshText(raw: string | undefined): string {
  const text = escapeMrkdwn(raw ?? "");
  return text.includes("\n") ? `\n\`\`\`${text}\`\`\`` : ` \`${text}\``;
}

function readingText(v: Verdict | undefined): string {
  return v ? describeVerdict(v) : "no success-rate reading yet";
}

/** What the bot tells the thread by itself, in words. Pure. */
export function noteText(n: BotNote): string {
  switch (n.code) {
    case "auto-step-coming":
      return `${n.next === undefined ? "Finishing (making it permanent)" : `Advancing to ${n.next}%`} at ${slackTime(n.at)} (in ${formatDuration(n.inMs)}) if the canary stays healthy: ${readingText(n.verdict)}. Press *Hold* to stop it.`;
    case "auto-will-stop":
      return `Automatic steps stop at ${n.percent}% at ${slackTime(n.at)} (in ${formatDuration(n.inMs)}): ${policyRefusalText(n.refusal)}. Someone who may can then take it further.`;
    case "remind":
      return `<@${n.startedBy}> rollout ${n.id} has been at ${n.percent}% for ${formatDuration(n.forMs)} with no decision: Advance, Hold or Abort? (${readingText(n.verdict)})`;
    case "deadline-coming":
      return `<@${n.startedBy}> rollout ${n.id} reaches its deadline at ${slackTime(n.at)} (in ${formatDuration(n.inMs)}): it will then *${n.action}* unless it has finished.`;
    case "auto-stopped":
      return `Rollout ${n.id}: automatic steps stopped at ${n.percent}% with a healthy canary: ${policyRefusalText(n.refusal)}. Someone who may can press ${n.final === "finish" ? "*Finish*" : "*Advance to 100%*"}.`;
    case "auto-aborted":
      return `<@${n.startedBy}> rollout ${n.id} was *aborted automatically*: ${n.why}. All traffic is going back to ${n.stable}.`;
    case "auto-held":
      return `<@${n.startedBy}> rollout ${n.id} is *held*: ${n.why}.`;
    case "canary-not-ready":
      return `<@${n.startedBy}> rollout ${n.id} is *held*: the canary is not ready (${describePreflightProblems(n.problems)}), with ${n.percent ?? 0}% of traffic on ${n.canary}. Resume once it is.`;
    case "argo-alert": {
      const who = !n.mention ? "" : "group" in n.mention ? `<!subteam^${n.mention.group}> ` : `<@${n.mention.user}> `;
      return `${who}Argo Rollout ${n.id}: ${argoChangeText(undefined, n.change, { kind: "bot", why: "argo-rollouts" })}`;
    }
    case "flagger-failed": {
      const who = !n.mention ? "" : "group" in n.mention ? `<!subteam^${n.mention.group}> ` : `<@${n.mention.user}> `;
      return `${who}Flagger Canary ${n.id} *failed*: Flagger rolled it back (all traffic on the primary, canary scaled to zero).`;
    }
    case "deadline-passed":
      return `<@${n.startedBy}> rollout ${n.id} ${n.action === "abort" ? "was *aborted*" : "is *held*"}: the deadline (${slackTime(n.at)}) passed before the rollout finished.`;
  }
}

/** What Argo Rollouts did, or which request was sent to it, and who: one thread line. Pure. */
export function argoChangeText(r: Rollout | undefined, c: ArgoChange, actor: Actor): string {
  const who = actor.kind === "user" ? ` (${describeActor(actor)})` : "";
  switch (c.code) {
    case "step":
      return c.index >= c.total
        ? `:white_check_mark: All ${c.total} steps done${who}`
        : `:arrow_forward: Step ${c.index + 1}/${c.total} reached: \`${c.step ? argoStepText(c.step) : "?"}\`${who}`;
    case "paused":
      return `:double_vertical_bar: Paused: ${escapeMrkdwn(c.reason)}${c.endsAt ? `, resumes by itself ${slackTime(c.endsAt)}` : ""}${who}`;
    case "unpaused":
      return `:arrow_forward: Unpaused${who}`;
    case "weights":
      return `:twisted_rightwards_arrows: Canary weight ${c.from}% → ${c.to}%${who}`;
    case "analysis":
      return `${c.phase === "Failed" || c.phase === "Error" ? ":x:" : c.phase === "Successful" ? ":white_check_mark:" : ":mag:"} Analysis \`${escapeMrkdwn(c.name)}\` ${c.phase}${c.message ? `: ${escapeMrkdwn(c.message)}` : ""}`;
    case "aborted":
      return `:rewind: Aborted${who}${c.message ? `: ${escapeMrkdwn(c.message)}` : ""}. All traffic is back on stable.`;
    case "retried":
      return `:repeat: Retrying after the abort${who}`;
    case "degraded":
      return `:warning: Degraded: ${escapeMrkdwn(c.message)}`;
    case "completed":
      return `:white_check_mark: Completed: ${r ? `\`${r.canary}\` is` : "the new revision is"} now stable${who}`;
    case "superseded":
      return `:fast_forward: Superseded by revision ${escapeMrkdwn(c.by)}; this message is no longer followed`;
    case "sent":
      return `:outbox_tray: ${describeActor(actor)} sent \`${argoActionWord(c.action)}\` at step ${c.step + 1}`;
    case "not-sent": {
      const why =
        c.why === "moved-on"
          ? `the Rollout had already moved on${c.now !== undefined ? ` to step ${c.now + 1}` : ""}`
          : c.why === "new-revision"
            ? "a new revision had started"
            : c.why === "not-found"
              ? "the Rollout no longer exists"
              : c.why === "aborted"
                ? "Abort came first"
                : c.why === "refused"
                  ? `the Kubernetes API refused it: ${escapeMrkdwn(c.message ?? "")}`
                  : "there was nothing to do";
      return `:information_source: ${describeActor(actor)}'s \`${argoActionWord(c.action)}\` at step ${c.step + 1} was not sent: ${why}`;
    }
  }
}

/** What Flagger asked or reported, or what a person decided on its gates: one thread line. Pure. */
export function flaggerChangeText(c: FlaggerChange, actor: Actor): string {
  const who = describeActor(actor);
  switch (c.code) {
    case "waiting":
      return `:hourglass_flowing_sand: Flagger waits at \`${c.gate}\`: Approve to let it go on`;
    case "opened":
      return c.gate === "confirm-traffic-increase"
        ? `:white_check_mark: ${who} approved the next traffic increase (\`${c.gate}\`)`
        : `:white_check_mark: ${who} approved \`${c.gate}\``;
    case "weight":
      return `:arrow_forward: Canary weight ${c.from}% → *${c.to}%* (the Canary's status)`;
    case "opened-all":
      return `:white_check_mark: ${who} approved every remaining traffic increase (\`${c.gate}\`) of this revision`;
    case "passed":
      return `:arrow_forward: Flagger passed \`${c.gate}\``;
    case "halted":
      return `:double_vertical_bar: ${who} halted the canary: every gate answers closed`;
    case "unhalted":
      return `:arrow_forward: ${who} resumed the canary`;
    case "rollback-requested":
      return `:rewind: ${who} asked Flagger to roll back`;
    case "rolling-back":
      return `:rewind: Flagger was told to roll back`;
    case "phase":
      return `:large_blue_circle: Flagger phase: \`${escapeMrkdwn(c.phase)}\``;
    case "event":
      return `${c.warning ? ":warning:" : ":speech_balloon:"} Flagger: ${escapeMrkdwn(clip(c.message, 500))}`;
    case "superseded":
      return `:fast_forward: Superseded by revision \`${escapeMrkdwn(c.by)}\``;
  }
}

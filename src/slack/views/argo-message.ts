import { isFullyPromoted } from "../../engine/argo.ts";
import type { ArgoState } from "../../engine/argo-types.ts";
import type { Rollout } from "../../engine/rollout.ts";
import { kubeNamespace } from "../../engine/target.ts";
import { ACTION, buttonValue, type ActionId, type Block, type Rendered } from "./action-ids.ts";
import { argoStepText } from "./argo-steps.ts";
import { actorText, clip, duration, escapeMrkdwn, slackTime } from "./format.ts";

/**
 * The message of one revision Argo Rollouts runs, as a pure function of the record: the revision, its
 * steps with the current one marked, live weights and replicas, the current AnalysisRun, why it is paused,
 * and the buttons that send the plugin's requests. Updated in place as the controller moves.
 */

export const PROMOTE_FULL_RISK =
  "Promote fully skips every remaining step, pause and analysis: Argo Rollouts sends all traffic to the new revision as soon as its pods are available, and nothing checks it on the way.";

function button(text: string, actionId: ActionId, r: Rollout, style?: "primary" | "danger"): Block {
  return {
    type: "button",
    text: { type: "plain_text", text: clip(text, 75), emoji: true },
    action_id: actionId,
    value: buttonValue(r),
    ...(style ? { style } : {}),
  };
}

function confirm(title: string, text: string, yes: string, style?: "danger"): Block {
  return {
    title: { type: "plain_text", text: clip(title, 100) },
    text: { type: "mrkdwn", text: clip(text, 300) },
    confirm: { type: "plain_text", text: yes },
    deny: { type: "plain_text", text: "Cancel" },
    ...(style ? { style } : {}),
  };
}

export function argoButtons(r: Rollout, s: ArgoState): Block[] {
  if (r.status === "completed" || r.status === "aborted") return [];
  if (r.argo?.pending) return [];
  const out: Block[] = [];
  if (s.abort) {
    out.push(button("Retry", ACTION.retry, r, "primary"));
    return out;
  }
  const stepsLeft = s.steps.length === 0 || s.stepIndex < s.steps.length;
  if (stepsLeft && !isFullyPromoted(s)) out.push(button("Promote", ACTION.advance, r, "primary"));
  if (!isFullyPromoted(s)) {
    out.push({ ...button("Promote fully", ACTION.finish, r), confirm: confirm("Promote fully?", PROMOTE_FULL_RISK, "Promote fully") });
  }
  out.push(s.paused ? button("Resume", ACTION.resume, r) : button("Pause", ACTION.hold, r));
  out.push({
    ...button("Abort", ACTION.abort, r, "danger"),
    confirm: confirm(
      "Abort this rollout?",
      `Argo Rollouts sends all traffic for \`${r.target.name}\` back to the stable pods (\`${s.stableHash}\`).`,
      "Abort",
      "danger",
    ),
  });
  return out;
}

export function argoStepsText(s: ArgoState): string {
  if (!s.steps.length) return "_no steps: a rolling update_";
  return s.steps
    .map((step, i) => {
      const t = argoStepText(step);
      if (i < s.stepIndex) return `~${t}~`;
      if (i === s.stepIndex) return `*▶ ${t}*`;
      return t;
    })
    .join("  →  ");
}

function phaseText(r: Rollout, s: ArgoState): string {
  if (r.status === "completed") return ":white_check_mark: Completed: the new revision is stable";
  if (r.status === "aborted") return `:fast_forward: ${escapeMrkdwn(r.problem ?? "ended")}`;
  if (s.abort) return ":x: Aborted: all traffic on stable (Retry runs the steps again)";
  const icon = s.phase === "Degraded" ? ":warning:" : s.phase === "Paused" ? ":double_vertical_bar:" : ":large_blue_circle:";
  return `${icon} ${escapeMrkdwn(s.phase)}${s.message ? `: ${escapeMrkdwn(s.message)}` : ""}`;
}

function pauseText(s: ArgoState): string | undefined {
  if (s.paused) return ":double_vertical_bar: Paused by hand (`spec.paused`): Resume or Promote to go on.";
  const p = s.pauseReasons[0];
  if (!p) return undefined;
  const ends = s.pauseEndsAt ? `; goes on by itself ${slackTime(s.pauseEndsAt)}` : "; waits for Promote";
  return `:double_vertical_bar: Paused (${escapeMrkdwn(p.reason)}) since ${slackTime(p.startTime)}${ends}.`;
}

export function analysisText(s: ArgoState): string | undefined {
  const a = s.analysis;
  if (!a) return undefined;
  const metrics = a.metrics.map(
    (m) =>
      `• \`${escapeMrkdwn(m.name)}\` ${m.phase}: last ${m.last !== undefined ? `\`${escapeMrkdwn(clip(m.last, 60))}\`` : "—"}, ${m.successful} ok / ${m.failed} failed of ${m.count}`,
  );
  return clip(`*Analysis* \`${escapeMrkdwn(a.name)}\` ${a.phase}${a.message ? `: ${escapeMrkdwn(a.message)}` : ""}\n${metrics.join("\n")}`, 3000);
}

export function renderArgoMessage(r: Rollout): Rendered {
  const s = r.argo!.state;
  const t = r.target;
  const name = t.argoRollouts?.rollout ?? t.name;
  const weights = s.weights ? `stable *${s.weights.stable}%* · canary *${s.weights.canary}%*` : `canary ~${r.appliedPercent ?? 0}% (by replicas)`;
  const blocks: Block[] = [
    { type: "header", text: { type: "plain_text", text: clip(`Argo Rollout ${name}: revision ${s.revision}`, 150), emoji: true } },
    {
      type: "section",
      fields: [
        { type: "mrkdwn", text: `*Rollout*\n\`${kubeNamespace(t)}/${name}\` (${r.id})` },
        { type: "mrkdwn", text: `*Status*\n${phaseText(r, s)}` },
        {
          type: "mrkdwn",
          text: `*Revision*\n${s.image ? `\`${escapeMrkdwn(clip(s.image, 120))}\`` : "?"} · pods \`${s.podHash}\` (stable \`${s.stableHash || "none"}\`)`,
        },
        { type: "mrkdwn", text: `*Weights*\n${weights}\n*Ready* ${s.replicas.ready}/${s.replicas.desired} (updated ${s.replicas.updated})` },
      ],
    },
    { type: "section", text: { type: "mrkdwn", text: clip(`*Steps*  ${argoStepsText(s)}`, 3000) } },
  ];
  const pause = pauseText(s);
  if (pause && r.status !== "completed") blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: pause }] });
  const analysis = analysisText(s);
  if (analysis) blocks.push({ type: "section", text: { type: "mrkdwn", text: analysis } });
  const pending = r.argo?.pending;
  if (pending)
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: `:hourglass_flowing_sand: Sending \`${pending.action}\` for <@${pending.by}>…` }] });
  const buttons = argoButtons(r, s);
  if (buttons.length) blocks.push({ type: "actions", block_id: `rollout:${r.id}`, elements: buttons });
  if (r.endedAt) {
    const closer = r.last ? ` by ${actorText(r.last.actor)}` : "";
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: `Ended${closer} ${slackTime(r.endedAt)} after ${duration(r.endedAt - r.createdAt)}` }] });
  }
  const text = `Argo Rollout ${name} revision ${s.revision}: ${s.phase}, step ${Math.min(s.stepIndex + 1, s.steps.length)}/${s.steps.length}, canary ${r.appliedPercent ?? 0}%`;
  return { text, blocks };
}

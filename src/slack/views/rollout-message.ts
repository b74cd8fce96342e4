import type { Rollout } from "../../engine/rollout.ts";
import { formatDuration } from "../../engine/duration.ts";
import { kubeNamespace } from "../../engine/target.ts";
import { actorText, clip, duration, escapeMrkdwn, inlineCode, slackTime, split } from "./format.ts";
import { snapshotText } from "./snapshot-block.ts";
import { moreMenu } from "./promote.ts";
import { renderArgoMessage } from "./argo-message.ts";
import { renderFlaggerMessage } from "./flagger-message.ts";

/**
 * The rollout's one channel message, as a pure function of the record. Re-rendering is always safe;
 * the Slack sync job sends it with chat.update whenever the rendering changes.
 */

export { ACTION, buttonValue, type ActionId, type Block, type Rendered } from "./action-ids.ts";
import { ACTION, buttonValue, type ActionId, type Block, type Rendered } from "./action-ids.ts";
import { deployingText } from "./deploy-text.ts";
import { gateButtonText, wavePositionText, waveRowsText } from "./wave-text.ts";
import { fluxPausable } from "../../engine/flux-pause.ts";
import { driftedRow } from "../../engine/wave.ts";

const STATUS_TEXT: Record<Rollout["status"], string> = {
  deploying: ":package: Deploying the new version",
  starting: ":hourglass_flowing_sand: Starting",
  active: ":large_blue_circle: In progress",
  held: ":double_vertical_bar: Held",
  finishing: ":hourglass_flowing_sand: Finishing",
  "at-gate": ":vertical_traffic_light: Waiting at the gate",
  completed: ":white_check_mark: Completed",
  aborting: ":rewind: Aborting: returning all traffic to stable",
  aborted: ":x: Aborted: all traffic on stable",
  rejected: ":no_entry: Rejected",
};

export function planText(r: Rollout): string {
  // The test stage (0%, header routing only) is shown only while it is the current stage.
  const parts = r.stepIndex === -1 ? ["*▶ test (0%)*"] : [];
  r.steps.forEach((s, i) => {
    if (i < r.stepIndex) parts.push(`~${s}%~`);
    else if (i === r.stepIndex) parts.push(`*▶ ${s}%*`);
    else parts.push(`${s}%`);
  });
  return parts.join("  →  ");
}

export function weightsText(r: Rollout): string {
  const applied = r.appliedPercent;
  if (applied === null) return `not yet applied (going to ${split(r.desiredPercent)})`;
  const now = `${r.stable || "stable"} *${100 - applied}%* · ${r.canary} *${applied}%*`;
  return applied === r.desiredPercent ? now : `${now}  (applying ${split(r.desiredPercent)}…)`;
}

function targetText(r: Rollout): string {
  const t = r.target;
  const where = t.router === "namerd" && t.namerd ? `namerd ${t.namerd.dtabNamespace} ${t.namerd.prefix}` : `${t.router.toUpperCase()} in ${kubeNamespace(t)}`;
  return `\`${t.name}\`${t.cluster !== undefined ? ` in cluster ${t.cluster}` : ""} (${where})`;
}

function button(text: string, actionId: ActionId, r: Rollout, style?: "primary" | "danger"): Block {
  return {
    type: "button",
    text: { type: "plain_text", text: clip(text, 75), emoji: true },
    action_id: actionId,
    value: buttonValue(r),
    ...(style ? { style } : {}),
  };
}

function abortButton(r: Rollout): Block {
  return {
    ...button("Abort", ACTION.abort, r, "danger"),
    confirm: {
      title: { type: "plain_text", text: "Abort this rollout?" },
      text: {
        type: "mrkdwn",
        text: clip(abortWhat(r), 300),
      },
      confirm: { type: "plain_text", text: "Abort" },
      deny: { type: "plain_text", text: "Keep going" },
      style: "danger",
    },
  };
}

/** What Abort does, for its confirmation: in a wave, every cluster touched so far, newest first. */
function abortWhat(r: Rollout): string {
  const w = r.wave;
  if (w) {
    const touched = w.rows.filter((x) => x.state === "running" || x.state === "finished").map((x) => x.cluster);
    return `All traffic for \`${r.target.name}\` goes back to \`${r.stable || "stable"}\` in ${[...touched].reverse().join(", then ")} (newest first, each verified); clusters not reached stay untouched.`;
  }
  return `All traffic for \`${r.target.name}\`${r.target.cluster !== undefined ? ` in cluster ${r.target.cluster}` : ""} goes back to \`${r.stable || "stable"}\`.`;
}

function pauseFluxButton(r: Rollout): Block {
  const owner = r.drift?.by?.gitops?.owner;
  const ks = owner?.name ? `Kustomization \`${owner.namespace ?? ""}/${owner.name}\`` : "its Kustomization";
  return {
    ...button("Pause Flux for this rollout", ACTION.pauseFlux, r),
    confirm: {
      title: { type: "plain_text", text: "Pause Flux for this rollout?" },
      text: {
        type: "mrkdwn",
        text: clip(
          `Flux (${ks}) stops reconciling the routing object of \`${r.target.name}\` (\`kustomize.toolkit.fluxcd.io/reconcile: disabled\`) until the rollout ends, and the bot writes ${split(r.desiredPercent)} back over what Flux put there.`,
          300,
        ),
      },
      confirm: { type: "plain_text", text: "Pause Flux" },
      deny: { type: "plain_text", text: "Cancel" },
    },
  };
}

export function actionButtons(r: Rollout): Block[] {
  switch (r.status) {
    case "at-gate":
      // The wave's hold on an unreachable cluster is no gate to open: only Abort (which keeps retrying). Nor is a
      // finished cluster changed since: put back, or Abort.
      if (!r.wave || r.wave.unreachable || driftedRow(r.wave)) return [abortButton(r)];
      return [button(gateButtonText(r.wave), ACTION.advance, r, "primary"), abortButton(r)];
    case "active": {
      if (r.appliedPercent !== r.desiredPercent) return [abortButton(r)];
      const next = r.steps[r.stepIndex + 1];
      if (next === undefined) {
        // A wave's last Finish makes every cluster final: not over a finished cluster changed since.
        if (r.wave && r.wave.position === r.wave.rows.length - 1 && driftedRow(r.wave)) return [button("Hold", ACTION.hold, r), abortButton(r)];
        return [button("Finish", ACTION.finish, r, "primary"), abortButton(r)];
      }
      const label = r.stepIndex === -1 ? `Start shifting (${next}%)` : `Advance to ${next}%`;
      return [button(label, ACTION.advance, r, "primary"), button("Hold", ACTION.hold, r), abortButton(r)];
    }
    case "held":
      if (r.drift?.observedPercent !== undefined && r.drift.owned) {
        // Another field manager owns what the bot writes: Re-apply takes it (forced, audited); nothing to adopt.
        return [button(`Re-apply ${split(r.desiredPercent)}`, ACTION.reapply, r, "primary"), abortButton(r)];
      }
      if (r.drift?.observedPercent !== undefined && r.drift.by?.gitops) {
        // A GitOps revert: Re-apply would only fight the owner. Adopt what git says, or Abort; the thread has the
        // snippet. Flux's kustomize-controller can also be paused on the object for this rollout.
        const adoptButton = button(`Adopt ${split(r.drift.observedPercent)}`, ACTION.adopt, r, "primary");
        return fluxPausable(r) ? [adoptButton, pauseFluxButton(r), abortButton(r)] : [adoptButton, abortButton(r)];
      }
      if (r.drift?.observedPercent !== undefined) {
        return [
          button(`Re-apply ${split(r.desiredPercent)}`, ACTION.reapply, r, "primary"),
          button(`Adopt ${split(r.drift.observedPercent)}`, ACTION.adopt, r),
          abortButton(r),
        ];
      }
      return [button("Resume", ACTION.resume, r, "primary"), abortButton(r)];
    case "deploying":
    case "starting":
    case "finishing":
      return [abortButton(r)];
    default:
      return [];
  }
}

/**
 * A multi-line rendering (a whole dtab as namerctl prints it) as a code block, within the 3000-character
 * section limit: whole lines are kept while they fit, then a line says how many were left out.
 */
export function meshNowCodeBlock(raw: string, max = 3000): string {
  const head = "*Mesh now*\n```";
  const tail = "```";
  const lines = raw.split("\n").map(escapeMrkdwn);
  const whole = `${head}${lines.join("\n")}${tail}`;
  if (whole.length <= max) return whole;
  const omitted = (from: number) => `… ${lines.length - from} more line${lines.length - from === 1 ? "" : "s"}`;
  const kept: string[] = [];
  let used = head.length + tail.length;
  // Keep line i only if the note about the lines after it still fits behind it.
  for (const [i, line] of lines.entries()) {
    const cost = (i > 0 ? 1 : 0) + line.length;
    if (used + cost + 1 + omitted(i + 1).length > max) break;
    kept.push(line);
    used += cost;
  }
  const note = omitted(kept.length);
  kept.push(used + (kept.length ? 1 : 0) + note.length <= max ? note : "…");
  return `${head}${kept.join("\n")}${tail}`;
}

/** Automatic mode, as the channel should see it: when the bot acts next, or why it is waiting. */
export function scheduleText(r: Rollout): string | undefined {
  if (!r.auto) return undefined;
  const every = `every ${formatDuration(r.auto.intervalMs)} while the canary is healthy`;
  if (r.status === "held") return `:robot_face: Automatic steps (${every}) are paused while the rollout is held.`;
  if (r.status !== "active") return undefined;
  const at = r.timers?.stepAt;
  if (!at) return `:robot_face: Automatic, ${every}.`;
  const next = r.steps[r.stepIndex + 1];
  const what = next === undefined ? "finishes" : `next automatic step to ${next}%`;
  const waiting = r.auto.waitingSince ? ` (waiting for enough evidence since ${slackTime(r.auto.waitingSince)})` : "";
  return `:robot_face: Automatic: ${what} at ${slackTime(at)}${waiting}, ${every}. Hold stops it.`;
}

export function renderRolloutMessage(r: Rollout): Rendered {
  if (r.argo) return renderArgoMessage(r);
  if (r.flagger) return renderFlaggerMessage(r);
  const blocks: Block[] = [
    { type: "header", text: { type: "plain_text", text: clip(`Rollout ${r.id}: ${r.stable || "?"} → ${r.canary}`, 150), emoji: true } },
    {
      type: "section",
      fields: [
        { type: "mrkdwn", text: `*Target*\n${targetText(r)}` },
        { type: "mrkdwn", text: `*Status*\n${STATUS_TEXT[r.status]}` },
        { type: "mrkdwn", text: `*Weights*\n${weightsText(r)}` },
        { type: "mrkdwn", text: `*Started by*\n<@${r.startedBy}> ${slackTime(r.createdAt)}` },
      ],
    },
    { type: "section", text: { type: "mrkdwn", text: `*Plan*  ${planText(r)}` } },
  ];
  if (r.wave) {
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: clip(`*Wave* ${escapeMrkdwn(wavePositionText(r, r.wave))}\n${waveRowsText(r, r.wave)}`, 3000) },
    });
  }
  const deploying = deployingText(r);
  if (deploying) blocks.push({ type: "section", text: { type: "mrkdwn", text: clip(deploying, 3000) } });
  const schedule = scheduleText(r);
  if (schedule) blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: schedule }] });
  if (r.stepIndex === -1 && r.testRequestHint && !["aborted", "completed", "rejected"].includes(r.status)) {
    blocks.push({
      type: "section",
      text: {
        type: "mrkdwn",
        text: clip(
          `*Test stage*: production traffic is unchanged (0% to \`${r.canary}\`). Send one request to the new version only:\n\`\`\`${escapeMrkdwn(r.testRequestHint)}\`\`\``,
          3000,
        ),
      },
    });
  }
  if (r.problem) {
    blocks.push({ type: "section", text: { type: "mrkdwn", text: clip(`:warning: ${escapeMrkdwn(r.problem)}`, 3000) } });
  }
  if (r.observedRaw) {
    blocks.push(
      r.observedRaw.includes("\n")
        ? { type: "section", text: { type: "mrkdwn", text: meshNowCodeBlock(r.observedRaw) } }
        : { type: "context", elements: [{ type: "mrkdwn", text: `Mesh now: ${inlineCode(r.observedRaw, 2000 - "Mesh now: ".length)}` }] },
    );
  }
  const live = !["completed", "aborted", "rejected"].includes(r.status);
  if (r.snapshot) {
    blocks.push({ type: "section", text: { type: "mrkdwn", text: snapshotText(r, r.snapshot) } });
  }
  const buttons = actionButtons(r);
  if (live && r.target.metrics && r.target.metrics.source !== "none") buttons.push(button("Refresh", ACTION.refresh, r));
  const more = live ? moreMenu(r, buttonValue(r)) : undefined;
  if (more) buttons.push(more);
  if (buttons.length) blocks.push({ type: "actions", block_id: `rollout:${r.id}`, elements: buttons });
  if (r.endedAt) {
    const closer = r.last && (r.status === "aborted" || r.status === "completed") ? ` by ${actorText(r.last.actor)}` : "";
    blocks.push({
      type: "context",
      elements: [{ type: "mrkdwn", text: `${STATUS_TEXT[r.status]}${closer} ${slackTime(r.endedAt)} after ${duration(r.endedAt - r.createdAt)}` }],
    });
  }
  const text = `Rollout ${r.id} (${r.target.name}): ${r.status}, ${r.appliedPercent ?? 0}% on ${r.canary}${r.wave ? `, ${wavePositionText(r, r.wave)}` : ""}`;
  return { text, blocks };
}

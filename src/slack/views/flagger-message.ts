import { canaryWeightOf, CONFIRM_ORDER, flaggerCanaryName, openingEntry } from "../../engine/flagger.ts";
import type { CanaryReading, FlaggerConfirm } from "../../engine/flagger-types.ts";
import type { Rollout } from "../../engine/rollout.ts";
import { kubeNamespace } from "../../engine/target.ts";
import { ACTION, buttonValue, type ActionId, type Block, type Rendered } from "./action-ids.ts";
import { actorText, clip, duration, escapeMrkdwn, slackTime } from "./format.ts";

/**
 * The message of one Canary revision Flagger runs, as a pure function of the record: the phase, the canary
 * weight, failed checks and iterations as the Canary's status last read says, its analysis settings, the
 * gates (waiting, approved, by whom), warnings, and the buttons whose decisions the gates answer with at
 * Flagger's next call. Updated in place at each call or reading that changes something.
 */

export const GATE_WORDS: Record<FlaggerConfirm, string> = {
  "confirm-rollout": "start the canary (confirm-rollout)",
  "confirm-traffic-increase": "shift more traffic to the canary (confirm-traffic-increase)",
  "confirm-promotion": "promote the canary to primary (confirm-promotion)",
};

function button(text: string, actionId: ActionId, r: Rollout, style?: "primary" | "danger"): Block {
  return {
    type: "button",
    text: { type: "plain_text", text: clip(text, 75), emoji: true },
    action_id: actionId,
    value: buttonValue(r),
    ...(style ? { style } : {}),
  };
}

export function flaggerButtons(r: Rollout): Block[] {
  const f = r.flagger;
  if (!f || r.status === "completed" || r.status === "aborted" || f.rollback) return [];
  const out: Block[] = [];
  if (f.waiting && !f.halted && !openingEntry(f, f.waiting)) {
    if (f.waiting === "confirm-traffic-increase") {
      out.push(button("Approve next step", ACTION.advance, r, "primary"));
      out.push({
        ...button("Approve all remaining steps", ACTION.approveAll, r),
        confirm: {
          title: { type: "plain_text", text: "Approve every remaining step?" },
          text: {
            type: "mrkdwn",
            text: clip(
              `Flagger takes \`${flaggerCanaryName(r.target)}\` through every remaining traffic increase of this revision without asking again (Halt still stops it; \`confirm-promotion\` still asks if the Canary has it).`,
              300,
            ),
          },
          confirm: { type: "plain_text", text: "Approve all" },
          deny: { type: "plain_text", text: "Cancel" },
        },
      });
    } else out.push(button("Approve", ACTION.advance, r, "primary"));
  }
  out.push(f.halted ? button("Resume", ACTION.resume, r) : button("Halt", ACTION.hold, r));
  out.push({
    ...button("Roll back", ACTION.abort, r, "danger"),
    confirm: {
      title: { type: "plain_text", text: "Roll back this canary?" },
      text: {
        type: "mrkdwn",
        text: clip(
          `At its next call of the rollback gate Flagger sends all traffic for \`${flaggerCanaryName(r.target)}\` back to the primary and scales the canary to zero.`,
          300,
        ),
      },
      confirm: { type: "plain_text", text: "Roll back" },
      deny: { type: "plain_text", text: "Cancel" },
      style: "danger",
    },
  });
  return out;
}

function increaseText(r: Rollout): string | undefined {
  const f = r.flagger!;
  const g = "confirm-traffic-increase";
  const all = f.opened.find((o) => o.gate === g && o.steps !== "one");
  if (all) return `:white_check_mark: \`${g}\`: every remaining step approved by <@${all.by}>`;
  const steps = f.opened.filter((o) => o.gate === g);
  const next = steps.find((o) => o.used === undefined);
  const done = steps.length - (next ? 1 : 0);
  const sofar = done ? ` (${done} step${done === 1 ? "" : "s"} approved so far, the last by <@${steps.filter((o) => o.used !== undefined).at(-1)!.by}>)` : "";
  if (next) return `:white_check_mark: \`${g}\`: next step approved by <@${next.by}>${sofar}`;
  if (f.waiting === g) return `:hourglass_flowing_sand: *\`${g}\` waiting*: Flagger asks to ${GATE_WORDS[g]}${sofar}`;
  return done ? `:white_check_mark: \`${g}\`${sofar}` : undefined;
}

function gatesText(r: Rollout): string {
  const f = r.flagger!;
  return CONFIRM_ORDER.map((g) => {
    const increase = g === "confirm-traffic-increase" ? increaseText(r) : undefined;
    if (increase) return increase;
    const opened = f.opened.find((o) => o.gate === g);
    if (opened) return `:white_check_mark: \`${g}\` approved by <@${opened.by}>`;
    if (f.waiting === g) return `:hourglass_flowing_sand: *\`${g}\` waiting*: Flagger asks to ${GATE_WORDS[g]}`;
    return `:white_circle: \`${g}\``;
  }).join("\n");
}

function statusText(r: Rollout): string {
  const f = r.flagger!;
  if (r.status === "completed") return ":white_check_mark: Succeeded: promoted to primary";
  if (r.status === "aborted") return `:x: ${escapeMrkdwn(r.problem ?? "ended")}`;
  if (f.rollback) return `:rewind: Roll back asked by <@${f.rollback.by}>: Flagger rolls back at its next call`;
  if (f.halted) return `:double_vertical_bar: Halted by <@${f.halted.by}>: every gate answers closed until Resume`;
  return `:large_blue_circle: ${escapeMrkdwn(f.phase || "Initializing")}`;
}

/** The canary weight as the Canary's status says (before the first reading: unknown). */
function weightText(r: Rollout): string {
  const c = r.flagger!.canary;
  if (!c) return "*?* (the Canary is not read yet)";
  const { weight, held } = canaryWeightOf(c);
  return `*${weight}%*${held ? " (held at maxWeight; the status reads 0 until promotion)" : ""}`;
}

/** What the last reading of the Canary adds: checks, iterations, the Promoted condition, the analysis settings. */
function canaryFields(c: CanaryReading): Block[] {
  const a = c.analysis;
  const ladder = a.stepWeight <= 0 && a.stepWeights.length ? `stepWeights ${a.stepWeights.join(", ")}` : `stepWeight ${a.stepWeight}`;
  const iterations = a.iterations > 0 ? `${c.iterations} of ${a.iterations}` : `${c.iterations}`;
  const cond = c.promoted
    ? `\nPromoted: ${escapeMrkdwn(c.promoted.status)}${c.promoted.message ? `: ${escapeMrkdwn(clip(c.promoted.message, 150))}` : ""}`
    : "";
  return [
    { type: "mrkdwn", text: `*Checks*\nfailed ${c.failedChecks} of ${a.threshold} · iterations ${iterations}${cond}` },
    {
      type: "mrkdwn",
      text: `*Analysis*\n${ladder} · maxWeight ${a.maxWeight} · threshold ${a.threshold} · interval ${escapeMrkdwn(clip(a.interval, 20))}${a.iterations > 0 ? ` · iterations ${a.iterations}` : ""}`,
    },
  ];
}

export function renderFlaggerMessage(r: Rollout): Rendered {
  const f = r.flagger!;
  const name = flaggerCanaryName(r.target);
  const blocks: Block[] = [
    { type: "header", text: { type: "plain_text", text: clip(`Flagger Canary ${name}: revision ${f.checksum}`, 150), emoji: true } },
    {
      type: "section",
      fields: [
        { type: "mrkdwn", text: `*Canary*\n\`${kubeNamespace(r.target)}/${name}\` (${r.id})` },
        { type: "mrkdwn", text: `*Status*\n${statusText(r)}` },
        { type: "mrkdwn", text: `*Phase (Flagger)*\n${escapeMrkdwn(f.phase || "?")} · canary weight ${weightText(r)}` },
        { type: "mrkdwn", text: `*Warnings*\n${f.warnings}${f.lastWarning ? `: ${escapeMrkdwn(clip(f.lastWarning, 200))}` : ""}` },
        ...(f.canary ? canaryFields(f.canary) : []),
      ],
    },
    { type: "section", text: { type: "mrkdwn", text: clip(`*Gates*\n${gatesText(r)}`, 3000) } },
  ];
  const buttons = flaggerButtons(r);
  if (buttons.length) blocks.push({ type: "actions", block_id: `rollout:${r.id}`, elements: buttons });
  if (r.endedAt) {
    const closer = r.last ? ` by ${actorText(r.last.actor)}` : "";
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: `Ended${closer} ${slackTime(r.endedAt)} after ${duration(r.endedAt - r.createdAt)}` }] });
  }
  const text = `Flagger Canary ${name} revision ${f.checksum}: ${f.phase || "?"}${f.waiting ? `, waiting at ${f.waiting}` : ""}`;
  return { text, blocks };
}

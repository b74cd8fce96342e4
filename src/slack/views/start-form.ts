import { parseDuration } from "../../engine/duration.ts";
import { dnsLabelProblem } from "../../engine/names.ts";
import { parseSteps } from "../../engine/plan.ts";
import type { Target } from "../../engine/target.ts";
import type { StartRefusal, StartRequest } from "../../app/start-types.ts";
import { clip } from "./format.ts";
import { durationProblemText, stepsProblemText } from "./problems.ts";
import { startRefusalText } from "./refusal.ts";

/**
 * The start form (a modal): the same start as `/rollout start`, picked from lists. Pure: building the view,
 * reading its submitted values, and placing a refusal next to the field it is about.
 */

export const START_FORM = "rollout.start-form";
/** The global shortcut's callback_id (declared in the app manifests). */
export const START_SHORTCUT = "rollout_new";

export const FIELD = {
  target: "target",
  version: "version",
  steps: "steps",
  mode: "mode",
  interval: "interval",
  deadline: "deadline",
  channel: "channel",
} as const;
type Field = (typeof FIELD)[keyof typeof FIELD];

type Block = Record<string, unknown>;
const plain = (text: string) => ({ type: "plain_text", text: clip(text, 75), emoji: true });

/** How one declared target shows in the list: its router, and its stable version when the file names it. */
export function targetOptionText(t: Target): string {
  const where = t.router === "namerd" ? "namerd" : `${t.router} in ${t.namespace}`;
  return `${t.name} (${where}, stable ${t.stable ?? "read from the mesh"})`;
}

export type StartFormInput = {
  targets: Target[];
  /** Where the form was opened (a slash command's channel); a shortcut has none, so the person picks one. */
  channelId?: string;
  /** Versions offered for the new version (Deployments found in the targets' namespaces), when known. */
  versions?: string[];
};

export function startFormView(input: StartFormInput): Record<string, unknown> {
  const targets = input.targets.slice(0, 100);
  const input_ = (field: Field, label: string, element: Block, opts: { optional?: boolean; hint?: string } = {}): Block => ({
    type: "input",
    block_id: field,
    label: plain(label),
    element: { ...element, action_id: field },
    ...(opts.optional ? { optional: true } : {}),
    ...(opts.hint ? { hint: { type: "plain_text", text: clip(opts.hint, 150) } } : {}),
  });
  const text = (placeholder: string) => ({ type: "plain_text_input", placeholder: plain(placeholder) });
  const versions = [...new Set(input.versions ?? [])].slice(0, 100);
  const blocks: Block[] = [
    targets.length
      ? input_(FIELD.target, "Target", {
          type: "static_select",
          placeholder: plain("Pick a declared target"),
          options: targets.map((t) => ({ text: plain(targetOptionText(t)), value: t.name })),
        })
      : input_(FIELD.target, "Target", text("e.g. backend-svc")),
    input_(FIELD.version, "New version", text(versions.length ? `e.g. ${versions[0]}` : "the new Deployment, e.g. backend-v2"), {
      hint: versions.length ? `Deployments found: ${versions.join(", ")}` : "The Deployment (or backend) that should get the traffic.",
    }),
    input_(FIELD.steps, "Steps (percent)", text("the target's plan, e.g. 10,50,100"), {
      optional: true,
      hint: "Strictly increasing, ending at 100. Empty: the target's own steps.",
    }),
    input_(FIELD.mode, "Mode", {
      type: "radio_buttons",
      options: [
        { text: plain("Manual: a person advances each step"), value: "manual" },
        { text: plain("Automatic: a step every interval while healthy"), value: "auto" },
      ],
      initial_option: { text: plain("Manual: a person advances each step"), value: "manual" },
    }),
    input_(FIELD.interval, "Interval (automatic only)", text("e.g. 10m"), { optional: true }),
    input_(FIELD.deadline, "Deadline", text("e.g. 2h"), { optional: true, hint: "Held or aborted (the target decides) if not finished by then." }),
    input_(FIELD.channel, "Post the rollout in", {
      type: "conversations_select",
      filter: { include: ["public", "private"], exclude_bot_users: true },
      ...(input.channelId ? { initial_conversation: input.channelId } : { default_to_current_conversation: true }),
    }),
  ];
  return {
    type: "modal",
    callback_id: START_FORM,
    title: plain("Start a rollout"),
    submit: plain("Start"),
    close: plain("Cancel"),
    blocks,
  };
}

/** What a submitted form asks for, or a message per field that is wrong (shown next to it). */
export type StartForm = { req: StartRequest; channelId: string };
export type FieldErrors = Partial<Record<Field, string>>;

type Values = Record<
  string,
  Record<string, { type?: string; value?: string | null; selected_option?: { value?: string } | null; selected_conversation?: string | null }>
>;

function read(values: Values, field: Field): string | undefined {
  const e = values[field]?.[field];
  const v = e?.selected_option?.value ?? e?.selected_conversation ?? e?.value ?? undefined;
  const s = typeof v === "string" ? v.trim() : undefined;
  return s ? s : undefined;
}

export function readStartForm(values: unknown): { ok: true; value: StartForm } | { ok: false; errors: FieldErrors } {
  const v = (typeof values === "object" && values !== null ? values : {}) as Values;
  const errors: FieldErrors = {};
  const target = read(v, FIELD.target);
  if (!target) errors.target = "Pick a target.";
  else if (dnsLabelProblem(target)) errors.target = `Not a valid Kubernetes name: it ${dnsLabelProblem(target)}.`;
  const to = read(v, FIELD.version);
  if (!to) errors.version = "Which version should get the traffic?";
  else if (dnsLabelProblem(to)) errors.version = `"${clip(to, 60)}" is not a valid Kubernetes name: it ${dnsLabelProblem(to)}.`;
  let steps: number[] | undefined;
  const stepsText = read(v, FIELD.steps);
  if (stepsText) {
    const s = parseSteps(stepsText);
    if (s.ok) steps = s.value;
    else errors.steps = plainWords(stepsProblemText(s.error));
  }
  const auto = read(v, FIELD.mode) === "auto";
  let autoMs: number | undefined;
  const intervalText = read(v, FIELD.interval);
  if (auto && !intervalText) errors.interval = "Automatic steps need an interval, e.g. 10m.";
  else if (intervalText && !auto) errors.interval = "An interval is only for automatic mode: clear it, or choose Automatic.";
  else if (intervalText) {
    const d = parseDuration(intervalText, { minMs: 5_000, maxMs: 24 * 3_600_000 });
    if (d.ok) autoMs = d.value;
    else errors.interval = plainWords(durationProblemText(d.error));
  }
  let deadlineMs: number | undefined;
  const deadlineText = read(v, FIELD.deadline);
  if (deadlineText) {
    const d = parseDuration(deadlineText, { minMs: 10_000, maxMs: 7 * 86_400_000 });
    if (d.ok) deadlineMs = d.value;
    else errors.deadline = plainWords(durationProblemText(d.error));
  }
  const channelId = read(v, FIELD.channel);
  if (!channelId) errors.channel = "Pick the channel where the rollout's message goes.";
  if (Object.keys(errors).length || !target || !to || !channelId) return { ok: false, errors };
  return {
    ok: true,
    value: {
      channelId,
      req: { target, to, ...(steps ? { steps } : {}), ...(autoMs !== undefined ? { autoMs } : {}), ...(deadlineMs !== undefined ? { deadlineMs } : {}) },
    },
  };
}

/** Field errors are plain text: drop the backticks of inline code. */
function plainWords(s: string): string {
  return clip(s.replace(/`/g, ""), 300);
}

/** Which field a refused start is about, and what to say there. */
export function startRefusalErrors(r: StartRefusal): FieldErrors {
  const text = plainWords(startRefusalText(r));
  switch (r.code) {
    case "already-stable":
    case "stable-required":
      return { version: text };
    case "no-metrics-for-auto":
      return { mode: text };
    case "denied":
      return r.why === "channel" ? { channel: text } : { target: text };
    default:
      return { target: text };
  }
}

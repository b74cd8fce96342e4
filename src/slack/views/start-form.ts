import { dnsLabelProblem } from "../../engine/names.ts";
import { imageProblem } from "../../engine/deploy.ts";
import { deployProblemText } from "./deploy-text.ts";
import { targetKey, targetKeyProblem } from "../../engine/target.ts";
import { parseSteps } from "../../engine/plan.ts";
import { kubeNamespace, type Target } from "../../engine/target.ts";
import { z } from "zod";
import { formatDuration, parseDuration } from "../../engine/duration.ts";
import type { NoVersionList, PickedTarget } from "../../app/start-form.ts";
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
/** The target select's action_id: picking a target sends a block_actions, and the form is rebuilt for it. */
export const PICK_TARGET = "rollout.form.target";

export const FIELD = {
  target: "target",
  version: "version",
  /** A typed name, next to the list of Deployments (for one the list does not show). */
  versionText: "version_text",
  /** `--image`: deploy the new version first (targets with `deploy: true`). */
  image: "image",
  steps: "steps",
  mode: "mode",
  interval: "interval",
  deadline: "deadline",
  /** A wave target's clusters, in order (`--clusters`). */
  clusters: "clusters",
  channel: "channel",
} as const;
type Field = (typeof FIELD)[keyof typeof FIELD];

/**
 * Fields whose content depends on the picked target. Slack keeps what a person entered in a block across
 * views.update while its block_id and action_id stay the same, and then ignores the new initial value: these
 * blocks are named `<field>:<target>`, so a prefill shows, and reading finds them by prefix.
 */
const PER_TARGET: ReadonlySet<Field> = new Set([FIELD.version, FIELD.versionText, FIELD.steps, FIELD.mode, FIELD.interval, FIELD.clusters]);

function blockIdOf(field: Field, target: string | undefined): string {
  return target && PER_TARGET.has(field) ? `${field}:${target}` : field;
}

type Block = Record<string, unknown>;
const plain = (text: string) => ({ type: "plain_text", text: clip(text, 75), emoji: true });

/** How one declared target shows in the list: its router, and its stable version when the file names it. */
export function targetOptionText(t: Target): string {
  const where = t.router === "namerd" ? "namerd" : `${t.router} in ${kubeNamespace(t)}`;
  return `${targetKey(t)} (${where}, stable ${t.stable ?? "read from the mesh"})`;
}

export type StartFormInput = {
  targets: Target[];
  /** Where the form was opened (a slash command's channel); a shortcut has none, so the person picks one. */
  channelId?: string;
  /** The target the person picked, with what the form prefills for it. */
  picked?: PickedTarget;
  /** A version the person had typed before picking the target: kept in the rebuilt form. */
  typedVersion?: string;
};

/** Why there is no list of versions, in a hint under the field (plain text). */
export function noVersionListText(why: NoVersionList, namespace: string): string {
  switch (why.code) {
    case "forbidden":
      return `I may not list the Deployments in namespace ${namespace} (the Kubernetes API said: ${why.message}). Type the name.`;
    case "timeout":
      return `The Kubernetes API did not list the Deployments in namespace ${namespace} within ${Math.round(why.timeoutMs / 100) / 10} s. Type the name.`;
    case "unreachable":
      return `I could not reach the Kubernetes API to list the Deployments in namespace ${namespace} (${why.message}). Type the name.`;
    case "failed":
      return `Listing the Deployments in namespace ${namespace} failed (HTTP ${why.status}: ${why.message}). Type the name.`;
    case "no-kube-api":
      return "This bot has no Kubernetes API to list Deployments from. Type the name.";
    case "none-found":
      return `Namespace ${namespace} has no Deployment besides the stable one. Type the name.`;
  }
}

export function startFormView(input: StartFormInput): Record<string, unknown> {
  const targets = input.targets.slice(0, 100);
  const picked = input.picked;
  // `shop`, or `shop@prod-eu`: the same name in two clusters is two choices, each submitting its own.
  const on = picked ? targetKey(picked.target) : undefined;
  const input_ = (
    field: Field,
    label: string,
    element: Block,
    opts: { optional?: boolean; hint?: string; dispatch?: boolean; actionId?: string } = {},
  ): Block => ({
    type: "input",
    block_id: blockIdOf(field, on),
    label: plain(label),
    element: { ...element, action_id: opts.actionId ?? field },
    ...(opts.dispatch ? { dispatch_action: true } : {}),
    ...(opts.optional ? { optional: true } : {}),
    ...(opts.hint ? { hint: { type: "plain_text", text: clip(opts.hint, 300) } } : {}),
  });
  const text = (placeholder: string, initial?: string) => ({
    type: "plain_text_input",
    placeholder: plain(placeholder),
    ...(initial ? { initial_value: initial } : {}),
  });
  const option = (t: Target) => ({ text: plain(targetOptionText(t)), value: targetKey(t) });
  const manual = { text: plain("Manual: a person advances each step"), value: "manual" };
  const auto = { text: plain("Automatic: a step every interval while healthy"), value: "auto" };
  const pickedOption = picked && targets.some((t) => targetKey(t) === on) ? option(picked.target) : undefined;
  const blocks: Block[] = [
    targets.length
      ? input_(
          FIELD.target,
          "Target",
          {
            type: "static_select",
            placeholder: plain("Pick a declared target"),
            options: targets.map(option),
            ...(pickedOption ? { initial_option: pickedOption } : {}),
          },
          { dispatch: true, actionId: PICK_TARGET },
        )
      : input_(FIELD.target, "Target", text("e.g. backend-svc")),
    ...versionBlocks(input, input_, text),
    input_(FIELD.image, "Image (deploy the new version first)", text("e.g. registry.example.com/world:2.0"), {
      optional: true,
      hint: "Targets with deploy: true: the bot copies the stable version's Deployment and Service with this image and waits for it. Leave the version empty for the next number.",
    }),
    input_(FIELD.steps, "Steps (percent)", text("the target's plan, e.g. 10,50,100", picked?.steps.join(",")), {
      optional: true,
      hint: picked
        ? "Strictly increasing, ending at 100. Prefilled with the target's plan."
        : "Strictly increasing, ending at 100. Empty: the target's own steps.",
    }),
    // A wave target: the clusters it runs through, prefilled with all of them in the file's order.
    ...(picked?.target.clusters
      ? [
          input_(FIELD.clusters, "Clusters, in order (a wave)", text("e.g. staging,prod-eu", picked.target.clusters.join(",")), {
            optional: true,
            hint: "The plan runs in each cluster in turn, with a gate between two. Pick and order among the target's own clusters.",
          }),
        ]
      : []),
    input_(FIELD.mode, "Mode", { type: "radio_buttons", options: [manual, auto], initial_option: picked?.autoMs !== undefined ? auto : manual }),
    input_(FIELD.interval, "Interval (automatic only)", text("e.g. 10m", picked?.autoMs !== undefined ? formatDuration(picked.autoMs) : undefined), {
      optional: true,
      ...(picked?.autoMs !== undefined ? { hint: "The target declares automatic steps at this interval." } : {}),
    }),
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
    // The rebuilt form (after a target is picked) keeps the channel it was opened in.
    ...(input.channelId ? { private_metadata: JSON.stringify({ channelId: input.channelId }) } : {}),
    blocks,
  };
}

type InputBuilder = (field: Field, label: string, element: Block, opts?: { optional?: boolean; hint?: string }) => Block;
type TextBuilder = (placeholder: string, initial?: string) => Block;

/**
 * The new version: before a target is picked, a name to type; then a list of the namespace's Deployments
 * with a text field for a name it does not show (both optional: one of them is needed, checked on
 * submission), or, without a list, the text field alone with a hint saying why.
 */
function versionBlocks(input: StartFormInput, input_: InputBuilder, text: TextBuilder): Block[] {
  const picked = input.picked;
  if (!picked)
    return [
      input_(FIELD.version, "New version", text("the new Deployment, e.g. backend-v2", input.typedVersion), {
        hint: "Pick a target first to choose from its Deployments.",
      }),
    ];
  const ns = kubeNamespace(picked.target);
  if (!picked.versions.ok)
    return [
      input_(FIELD.version, "New version", text("the new Deployment, e.g. backend-v2", input.typedVersion), {
        hint: noVersionListText(picked.versions.error, ns),
      }),
    ];
  const names = picked.versions.value.slice(0, 100);
  return [
    input_(
      FIELD.version,
      "New version",
      { type: "static_select", placeholder: plain(`A Deployment in ${ns}, newest first`), options: names.map((n) => ({ text: plain(n), value: n })) },
      { optional: true, hint: `Deployments in namespace ${ns}${picked.target.stable ? `, except the stable ${picked.target.stable}` : ""}.` },
    ),
    input_(FIELD.versionText, "Or type a name", text("a Deployment the list does not show", input.typedVersion), {
      optional: true,
      hint: "Pick from the list or type a name: one of the two.",
    }),
  ];
}

/** What a submitted form asks for, or a message per field that is wrong (shown next to it). */
export type StartForm = { req: StartRequest; channelId: string };
export type FieldErrors = Partial<Record<Field, string>>;

type ElementState = { type?: string; value?: string | null; selected_option?: { value?: string } | null; selected_conversation?: string | null };
type Values = Record<string, Record<string, ElementState>>;

function asValues(values: unknown): Values {
  return (typeof values === "object" && values !== null ? values : {}) as Values;
}

/** The block holding `field`: the one for the picked target, else the plain one, else any `<field>:…`. */
function blockOf(values: Values, field: Field, target: string | undefined): string | undefined {
  if (target && values[`${field}:${target}`]) return `${field}:${target}`;
  if (values[field]) return field;
  return Object.keys(values).find((k) => k.startsWith(`${field}:`));
}

function readBlock(values: Values, blockId: string | undefined): string | undefined {
  // One element per input block: read it whatever its action_id.
  const block = blockId ? values[blockId] : undefined;
  const e = block && typeof block === "object" ? Object.values(block)[0] : undefined;
  const v = e?.selected_option?.value ?? e?.selected_conversation ?? e?.value ?? undefined;
  const s = typeof v === "string" ? v.trim() : undefined;
  return s ? s : undefined;
}

function read(values: Values, field: Field, target?: string): string | undefined {
  return readBlock(values, blockOf(values, field, target));
}

/** A version the person typed (in either text field) before the form was rebuilt. */
export function typedVersion(values: unknown): string | undefined {
  const v = asValues(values);
  for (const field of [FIELD.versionText, FIELD.version]) {
    const id = blockOf(v, field, undefined);
    const e = id ? Object.values(v[id] ?? {})[0] : undefined;
    if (typeof e?.value === "string" && e.value.trim()) return e.value.trim();
  }
  return undefined;
}

/** The channel the form was opened in, as the form carries it (private_metadata). */
export function formChannel(privateMetadata: unknown): string | undefined {
  if (typeof privateMetadata !== "string" || !privateMetadata) return undefined;
  try {
    const parsed = FormMetadata.safeParse(JSON.parse(privateMetadata));
    return parsed.success ? parsed.data.channelId : undefined;
  } catch {
    return undefined;
  }
}
const FormMetadata = z.object({
  channelId: z
    .string()
    .regex(/^[CGD][A-Z0-9]+$/)
    .optional(),
});

/**
 * The submitted form as a start request. The new version comes from the list or the text field; when both
 * are filled and differ, the form asks the person to keep one rather than guess which they meant.
 */
export function readStartForm(values: unknown): { ok: true; value: StartForm } | { ok: false; errors: FieldErrors } {
  const v = asValues(values);
  const errors: FieldErrors = {};
  const target = read(v, FIELD.target);
  if (!target) errors.target = "Pick a target.";
  else if (targetKeyProblem(target)) errors.target = `Not a valid ${target.includes("@") ? "target" : "Kubernetes name"}: it ${targetKeyProblem(target)}.`;
  const listed = read(v, FIELD.version, target);
  const typed = read(v, FIELD.versionText, target);
  const to = typed ?? listed;
  const image = read(v, FIELD.image);
  const badImage = image !== undefined ? imageProblem(image) : undefined;
  if (badImage) errors.image = plainWords(deployProblemText(badImage));
  if (listed && typed && listed !== typed)
    errors.version_text = `You picked ${clip(listed, 60)} in the list and typed ${clip(typed, 60)}: keep one of the two.`;
  else if (!to && image === undefined) errors.version = "Which version should get the traffic?";
  else if (to && dnsLabelProblem(to))
    errors[typed ? "version_text" : "version"] = `"${clip(to, 60)}" is not a valid Kubernetes name: it ${dnsLabelProblem(to)}.`;
  let steps: number[] | undefined;
  const stepsText = read(v, FIELD.steps, target);
  if (stepsText) {
    const s = parseSteps(stepsText);
    if (s.ok) steps = s.value;
    else errors.steps = plainWords(stepsProblemText(s.error));
  }
  const mode = read(v, FIELD.mode, target);
  const auto = mode === "auto";
  let autoMs: number | undefined;
  const intervalText = read(v, FIELD.interval, target);
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
  let clusters: string[] | undefined;
  const clustersText = read(v, FIELD.clusters, target);
  if (clustersText) {
    clusters = clustersText.split(",").map((c) => c.trim());
    const bad = clusters.find((c) => dnsLabelProblem(c));
    if (bad !== undefined) errors.clusters = `"${clip(bad, 60)}" is not a cluster name: it ${dnsLabelProblem(bad)}.`;
  }
  const channelId = read(v, FIELD.channel);
  if (!channelId) errors.channel = "Pick the channel where the rollout's message goes.";
  if (Object.keys(errors).length || !target || (!to && image === undefined) || !channelId) return { ok: false, errors };
  return {
    ok: true,
    value: {
      channelId,
      req: {
        target,
        ...(to ? { to } : {}),
        ...(image !== undefined ? { image } : {}),
        ...(steps ? { steps } : {}),
        ...(autoMs !== undefined ? { autoMs } : {}),
        // Manual chosen in the form is manual, even for a target that declares automatic steps.
        ...(mode === "manual" ? { manual: true } : {}),
        ...(deadlineMs !== undefined ? { deadlineMs } : {}),
        ...(clusters ? { clusters } : {}),
      },
    },
  };
}

/**
 * Field errors keyed by the block_ids the submitted form has (Slack shows each under its block, and refuses
 * an answer naming a block the form does not have). An error about the version goes where the version came from.
 */
export function errorsForBlocks(values: unknown, errors: FieldErrors): Record<string, string> {
  const v = asValues(values);
  const target = read(v, FIELD.target);
  const out: Record<string, string> = {};
  for (const [field, message] of Object.entries(errors) as [Field, string][]) {
    const at = field === FIELD.version && read(v, FIELD.versionText, target) ? FIELD.versionText : field;
    out[blockOf(v, at, target) ?? blockOf(v, field, target) ?? field] = message;
  }
  return out;
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
    case "auto-too-fast":
      return { interval: text };
    case "denied":
      return r.why === "channel" ? { channel: text } : { target: text };
    case "channel-unseen":
      return { channel: text };
    case "wave-clusters":
      return r.flag ? { clusters: text } : { target: text };
    case "image-invalid":
    case "deploy-not-enabled":
      return { image: text };
    case "version-unnamed":
    case "deploy-cannot-name":
    case "to-required":
      return { version: text };
    default:
      return { target: text };
  }
}

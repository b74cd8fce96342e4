import { z } from "zod";
import type { Block } from "../peers/slack/workspace.ts";

/**
 * What the page may send about a view or an overflow menu, checked against what the bot drew: the state of
 * a modal's inputs as Slack puts it in `view.state.values`, a pick in a select, an overflow option. Pure.
 * A request naming something the view does not have is refused with words saying what, and sends nothing.
 */

const option = z.strictObject({ text: z.strictObject({ type: z.literal("plain_text"), text: z.string(), emoji: z.boolean().optional() }), value: z.string() });
const ElementState = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("plain_text_input"), value: z.string().max(3000).nullable() }),
  z.strictObject({ type: z.literal("static_select"), selected_option: option.nullable() }),
  z.strictObject({ type: z.literal("radio_buttons"), selected_option: option.nullable() }),
  z.strictObject({ type: z.literal("conversations_select"), selected_conversation: z.string().nullable() }),
]);
/** block_id -> action_id -> element state. */
export const ViewValues = z.record(z.string(), z.record(z.string(), ElementState));
export type ViewValues = z.infer<typeof ViewValues>;

type Element = { type?: string; action_id?: string; options?: { value?: string; text?: { text?: string } }[] };
type Input = { block_id?: string; type?: string; element?: Element; dispatch_action?: boolean };

const inputOf = (view: { blocks: Block[] }, blockId: string): Input | undefined =>
  (view.blocks as Input[]).find((b) => b.type === "input" && b.block_id === blockId);

/** Why `values` cannot be the state of this view's inputs (a block, action or option it does not have). */
export function enteredProblem(view: { blocks: Block[] }, values: ViewValues): string | undefined {
  for (const [blockId, byAction] of Object.entries(values)) {
    const input = inputOf(view, blockId);
    if (!input) return `the form has no field ${blockId}`;
    for (const [actionId, state] of Object.entries(byAction)) {
      if (actionId !== input.element?.action_id || state.type !== input.element.type) return `field ${blockId} has no ${state.type} ${actionId}`;
      if ("selected_option" in state && state.selected_option && !input.element.options?.some((o) => o.value === state.selected_option!.value))
        return `field ${blockId} offers no option ${state.selected_option.value}`;
    }
  }
  return undefined;
}

/** Why picking `value` in `blockId` would send nothing Slack sends (no such select, no dispatch_action, no such option). */
export function pickProblem(view: { blocks: Block[] }, blockId: string, value: string): string | undefined {
  const input = inputOf(view, blockId);
  if (input?.element?.type !== "static_select") return `the form has no select ${blockId}`;
  if (input.dispatch_action !== true) return `picking in ${blockId} sends nothing until the form is submitted`;
  if (!input.element.options?.some((o) => o.value === value)) return `${blockId} offers no option ${value}`;
  return undefined;
}

/** The overflow menu `actionId` in block `blockId` offering `value`, as the option's text and value. */
export function overflowOption(
  blocks: Block[],
  blockId: string,
  actionId: string,
  value: string,
): { action_id: string; block_id: string; text: string; value: string } | undefined {
  for (const b of blocks) {
    if (b.block_id !== blockId || !Array.isArray(b.elements)) continue;
    for (const e of b.elements as Element[]) {
      if (e.type !== "overflow" || e.action_id !== actionId) continue;
      const o = e.options?.find((x) => x.value === value);
      if (o) return { action_id: actionId, block_id: blockId, text: o.text?.text ?? "", value };
    }
  }
  return undefined;
}

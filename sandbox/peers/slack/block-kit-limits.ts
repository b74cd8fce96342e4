/**
 * Block Kit limits the local Slack enforces (PROTOCOLS.md section 8, from Slack's Block Kit reference).
 * Real Slack answers a violation with `invalid_blocks` and one `response_metadata.messages` line per
 * problem, shaped `[ERROR] <what> [json-pointer:/blocks/0/text/text]`; we mimic that shape so the bot's
 * error logging can be exercised, but the wording is ours.
 */
export const BLOCK_KIT_LIMITS = {
  blocksPerMessage: 50,
  sectionText: 3000,
  sectionFields: 10,
  sectionFieldText: 2000,
  headerText: 150,
  buttonText: 75,
  buttonValue: 2000,
  buttonUrl: 3000,
  actionId: 255,
  blockId: 255,
  actionsElements: 25,
  contextElements: 10,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  markdownBlockText: 12_000,
  altText: 2000,
  selectOptions: 100,
  overflowOptions: 5,
  /**
   * Whole message (top-level text plus every `text` string inside the blocks). Slack's real cut-off
   * for blocks is fuzzy (~13k, `msg_blocks_too_long`); the design asks the bot to stay under ~12k,
   * so the peer rejects above that to catch renderings that grow with the number of events.
   */
  messageChars: 12_000,
  /** Top-level `text` alone; Slack's documented hard limit for `msg_too_long`. */
  messageText: 40_000,
} as const;

export interface BlockKitViolation {
  pointer: string;
  message: string;
}

/** Format as Slack does in `response_metadata.messages`. */
export function formatViolation(v: BlockKitViolation): string {
  return `[ERROR] ${v.message} [json-pointer:${v.pointer}]`;
}

const BLOCK_TYPES = new Set([
  "section",
  "actions",
  "context",
  "divider",
  "header",
  "image",
  "markdown",
  "rich_text",
  "input",
  "file",
  "video",
  "call",
  "context_actions",
]);
const SELECT_TYPES = new Set([
  "static_select",
  "external_select",
  "users_select",
  "conversations_select",
  "channels_select",
  "multi_static_select",
  "multi_external_select",
  "multi_users_select",
  "multi_conversations_select",
  "multi_channels_select",
]);
const OTHER_INTERACTIVE = new Set([
  "datepicker",
  "timepicker",
  "datetimepicker",
  "checkboxes",
  "radio_buttons",
  "plain_text_input",
  "email_text_input",
  "url_text_input",
  "number_input",
  "rich_text_input",
  "workflow_button",
  "file_input",
  "feedback_buttons",
  "icon_button",
]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Validate a message's `blocks` array. Returns every violation found (empty = valid). Expects the
 * already-parsed array; a non-array is reported at `/blocks`.
 */
export function validateBlocks(blocks: unknown, opts: { maxBlocks?: number } = {}): BlockKitViolation[] {
  return new Checker(opts.maxBlocks ?? BLOCK_KIT_LIMITS.blocksPerMessage).run(blocks);
}

/** Modals and Home tabs take up to 100 blocks (messages 50). */
export const VIEW_MAX_BLOCKS = 100;

class Checker {
  private readonly out: BlockKitViolation[] = [];
  private readonly actionIds = new Map<string, string>();
  private readonly blockIds = new Map<string, string>();

  constructor(private readonly maxBlocks: number) {}

  run(blocks: unknown): BlockKitViolation[] {
    if (!Array.isArray(blocks)) {
      this.fail("/blocks", "must be an array");
      return this.out;
    }
    if (blocks.length > this.maxBlocks) {
      this.fail("/blocks", `no more than ${this.maxBlocks} items allowed`);
    }
    blocks.forEach((b, i) => this.block(b, `/blocks/${i}`));
    return this.out;
  }

  private fail(pointer: string, message: string): void {
    this.out.push({ pointer, message });
  }

  private maxLen(value: unknown, max: number, pointer: string, required = false): void {
    if (value === undefined) {
      if (required) this.fail(pointer, "missing required field");
      return;
    }
    if (typeof value !== "string") return this.fail(pointer, "must be a string");
    if (value.length > max) this.fail(pointer, `must be less than ${max + 1} characters`);
  }

  private textObject(value: unknown, pointer: string, opts: { max: number; plainOnly?: boolean; required?: boolean }): void {
    if (value === undefined) {
      if (opts.required) this.fail(pointer, "missing required field");
      return;
    }
    if (!isRecord(value)) return this.fail(pointer, "must be a text object");
    if (opts.plainOnly ? value.type !== "plain_text" : value.type !== "plain_text" && value.type !== "mrkdwn") {
      this.fail(`${pointer}/type`, opts.plainOnly ? "must be plain_text" : "must be plain_text or mrkdwn");
    }
    if (typeof value.text !== "string") return this.fail(`${pointer}/text`, "missing required field");
    if (value.text.length === 0) this.fail(`${pointer}/text`, "must be more than 0 characters");
    if (value.text.length > opts.max) this.fail(`${pointer}/text`, `must be less than ${opts.max + 1} characters`);
  }

  private block(b: unknown, p: string): void {
    // Slack: an action_id "should be unique among all other action_ids in the containing block" (a Home tab
    // lists several rollouts, each with its own Advance button).
    this.actionIds.clear();
    if (!isRecord(b) || typeof b.type !== "string") return this.fail(`${p}/type`, "missing required field");
    if (!BLOCK_TYPES.has(b.type)) return this.fail(`${p}/type`, `unsupported block type: ${b.type}`);
    if (b.block_id !== undefined) {
      this.maxLen(b.block_id, BLOCK_KIT_LIMITS.blockId, `${p}/block_id`);
      if (typeof b.block_id === "string") {
        const seen = this.blockIds.get(b.block_id);
        if (seen !== undefined) this.fail(`${p}/block_id`, `duplicate block_id "${b.block_id}" (first at ${seen})`);
        else this.blockIds.set(b.block_id, `${p}/block_id`);
      }
    }
    switch (b.type) {
      case "section": {
        this.textObject(b.text, `${p}/text`, { max: BLOCK_KIT_LIMITS.sectionText });
        if (b.fields !== undefined) {
          if (!Array.isArray(b.fields)) this.fail(`${p}/fields`, "must be an array");
          else {
            if (b.fields.length > BLOCK_KIT_LIMITS.sectionFields) {
              this.fail(`${p}/fields`, `no more than ${BLOCK_KIT_LIMITS.sectionFields} items allowed`);
            }
            b.fields.forEach((f, i) => this.textObject(f, `${p}/fields/${i}`, { max: BLOCK_KIT_LIMITS.sectionFieldText, required: true }));
          }
        }
        if (b.text === undefined && b.fields === undefined) this.fail(p, "must provide either text or fields");
        if (b.accessory !== undefined) this.element(b.accessory, `${p}/accessory`);
        break;
      }
      case "header":
        this.textObject(b.text, `${p}/text`, { max: BLOCK_KIT_LIMITS.headerText, plainOnly: true, required: true });
        break;
      case "actions": {
        if (!Array.isArray(b.elements)) return this.fail(`${p}/elements`, "missing required field");
        if (b.elements.length === 0) this.fail(`${p}/elements`, "must provide at least 1 item");
        if (b.elements.length > BLOCK_KIT_LIMITS.actionsElements) {
          this.fail(`${p}/elements`, `no more than ${BLOCK_KIT_LIMITS.actionsElements} items allowed`);
        }
        b.elements.forEach((e, i) => this.element(e, `${p}/elements/${i}`));
        break;
      }
      case "context": {
        if (!Array.isArray(b.elements)) return this.fail(`${p}/elements`, "missing required field");
        if (b.elements.length === 0) this.fail(`${p}/elements`, "must provide at least 1 item");
        if (b.elements.length > BLOCK_KIT_LIMITS.contextElements) {
          this.fail(`${p}/elements`, `no more than ${BLOCK_KIT_LIMITS.contextElements} items allowed`);
        }
        b.elements.forEach((e, i) => {
          const ep = `${p}/elements/${i}`;
          if (isRecord(e) && e.type === "image") this.image(e, ep);
          else this.textObject(e, ep, { max: BLOCK_KIT_LIMITS.sectionText, required: true });
        });
        break;
      }
      case "image":
        this.image(b, p);
        break;
      case "markdown":
        this.maxLen(b.text, BLOCK_KIT_LIMITS.markdownBlockText, `${p}/text`, true);
        break;
      case "input":
        this.textObject(b.label, `${p}/label`, { max: 2000, plainOnly: true, required: true });
        if (b.element === undefined) this.fail(`${p}/element`, "missing required field");
        else this.element(b.element, `${p}/element`);
        break;
      default:
        // divider, rich_text, file, video, call: nothing the bot is expected to get wrong.
        break;
    }
  }

  private image(e: Record<string, unknown>, p: string): void {
    if (e.image_url === undefined && e.slack_file === undefined) this.fail(`${p}/image_url`, "missing required field");
    this.maxLen(e.alt_text, BLOCK_KIT_LIMITS.altText, `${p}/alt_text`, true);
  }

  private actionId(e: Record<string, unknown>, p: string): void {
    if (e.action_id === undefined) return;
    this.maxLen(e.action_id, BLOCK_KIT_LIMITS.actionId, `${p}/action_id`);
    if (typeof e.action_id !== "string") return;
    const seen = this.actionIds.get(e.action_id);
    if (seen !== undefined) this.fail(`${p}/action_id`, `duplicate action_id "${e.action_id}" (first at ${seen})`);
    else this.actionIds.set(e.action_id, `${p}/action_id`);
  }

  private element(e: unknown, p: string): void {
    if (!isRecord(e) || typeof e.type !== "string") return this.fail(`${p}/type`, "missing required field");
    if (e.type === "image") return this.image(e, p);
    if (e.type === "button") {
      this.textObject(e.text, `${p}/text`, { max: BLOCK_KIT_LIMITS.buttonText, plainOnly: true, required: true });
      this.maxLen(e.value, BLOCK_KIT_LIMITS.buttonValue, `${p}/value`);
      this.maxLen(e.url, BLOCK_KIT_LIMITS.buttonUrl, `${p}/url`);
      if (e.style !== undefined && e.style !== "primary" && e.style !== "danger") {
        this.fail(`${p}/style`, "must be primary or danger");
      }
    } else if (SELECT_TYPES.has(e.type)) {
      if (Array.isArray(e.options) && e.options.length > BLOCK_KIT_LIMITS.selectOptions) {
        this.fail(`${p}/options`, `no more than ${BLOCK_KIT_LIMITS.selectOptions} items allowed`);
      }
      // Slack refuses an initial option that is not exactly one of the options.
      const same = (a: unknown, b: Record<string, unknown>) =>
        isRecord(a) && a.value === b.value && isRecord(a.text) && isRecord(b.text) && a.text.text === b.text.text;
      if (isRecord(e.initial_option) && Array.isArray(e.options) && !e.options.some((o) => same(o, e.initial_option as Record<string, unknown>))) {
        this.fail(`${p}/initial_option`, "must match one of the provided options");
      }
    } else if (e.type === "overflow") {
      if (!Array.isArray(e.options)) this.fail(`${p}/options`, "missing required field");
      else if (e.options.length < 2 || e.options.length > BLOCK_KIT_LIMITS.overflowOptions) {
        this.fail(`${p}/options`, `must provide between 2 and ${BLOCK_KIT_LIMITS.overflowOptions} items`);
      }
    } else if (!OTHER_INTERACTIVE.has(e.type)) {
      return this.fail(`${p}/type`, `unsupported element type: ${e.type}`);
    }
    this.actionId(e, p);
    if (e.confirm !== undefined) this.confirm(e.confirm, `${p}/confirm`);
  }

  private confirm(c: unknown, p: string): void {
    if (!isRecord(c)) return this.fail(p, "must be a confirmation dialog object");
    this.textObject(c.title, `${p}/title`, { max: BLOCK_KIT_LIMITS.confirmTitle, plainOnly: true, required: true });
    this.textObject(c.text, `${p}/text`, { max: BLOCK_KIT_LIMITS.confirmText, required: true });
    this.textObject(c.confirm, `${p}/confirm`, { max: BLOCK_KIT_LIMITS.confirmButton, plainOnly: true, required: true });
    this.textObject(c.deny, `${p}/deny`, { max: BLOCK_KIT_LIMITS.confirmButton, plainOnly: true, required: true });
    if (c.style !== undefined && c.style !== "primary" && c.style !== "danger") {
      this.fail(`${p}/style`, "must be primary or danger");
    }
  }
}

/** Characters a message carries: top-level text plus every `text` string inside its blocks. */
export function messageChars(text: string | undefined, blocks: unknown): number {
  let n = text?.length ?? 0;
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isRecord(v)) {
      for (const [k, child] of Object.entries(v)) {
        if (k === "text" && typeof child === "string") n += child.length;
        else walk(child);
      }
    }
  };
  walk(blocks);
  return n;
}

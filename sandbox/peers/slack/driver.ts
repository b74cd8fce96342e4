import { randomBytes } from "node:crypto";
import { signSlackRequest } from "./signing.ts";
import type { EnvelopeType, SocketModeServer } from "./socket-mode.ts";
import type { StoredView } from "./surfaces.ts";
import type { SlackPeer } from "./web-api.ts";

/**
 * Plays Slack toward the bot: signed slash commands and button clicks, shaped as Slack sends them.
 * Every request gets a fresh response_url from the peer, so whatever the bot posts back is visible
 * through `peer.responses(...)` / `peer.ephemeralsFor(...)`; so is a slash command's answer in its own
 * ack (Slack's immediate response, see SlackPeer.commandAnswered), once the driver has that answer.
 */

export interface SigningOptions {
  /** Send this X-Slack-Signature instead of the correct one. */
  signatureOverride?: string;
  /** Sign and send with this timestamp (seconds) instead of now, e.g. to replay an old request. */
  timestampOverride?: number;
  omitSignature?: boolean;
  omitTimestamp?: boolean;
  /** Sign the real body, then send a different one (a field appended), as a forger would. */
  tamperBody?: boolean;
  /** Content-Type to send instead of exactly `application/x-www-form-urlencoded`. */
  contentType?: string;
}

export interface DriverResponse {
  status: number;
  headers: Headers;
  /** Raw response text. */
  text: string;
  /** Parsed JSON when the bot answered JSON, else the text (undefined for an empty body). */
  body: unknown;
  /** The response_url that went with the request. */
  responseUrl: string;
  /** Exactly what was sent. */
  rawBody: string;
}

export interface SlashOptions extends SigningOptions {
  userId: string;
  channelId: string;
  text: string;
  command?: string;
}

export interface ClickButton {
  action_id: string;
  block_id: string;
  value?: string;
  text?: string;
}

export interface ClickOptions extends SigningOptions {
  userId: string;
  channelId: string;
  messageTs: string;
  button: ClickButton;
  /**
   * Click a button the current rendering no longer shows (a user whose client has not refreshed yet,
   * or a double click racing an update). Without it, clicking a button that is not in the message
   * throws, so tests cannot click things no user could see.
   */
  stale?: boolean;
  /** Pick this option of an overflow menu (the `button` names the overflow's action_id and block_id). */
  option?: { text: string; value: string };
}

export class SlackDriver {
  readonly botUrl: string;
  readonly teamId: string;
  readonly apiAppId: string;
  private readonly signingSecret: string;
  private readonly peer: SlackPeer;
  /** The deprecated verification token Slack still sends in every payload. */
  private readonly verificationToken = "verification-token-deprecated";

  /** When set, requests go to the bot as Socket Mode envelopes instead of signed HTTP POSTs. */
  private readonly socket: SocketModeServer | undefined;

  constructor(opts: { botUrl: string; signingSecret: string; peer: SlackPeer; teamId?: string; apiAppId?: string; socket?: SocketModeServer }) {
    this.botUrl = opts.botUrl;
    this.socket = opts.socket;
    this.signingSecret = opts.signingSecret;
    this.peer = opts.peer;
    this.teamId = opts.teamId ?? opts.peer.teamId;
    this.apiAppId = opts.apiAppId ?? opts.peer.appId;
  }

  /** A slash command, form-encoded in the field order Slack uses. */
  async slash(opts: SlashOptions): Promise<DriverResponse> {
    const user = this.peer.ensureUser(opts.userId);
    const channel = this.peer.ensureChannel(opts.channelId);
    this.peer.join(channel.id, user.id); // Slack takes commands and clicks only from people in the channel
    const responseUrl = this.peer.newResponseUrl({ channelId: channel.id, userId: user.id });
    const form = new URLSearchParams({
      token: this.verificationToken,
      team_id: this.teamId,
      team_domain: this.peer.teamDomain,
      channel_id: channel.id,
      channel_name: channel.is_im ? "directmessage" : channel.name,
      user_id: user.id,
      user_name: user.name,
      command: opts.command ?? "/rollout",
      text: opts.text,
      api_app_id: this.apiAppId,
      is_enterprise_install: "false",
      response_url: responseUrl,
      trigger_id: this.peer.surfaces.issueTrigger(user.id),
    });
    return this.post(form.toString(), responseUrl, opts);
  }

  /** A block_actions interaction for one button of a message in the peer's store. */
  async click(opts: ClickOptions): Promise<DriverResponse> {
    const user = this.peer.ensureUser(opts.userId);
    const channel = this.peer.ensureChannel(opts.channelId);
    this.peer.join(channel.id, user.id); // Slack takes commands and clicks only from people in the channel
    const message = this.peer.message(channel.id, opts.messageTs);
    const ephemeral = message ? undefined : this.peer.ephemeral(channel.id, opts.messageTs);
    if (!message && !ephemeral) throw new Error(`no message ${opts.messageTs} in ${channel.id} to click on`);
    if (ephemeral && ephemeral.user !== user.id) {
      throw new Error(`${user.id} cannot click an ephemeral message shown to ${ephemeral.user}`);
    }
    const shown = opts.option
      ? overflowIn(message?.blocks ?? [], opts.button, opts.option.value)
      : this.peer.buttons(channel.id, opts.messageTs).find((b) => b.action_id === opts.button.action_id && b.block_id === opts.button.block_id);
    if (!shown && !opts.stale) {
      throw new Error(`button ${opts.button.block_id}/${opts.button.action_id} is not in message ${opts.messageTs}; pass stale: true to click it anyway`);
    }
    const responseUrl = this.peer.newResponseUrl({
      channelId: channel.id,
      userId: user.id,
      messageTs: opts.messageTs,
      ephemeral: ephemeral !== undefined,
    });
    const text = opts.button.text ?? shown?.text ?? "";
    const value = opts.button.value ?? shown?.value;
    const payload: Record<string, unknown> = {
      type: "block_actions",
      user: { id: user.id, username: user.name, name: user.name, team_id: this.teamId },
      api_app_id: this.apiAppId,
      token: this.verificationToken,
      container: {
        type: "message",
        message_ts: opts.messageTs,
        channel_id: channel.id,
        is_ephemeral: ephemeral !== undefined,
        ...(message?.thread_ts && message.thread_ts !== message.ts ? { thread_ts: message.thread_ts } : {}),
      },
      trigger_id: this.peer.surfaces.issueTrigger(user.id),
      team: { id: this.teamId, domain: this.peer.teamDomain },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: channel.id, name: channel.is_im ? "directmessage" : channel.name },
      // Slack leaves `message` out for ephemeral messages: the bot only gets container + response_url.
      ...(message ? { message: this.peer.renderMessage(message) } : {}),
      state: { values: {} },
      response_url: responseUrl,
      actions: [
        opts.option
          ? {
              type: "overflow",
              action_id: opts.button.action_id,
              block_id: opts.button.block_id,
              selected_option: { text: { type: "plain_text", text: opts.option.text, emoji: true }, value: opts.option.value },
              action_ts: slackNowTs(),
            }
          : {
              type: "button",
              action_id: opts.button.action_id,
              block_id: opts.button.block_id,
              text: { type: "plain_text", text, emoji: true },
              ...(value !== undefined ? { value } : {}),
              ...(shown?.style ? { style: shown.style } : {}),
              action_ts: slackNowTs(),
            },
      ],
    };
    const form = new URLSearchParams({ payload: JSON.stringify(payload) });
    return this.post(form.toString(), responseUrl, opts);
  }

  /** Find a button by text/action_id in the stored message and click it. */
  async clickButton(opts: Omit<ClickOptions, "button"> & { matcher: Parameters<SlackPeer["findButton"]>[2] }): Promise<DriverResponse> {
    const button = this.peer.findButton(opts.channelId, opts.messageTs, opts.matcher);
    return this.click({ ...opts, button });
  }

  /** Over Socket Mode the peer's own side shows a slash command's answer (its ack payload) as it comes. */
  private overSocket(rawBody: string, responseUrl: string, contentType: string): Promise<DriverResponse> {
    return deliverOverSocket(this.socket!, rawBody, responseUrl, contentType);
  }

  /** A global shortcut (the lightning-bolt menu), as Slack sends it: no channel, a fresh trigger. */
  async shortcut(opts: SigningOptions & { userId: string; callbackId: string }): Promise<DriverResponse> {
    const user = this.peer.ensureUser(opts.userId);
    const payload = {
      type: "shortcut",
      token: this.verificationToken,
      action_ts: slackNowTs(),
      team: { id: this.teamId, domain: this.peer.teamDomain },
      user: { id: user.id, username: user.name, team_id: this.teamId },
      is_enterprise_install: false,
      enterprise: null,
      callback_id: opts.callbackId,
      trigger_id: this.peer.surfaces.issueTrigger(user.id),
    };
    return this.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), "", opts);
  }

  /**
   * Submit a modal the bot opened for `userId`, with `values` as Slack puts them in `view.state.values`
   * (block_id -> action_id -> element state). The bot's answer (`response_action`) is the response body.
   */
  async submitView(opts: SigningOptions & { userId: string; viewId: string; values: Record<string, Record<string, unknown>> }): Promise<DriverResponse> {
    const user = this.peer.ensureUser(opts.userId);
    const view = this.peer.surfaces.views.get(opts.viewId);
    if (!view || view.type !== "modal") throw new Error(`no modal ${opts.viewId} to submit`);
    if (view.user !== user.id) throw new Error(`${user.id} cannot submit a modal shown to ${view.user}`);
    const payload = {
      type: "view_submission",
      team: { id: this.teamId, domain: this.peer.teamDomain },
      user: { id: user.id, username: user.name, name: user.name, team_id: this.teamId },
      api_app_id: this.apiAppId,
      token: this.verificationToken,
      trigger_id: this.peer.surfaces.issueTrigger(user.id),
      view: this.peer.surfaces.render(view, opts.values),
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    };
    return this.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), "", opts);
  }

  /**
   * A button clicked inside a view (the App Home tab or a modal): `container.type` is `view`, with no channel
   * and no response_url, as Slack sends it.
   */
  async clickInView(opts: SigningOptions & { userId: string; viewId: string; button: ClickButton; option?: { value: string } }): Promise<DriverResponse> {
    const user = this.peer.ensureUser(opts.userId);
    const view = this.peer.surfaces.views.get(opts.viewId);
    if (!view || view.user !== user.id) throw new Error(`${user.id} sees no view ${opts.viewId}`);
    const shown = opts.option
      ? overflowIn(view.blocks, opts.button, opts.option.value)
      : viewButtons(view.blocks).find((b) => b.action_id === opts.button.action_id && b.block_id === opts.button.block_id);
    if (!shown) throw new Error(`${opts.option ? "overflow option" : "button"} ${opts.button.block_id}/${opts.button.action_id} is not in view ${opts.viewId}`);
    const payload = this.viewActionPayload(user, view, [
      opts.option
        ? {
            type: "overflow",
            action_id: shown.action_id,
            block_id: shown.block_id,
            selected_option: { text: { type: "plain_text", text: shown.text, emoji: true }, value: opts.option.value },
            action_ts: slackNowTs(),
          }
        : {
            type: "button",
            action_id: shown.action_id,
            block_id: shown.block_id,
            text: { type: "plain_text", text: shown.text, emoji: true },
            ...(shown.value !== undefined ? { value: shown.value } : {}),
            action_ts: slackNowTs(),
          },
    ]);
    return this.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), "", opts);
  }

  /** A block_actions payload from a view (a modal or the Home tab), as Slack sends one. */
  private viewActionPayload(user: { id: string; name: string }, view: StoredView, actions: unknown[]) {
    return {
      type: "block_actions",
      user: { id: user.id, username: user.name, name: user.name, team_id: this.teamId },
      api_app_id: this.apiAppId,
      token: this.verificationToken,
      container: { type: "view", view_id: view.id },
      trigger_id: this.peer.surfaces.issueTrigger(user.id),
      team: { id: this.teamId, domain: this.peer.teamDomain },
      enterprise: null,
      is_enterprise_install: false,
      view: this.peer.surfaces.render(view),
      actions,
    };
  }

  /**
   * Pick an option of a static_select in a view's input block, as a person does in a modal. Slack sends a
   * block_actions for it only when the input block has `dispatch_action: true` (otherwise the choice just
   * waits for the submission): without it this throws, so a test cannot get a request Slack would not send.
   * `values`: what the person entered elsewhere in the form first; it stays in the view (see Surfaces.enter).
   */
  async pickInView(
    opts: SigningOptions & { userId: string; viewId: string; blockId: string; value: string; values?: Record<string, Record<string, unknown>> },
  ): Promise<DriverResponse> {
    const user = this.peer.ensureUser(opts.userId);
    const view = this.peer.surfaces.views.get(opts.viewId);
    if (!view || view.user !== user.id) throw new Error(`${user.id} sees no view ${opts.viewId}`);
    const block = view.blocks.find((b) => b.block_id === opts.blockId);
    const element = block?.element as { type?: string; action_id?: string; options?: Array<{ text?: { text?: string }; value?: string }> } | undefined;
    if (!block || block.type !== "input" || element?.type !== "static_select") throw new Error(`no static_select input ${opts.blockId} in view ${opts.viewId}`);
    if (block.dispatch_action !== true) throw new Error(`input ${opts.blockId} has no dispatch_action: Slack sends nothing when it is picked`);
    const option = element.options?.find((o) => o.value === opts.value);
    if (!option) throw new Error(`${opts.blockId} offers no option ${opts.value}`);
    const selected = { text: { type: "plain_text", text: option.text?.text ?? "", emoji: true }, value: opts.value };
    // What the person entered stays in the view (Slack's client keeps it), as does the pick itself.
    this.peer.surfaces.enter(view.id, {
      ...opts.values,
      [opts.blockId]: { [String(element.action_id)]: { type: "static_select", selected_option: selected } },
    });
    const payload = this.viewActionPayload(user, view, [
      { type: "static_select", action_id: element.action_id, block_id: opts.blockId, selected_option: selected, action_ts: slackNowTs() },
    ]);
    return this.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), "", opts);
  }

  /** The Events API's `app_home_opened` (JSON), as when `userId` opens the app's Home tab. */
  async homeOpened(opts: SigningOptions & { userId: string }): Promise<DriverResponse> {
    const user = this.peer.ensureUser(opts.userId);
    const home = this.peer.surfaces.homeOf(user.id);
    const body = {
      token: this.verificationToken,
      team_id: this.teamId,
      api_app_id: this.apiAppId,
      event: {
        type: "app_home_opened",
        user: user.id,
        channel: `D${user.id.slice(1)}`,
        tab: "home",
        ...(home ? { view: this.peer.surfaces.render(home) } : {}),
        event_ts: slackNowTs(),
      },
      type: "event_callback",
      event_id: `Ev${randomBytes(5).toString("hex").toUpperCase()}`,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: this.teamId, user_id: this.peer.botUserId, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
    };
    return this.post(JSON.stringify(body), "", { contentType: "application/json", ...opts });
  }

  /** POST a raw body to the bot, signed as Slack would sign it (or not, per the options). */
  async post(rawBody: string, responseUrl: string, opts: SigningOptions = {}): Promise<DriverResponse> {
    if (this.socket) return this.overSocket(rawBody, responseUrl, opts.contentType ?? "application/x-www-form-urlencoded");
    const timestamp = opts.timestampOverride ?? Math.floor(Date.now() / 1000);
    const signature = opts.signatureOverride ?? signSlackRequest(this.signingSecret, timestamp, rawBody);
    const sent = opts.tamperBody ? `${rawBody}&tampered=1` : rawBody;
    // A string body keeps the Content-Type exactly as given; URLSearchParams would make fetch append
    // ";charset=UTF-8", which Bolt's receiver does not recognise as a form.
    const headers: Record<string, string> = {
      "content-type": opts.contentType ?? "application/x-www-form-urlencoded",
      "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    };
    if (!opts.omitTimestamp) headers["x-slack-request-timestamp"] = String(timestamp);
    if (!opts.omitSignature) headers["x-slack-signature"] = signature;
    const res = await fetch(this.botUrl, { method: "POST", headers, body: sent });
    const text = await res.text();
    if (responseUrl && isSlashCommand(sent, headers["content-type"]!)) {
      this.peer.commandAnswered(responseUrl, { status: res.status, contentType: res.headers.get("content-type") ?? "", text });
    }
    let body: unknown = text === "" ? undefined : text;
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        /* not JSON: keep the text */
      }
    }
    return { status: res.status, headers: res.headers, text, body, responseUrl, rawBody: sent };
  }
}

/** Whether Slack would be sending a slash command: a plain form naming a command (an interaction's is a `payload`). */
function isSlashCommand(rawBody: string, contentType: string): boolean {
  if (!contentType.startsWith("application/x-www-form-urlencoded")) return false;
  const form = new URLSearchParams(rawBody);
  return form.has("command") && !form.has("payload");
}

/** The same request as an envelope: its payload is what the HTTP body carried, parsed (no signature). */
async function deliverOverSocket(socket: SocketModeServer, rawBody: string, responseUrl: string, contentType: string): Promise<DriverResponse> {
  let type: EnvelopeType;
  let payload: unknown;
  if (contentType.startsWith("application/json")) {
    type = "events_api";
    payload = JSON.parse(rawBody);
  } else {
    const form = Object.fromEntries(new URLSearchParams(rawBody));
    type = typeof form.payload === "string" ? "interactive" : "slash_commands";
    payload = typeof form.payload === "string" ? JSON.parse(form.payload) : form;
  }
  const ack = await socket.deliver(type, payload);
  const text = ack.payload === undefined ? "" : JSON.stringify(ack.payload);
  return { status: 200, headers: new Headers(), text, body: ack.payload, responseUrl, rawBody };
}

/** The overflow menu offering that option, as a rendered button (undefined when the message has none). */
function overflowIn(
  blocks: Record<string, unknown>[],
  at: ClickButton,
  value: string,
): { action_id: string; block_id: string; text: string; value: string; style?: string } | undefined {
  for (const b of blocks) {
    if (b.block_id !== at.block_id || !Array.isArray(b.elements)) continue;
    for (const e of b.elements as Record<string, unknown>[]) {
      if (e.type !== "overflow" || e.action_id !== at.action_id || !Array.isArray(e.options)) continue;
      const o = (e.options as Array<{ value?: string; text?: { text?: string } }>).find((x) => x.value === value);
      if (o) return { action_id: at.action_id, block_id: at.block_id, text: o.text?.text ?? "", value };
    }
  }
  return undefined;
}

function slackNowTs(): string {
  const micros = Date.now() * 1000 + Math.floor(Math.random() * 1000);
  return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, "0")}`;
}

/** Buttons in a view's blocks (actions blocks and section accessories), with their block ids. */
export function viewButtons(blocks: Record<string, unknown>[]): Array<{ action_id: string; block_id: string; text: string; value?: string }> {
  const out: Array<{ action_id: string; block_id: string; text: string; value?: string }> = [];
  const take = (e: unknown, blockId: string) => {
    const el = e as { type?: string; action_id?: string; value?: string; text?: { text?: string } };
    if (el?.type !== "button") return;
    out.push({ action_id: String(el.action_id), block_id: blockId, text: el.text?.text ?? "", ...(el.value !== undefined ? { value: el.value } : {}) });
  };
  for (const b of blocks) {
    const blockId = String(b.block_id);
    if (b.type === "actions" && Array.isArray(b.elements)) b.elements.forEach((e) => take(e, blockId));
    if (b.type === "section") take(b.accessory, blockId);
  }
  return out;
}

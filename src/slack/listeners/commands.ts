import type { App } from "@slack/bolt";
import { runCommand } from "../../../commands/index.ts";
import type { AppDeps } from "../../app/deps.ts";
import { ackAfter } from "./ack.ts";

/**
 * `/rollout ...`: run it, ack once its decision is recorded (ackAfter: at most 2 s, Slack allows 3), then
 * answer privately through response_url.
 */
export function registerCommandListeners(app: App, deps: AppDeps): void {
  app.command("/rollout", ({ command, ack, respond }) => ackAfter(ack, async (acked) => {
    const caller = { userId: command.user_id, channelId: command.channel_id, responseUrl: command.response_url };
    try {
      const reply = await runCommand(deps, caller, command.text ?? "");
      await acked();
      await respond({ response_type: "ephemeral", text: reply.text, ...(reply.blocks ? { blocks: reply.blocks as never } : {}) });
    } catch (err) {
      deps.log.error({ err, text: command.text }, "command failed");
      await acked();
      await respond({ response_type: "ephemeral", text: ":warning: Something went wrong on my side running that command; nothing was changed by it. The error is in the bot's log." });
    }
  }));
}

import type { App } from "@slack/bolt";
import { runCommand } from "../../../commands/index.ts";
import type { AppDeps } from "../../app/deps.ts";

/** `/rollout ...`: ack at once (Slack allows 3 s), then answer privately through response_url. */
export function registerCommandListeners(app: App, deps: AppDeps): void {
  app.command("/rollout", async ({ command, ack, respond }) => {
    await ack();
    const caller = { userId: command.user_id, channelId: command.channel_id, responseUrl: command.response_url };
    try {
      const reply = await runCommand(deps, caller, command.text ?? "");
      await respond({ response_type: "ephemeral", text: reply.text, ...(reply.blocks ? { blocks: reply.blocks as never } : {}) });
    } catch (err) {
      deps.log.error({ err, text: command.text }, "command failed");
      await respond({ response_type: "ephemeral", text: ":warning: Something went wrong on my side running that command; nothing was changed by it. The error is in the bot's log." });
    }
  });
}

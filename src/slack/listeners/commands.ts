import type { App } from "@slack/bolt";
import { runCommand } from "../../../commands/index.ts";
import type { AppDeps } from "../../app/deps.ts";
import { asksForForm, openStartForm } from "./start-form.ts";

/** `/rollout ...`: ack at once (Slack allows 3 s), then answer privately through response_url. */
export function registerCommandListeners(app: App, deps: AppDeps): void {
  app.command("/rollout", async ({ command, ack, respond, client }) => {
    await ack();
    if (asksForForm(command.text ?? "")) {
      try {
        return await openStartForm(deps, client, command.trigger_id, command.channel_id);
      } catch (err) {
        deps.log.error({ err }, "could not open the start form");
        return void (await respond({ response_type: "ephemeral", text: ":warning: I could not open the start form; `/rollout start <target> --to <version>` does the same. The error is in the bot's log." }));
      }
    }
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

import type { App, RespondArguments } from "@slack/bolt";
import { runCommand } from "../../../commands/index.ts";
import type { AppDeps } from "../../app/deps.ts";
import { ackAfter } from "./ack.ts";
import { asksForForm, openStartForm } from "./start-form.ts";

/**
 * `/rollout ...`: run it, ack once its decision is recorded (ackAfter: at most 2 s, Slack allows 3), and
 * answer privately in the ack itself: Slack shows a slash command's 200 body as it shows a response_url post,
 * and a second request per command was a quarter of an ack's CPU under load (issue 24). Only when the safety
 * ack already went (a slow command) does the answer go to response_url.
 */
export function registerCommandListeners(app: App, deps: AppDeps): void {
  app.command("/rollout", ({ command, ack, respond, client }) =>
    ackAfter<RespondArguments>(ack, async (acked) => {
      const answer = async (reply: RespondArguments) => {
        if (!(await acked(reply))) await respond(reply);
      };
      if (asksForForm(command.text ?? "")) {
        // Opening a form records nothing: ack first, then open it while the trigger is fresh.
        await acked();
        try {
          return await openStartForm(deps, client, command.trigger_id, command.channel_id);
        } catch (err) {
          deps.log.error({ err }, "could not open the start form");
          return void (await respond({
            response_type: "ephemeral",
            text: ":warning: I could not open the start form; `/rollout start <target> --to <version>` does the same. The error is in the bot's log.",
          }));
        }
      }
      const caller = { userId: command.user_id, channelId: command.channel_id, responseUrl: command.response_url };
      try {
        const reply = await runCommand(deps, caller, command.text ?? "");
        await answer({ response_type: "ephemeral", text: reply.text, ...(reply.blocks ? { blocks: reply.blocks as never } : {}) });
      } catch (err) {
        deps.log.error({ err, text: command.text }, "command failed");
        await answer({
          response_type: "ephemeral",
          text: ":warning: Something went wrong on my side running that command; nothing was changed by it. The error is in the bot's log.",
        });
      }
    }),
  );
}

import type { App, BlockButtonAction } from "@slack/bolt";
import { z } from "zod";
import { act, type ActionKind } from "../../control/act.ts";
import type { CommandDeps } from "../../../commands/types.ts";
import { ACTION } from "../views/rollout-message.ts";

const KIND_BY_ACTION: Record<string, ActionKind> = {
  [ACTION.advance]: "advance",
  [ACTION.finish]: "finish",
  [ACTION.abort]: "abort",
  [ACTION.hold]: "hold",
  [ACTION.resume]: "resume",
  [ACTION.reapply]: "reapply",
  [ACTION.adopt]: "adopt",
};

/** What our own buttons carry: `<rollout id>|<step index the person saw>`. Anything else is refused. */
const ButtonValue = z.string().max(300).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?#\d{1,9}\|-?\d{1,3}$/);

/** Button clicks on a rollout message: ack, one compare-and-set transition, a private word if refused. */
export function registerActionListeners(app: App, deps: CommandDeps): void {
  app.action<BlockButtonAction>(/^rollout\.(?!refresh$)/, async ({ action, body, ack, respond }) => {
    await ack();
    const kind = KIND_BY_ACTION[action.action_id];
    const value = ButtonValue.safeParse(action.value);
    const tell = (text: string) => respond({ response_type: "ephemeral", replace_original: false, text });
    if (!kind || !value.success) {
      deps.log.warn({ actionId: action.action_id, value: action.value }, "unrecognised button");
      await tell(":x: I do not recognise that button; nothing was changed.");
      return;
    }
    const [id, step] = value.data.split("|") as [string, string];
    try {
      const result = await act(deps, { kind: "user", id: body.user.id }, kind, id, Number(step), { channelId: body.channel?.id, via: "button" });
      if (!result.ok) await tell(`${result.denied ? ":no_entry:" : ":information_source:"} ${result.reason}`);
    } catch (err) {
      deps.log.error({ err, rolloutId: id, kind }, "button failed");
      await tell(":warning: Something went wrong on my side; nothing was changed. The error is in the bot's log.");
    }
  });
}

import type { App, BlockButtonAction } from "@slack/bolt";
import { z } from "zod";
import type { CommandDeps } from "../../../commands/types.ts";
import { ACTION } from "../views/rollout-message.ts";

const RefreshValue = z.string().max(300).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?#\d{1,9}\|-?\d{1,3}$/);

/** Refresh asks for a success-rate reading now; it changes no state, so anyone may press it. */
export function registerRefreshListener(app: App, deps: CommandDeps): void {
  app.action<BlockButtonAction>(ACTION.refresh, async ({ action, ack, respond }) => {
    await ack();
    const value = RefreshValue.safeParse(action.value);
    if (!value.success) {
      await respond({ response_type: "ephemeral", replace_original: false, text: ":x: I do not recognise that button; nothing was changed." });
      return;
    }
    const id = value.data.split("|")[0]!;
    await deps.queue.snapshot(id, { refresh: true, now: deps.now() });
  });
}

import type { App } from "@slack/bolt";
import type { WebClient } from "@slack/web-api";
import type { AppDeps } from "../../app/deps.ts";
import { startRollout } from "../../app/start.ts";
import { readStartForm, START_FORM, START_SHORTCUT, startFormView, startRefusalErrors } from "../views/start-form.ts";

/**
 * The start form: `/rollout` (or `/rollout new`) and the global shortcut open it; its submission runs exactly
 * the start the command runs (`startRollout`, audited "via modal"). Anything wrong is answered inside the
 * form, next to the field, and nothing is created.
 */
export function registerStartForm(app: App, deps: AppDeps): void {
  app.shortcut(START_SHORTCUT, async ({ ack, shortcut, client }) => {
    await ack();
    await openStartForm(deps, client, shortcut.trigger_id);
  });

  app.view(START_FORM, async ({ ack, body, view }) => {
    const form = readStartForm(view.state.values);
    if (!form.ok) return void (await ack({ response_action: "errors", errors: form.errors as Record<string, string> }));
    const { req, channelId } = form.value;
    try {
      const out = await startRollout(deps, { userId: body.user.id, channelId }, req, "modal");
      if (!out.ok) return void (await ack({ response_action: "errors", errors: startRefusalErrors(out.error) as Record<string, string> }));
      await ack(); // closes the form; the rollout's message appears in the channel once the mesh accepted it
    } catch (err) {
      deps.log.error({ err }, "start form failed");
      await ack({ response_action: "errors", errors: { target: "Something went wrong on my side; nothing was started. The error is in the bot's log." } });
    }
  });
}

/** Whether a `/rollout` text asks for the form rather than a typed command. */
export function asksForForm(text: string): boolean {
  const t = text.trim().toLowerCase();
  return t === "" || t === "new";
}

export async function openStartForm(deps: AppDeps, client: WebClient, triggerId: string, channelId?: string): Promise<void> {
  const targets = [...deps.catalog.targets.values()].sort((a, b) => a.name.localeCompare(b.name));
  await client.views.open({ trigger_id: triggerId, view: startFormView({ targets, ...(channelId ? { channelId } : {}) }) as never });
}

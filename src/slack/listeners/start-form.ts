import type { App, BlockStaticSelectAction } from "@slack/bolt";
import type { WebClient } from "@slack/web-api";
import type { AppDeps } from "../../app/deps.ts";
import { startRollout } from "../../app/start.ts";
import { pickedTarget } from "../../app/start-form.ts";
import {
  errorsForBlocks,
  formChannel,
  PICK_TARGET,
  readStartForm,
  START_FORM,
  START_SHORTCUT,
  startFormView,
  startRefusalErrors,
  typedVersion,
} from "../views/start-form.ts";

/**
 * The start form: `/rollout` (or `/rollout new`) and the global shortcut open it; picking a target rebuilds it
 * for that target (its Deployments as versions, its steps and interval prefilled); its submission runs exactly
 * the start the command runs (`startRollout`, audited "via modal"). Anything wrong is answered inside the
 * form, next to the field, and nothing is created.
 */
export function registerStartForm(app: App, deps: AppDeps): void {
  app.shortcut(START_SHORTCUT, async ({ ack, shortcut, client }) => {
    await ack();
    await openStartForm(deps, client, shortcut.trigger_id);
  });

  app.action<BlockStaticSelectAction>({ action_id: PICK_TARGET, callback_id: START_FORM }, async ({ ack, body, action, client }) => {
    await ack(); // nothing is decided here: the form is only rebuilt
    const view = body.view;
    if (!view) return;
    try {
      const picked = await pickedTarget(deps, action.selected_option?.value ?? "");
      const channelId = formChannel(view.private_metadata);
      const typed = typedVersion(view.state?.values);
      const next = startFormView({
        targets: declaredTargets(deps),
        ...(channelId ? { channelId } : {}),
        ...(picked ? { picked } : {}),
        ...(typed ? { typedVersion: typed } : {}),
      });
      // The hash makes Slack refuse this update if the form changed meanwhile (a later pick already rebuilt it).
      await client.views.update({ view_id: view.id, hash: view.hash, view: next as never });
    } catch (err) {
      if (slackError(err) === "hash_conflict") return deps.log.debug({ viewId: view.id }, "start form changed meanwhile; a later pick rebuilds it");
      deps.log.error({ err }, "could not rebuild the start form for the picked target");
    }
  });

  app.view(START_FORM, async ({ ack, body, view }) => {
    const values = view.state.values;
    const form = readStartForm(values);
    if (!form.ok) return void (await ack({ response_action: "errors", errors: errorsForBlocks(values, form.errors) }));
    const { req, channelId } = form.value;
    try {
      const out = await startRollout(deps, { userId: body.user.id, channelId }, req, "modal");
      if (!out.ok) return void (await ack({ response_action: "errors", errors: errorsForBlocks(values, startRefusalErrors(out.error)) }));
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

function declaredTargets(deps: AppDeps) {
  return [...deps.catalog.targets.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, t]) => t);
}

export async function openStartForm(deps: AppDeps, client: WebClient, triggerId: string, channelId?: string): Promise<void> {
  await client.views.open({ trigger_id: triggerId, view: startFormView({ targets: declaredTargets(deps), ...(channelId ? { channelId } : {}) }) as never });
}

/** Slack's own refusal code (`{ok:false,error}`), if that is what failed. */
function slackError(err: unknown): string | undefined {
  const e = err as { code?: string; data?: { error?: string } };
  return e?.code === "slack_webapi_platform_error" ? e.data?.error : undefined;
}

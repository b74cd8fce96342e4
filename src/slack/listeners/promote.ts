import type { App, BlockOverflowAction } from "@slack/bolt";
import { act } from "../../app/act.ts";
import { requestChart } from "../../app/chart.ts";
import type { AppDeps } from "../../app/deps.ts";
import { rolloutById } from "../../app/refresh.ts";
import { canSeeRollout } from "../../app/visibility.ts";
import { isDenied } from "../../engine/refusal.ts";
import { MORE, PROMOTE_CONFIRM, promoteConfirmView, promoteRefusedView, readMoreOption, readPromoteMeta } from "../views/promote.ts";
import { rateLimitedText, refusalText } from "../views/refusal.ts";
import { aboutRollout, auditClickOf, parseButtonValue, quote, readClick, type ClickArgs } from "./click.ts";

/**
 * The message's overflow menu: "Skip to 100%" opens a confirm dialog (the risk and the current verdict);
 * confirming it is one decision through the app layer (`promote`: the right to finish, the second approver),
 * audited like any other. "Post the success-rate chart" asks for the picture in the thread.
 */
export function registerPromoteListeners(app: App, deps: AppDeps): void {
  app.action<BlockOverflowAction>(MORE, async (args) => {
    await args.ack();
    const click = readClick(args as unknown as ClickArgs, deps);
    const audit = auditClickOf(deps, click);
    const option = readMoreOption(click.value);
    const parsed = option ? parseButtonValue(option.value) : undefined;
    const action = option?.what === "chart" ? "chart" : "promote";
    if (!click.userId || !option || !parsed) {
      await audit({ action, outcome: "refused", reason: "the menu pick names no user, rollout or step" });
      return click.tell(`:x: I do not recognise that menu option (${quote(click.value)}); nothing was changed.`);
    }
    try {
      // The dialog tells the rollout's state and the chart is posted in its thread: a rollout of a channel
      // the person cannot see is answered as if it did not exist, like every other read.
      const found = await rolloutById(deps, parsed.id);
      const r = found && (await canSeeRollout(deps, click.userId, found)) ? found : undefined;
      if (!r) {
        await audit({ action, outcome: "refused", reason: `there is no rollout ${parsed.id}` });
        return await click.tell(`:x: There is no rollout \`${parsed.id}\`; nothing was changed.`);
      }
      if (option.what === "chart") {
        const asked = await requestChart(deps, click.userId, r.id);
        if (!asked.ok) {
          const why = asked.error.code === "rate-limited" ? rateLimitedText(asked.error) : `There is no rollout \`${parsed.id}\`; nothing was changed.`;
          await audit({ action: "chart", outcome: "refused", reason: why, ...aboutRollout(r) });
          return await click.tell(`:hourglass: ${why}`);
        }
        await audit({ action: "chart", outcome: "done", ...aboutRollout(r) });
        return;
      }
      // Asking is not deciding: the decision (and its audit entry) comes with the confirmation.
      await args.client.views.open({
        trigger_id: (args.body as { trigger_id: string }).trigger_id,
        view: promoteConfirmView(r, { step: parsed.step, ...(click.channelId ? { channelId: click.channelId } : {}) }) as never,
      });
    } catch (e) {
      deps.log.error({ err: e, rolloutId: parsed.id }, "menu pick failed");
      await audit({ action, outcome: "error", reason: e instanceof Error ? e.message : String(e) });
      await click.tell(":warning: Something went wrong on my side; nothing was changed. The error is in the bot's log.");
    }
  });

  app.view(PROMOTE_CONFIRM, async ({ ack, body, view }) => {
    const meta = readPromoteMeta(view.private_metadata);
    if (!meta)
      return void (await ack({ response_action: "update", view: promoteRefusedView(":x: This dialog names no rollout; nothing was changed.") as never }));
    try {
      const result = await act(deps, {
        userId: body.user.id,
        kind: "promote",
        rolloutId: meta.id,
        fromStep: meta.step,
        via: "modal",
        ...(meta.channel ? { channelId: meta.channel } : {}),
      });
      if (result.ok) return void (await ack());
      const e = result.error;
      const text = e.code === "no-metrics-for-auto" ? ":x: nothing was changed." : `${isDenied(e) ? ":no_entry:" : ":information_source:"} ${refusalText(e)}`;
      await ack({ response_action: "update", view: promoteRefusedView(text) as never });
    } catch (err) {
      deps.log.error({ err, rolloutId: meta.id }, "promote failed");
      await ack({
        response_action: "update",
        view: promoteRefusedView(":warning: Something went wrong on my side; nothing was changed. The error is in the bot's log.") as never,
      });
    }
  });
}

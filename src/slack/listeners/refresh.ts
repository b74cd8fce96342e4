import type { App, BlockButtonAction } from "@slack/bolt";
import type { AppDeps } from "../../app/deps.ts";
import { refreshReadings } from "../../app/refresh.ts";
import { ACTION } from "../views/rollout-message.ts";
import { rateLimitedText } from "../views/refusal.ts";
import { aboutRollout, auditClickOf, parseButtonValue, quote, readClick, type ClickRollout } from "./click.ts";

/**
 * Refresh asks for a success-rate reading now; it changes no state, so anyone may press it. Like every
 * click it is audited (who, which rollout at what weights, done or refused and why), and one that cannot
 * be honoured is answered privately.
 */
export function registerRefreshListener(app: App, deps: AppDeps): void {
  app.action<BlockButtonAction>(ACTION.refresh, async (args) => {
    await args.ack();
    const click = readClick(args, deps);
    const audit = auditClickOf(deps, click);
    const refuse = async (text: string, reason: string, about: ClickRollout = {}) => {
      await audit({ action: "refresh", outcome: "refused", reason, ...about });
      await click.tell(text);
    };
    if (!click.userId) return refuse(":x: I cannot tell who clicked that button; nothing was changed.", "the click names no Slack user");
    const parsed = parseButtonValue(click.value);
    if (!parsed) {
      const carried = click.value === undefined ? "no value" : `the value ${quote(click.value)}`;
      return refuse(
        `:x: I do not recognise that button: it carried ${carried}, not a rollout and step (like \`backend-svc#3|1\`); nothing was changed.`,
        "the button's value is not a rollout and step",
      );
    }
    try {
      const res = await refreshReadings(deps, click.userId, parsed.id);
      if (res.ok) return await audit({ action: "refresh", outcome: "done", ...aboutRollout(res.value) });
      const e = res.error;
      switch (e.code) {
        case "no-rollout":
          return await refuse(`:x: There is no rollout \`${e.id}\`; nothing was changed.`, `there is no rollout ${e.id}`, { target: e.id.split("#")[0]! });
        case "ended":
          return await refuse(
            `:information_source: Rollout ${e.rollout.id} has ended (${e.rollout.status}): there is nothing to refresh.`,
            `rollout ${e.rollout.id} has ended (${e.rollout.status})`,
            aboutRollout(e.rollout),
          );
        case "rate-limited":
          return await refuse(`:hourglass: ${rateLimitedText(e)}`, "over the per-person limit on readings", {
            rolloutId: parsed.id,
            target: parsed.id.split("#")[0]!,
          });
        case "no-metrics":
          return await refuse(
            `:information_source: Rollout ${e.rollout.id} has no success-rate source, so there is nothing to refresh; nothing was changed.`,
            `target ${e.rollout.target.name} has no success-rate source`,
            aboutRollout(e.rollout),
          );
      }
    } catch (e) {
      deps.log.error({ err: e, rolloutId: parsed.id }, "refresh failed");
      await audit({ action: "refresh", outcome: "error", reason: e instanceof Error ? e.message : String(e) });
      await click.tell(":warning: Something went wrong on my side; nothing was changed. The error is in the bot's log.");
    }
  });
}

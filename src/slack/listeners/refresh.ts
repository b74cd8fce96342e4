import type { App, BlockButtonAction } from "@slack/bolt";
import type { CommandDeps } from "../../../commands/types.ts";
import { isTerminal } from "../../engine/rollout.ts";
import { ACTION } from "../views/rollout-message.ts";
import { aboutRollout, auditClick, parseButtonValue, quote, readClick, type ClickRollout } from "./click.ts";

/**
 * Refresh asks for a success-rate reading now; it changes no state, so anyone may press it. Like every
 * click it is audited (who, which rollout at what weights, done or refused and why), and one that cannot
 * be honoured is answered privately.
 */
export function registerRefreshListener(app: App, deps: CommandDeps): void {
  app.action<BlockButtonAction>(ACTION.refresh, async (args) => {
    await args.ack();
    const click = readClick(args, deps);
    const refuse = async (text: string, reason: string, about: ClickRollout = {}) => {
      await auditClick(deps, click, { action: "refresh", outcome: "refused", reason, ...about });
      await click.tell(text);
    };
    if (!click.userId) return refuse(":x: I cannot tell who clicked that button; nothing was changed.", "the click names no Slack user");
    const parsed = parseButtonValue(click.value);
    if (!parsed) {
      const carried = click.value === undefined ? "no value" : `the value ${quote(click.value)}`;
      return refuse(`:x: I do not recognise that button: it carried ${carried}, not a rollout and step (like \`backend-svc#3|1\`); nothing was changed.`, "the button's value is not a rollout and step");
    }
    try {
      const r = await deps.store.get(parsed.id);
      if (!r) return await refuse(`:x: There is no rollout \`${parsed.id}\`; nothing was changed.`, `there is no rollout ${parsed.id}`, { target: parsed.id.split("#")[0]! });
      if (isTerminal(r)) return await refuse(`:information_source: Rollout ${r.id} has ended (${r.status}): there is nothing to refresh.`, `rollout ${r.id} has ended (${r.status})`, aboutRollout(r));
      if (!r.target.metrics || r.target.metrics.source === "none") {
        return await refuse(`:information_source: Rollout ${r.id} has no success-rate source, so there is nothing to refresh; nothing was changed.`, `target ${r.target.name} has no success-rate source`, aboutRollout(r));
      }
      await deps.queue.snapshot(r.id, { refresh: true, now: deps.now() });
      await auditClick(deps, click, { action: "refresh", outcome: "done", ...aboutRollout(r) });
    } catch (err) {
      deps.log.error({ err, rolloutId: parsed.id }, "refresh failed");
      await auditClick(deps, click, { action: "refresh", outcome: "error", reason: err instanceof Error ? err.message : String(err) });
      await click.tell(":warning: Something went wrong on my side; nothing was changed. The error is in the bot's log.");
    }
  });
}

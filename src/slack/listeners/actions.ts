import type { App, BlockButtonAction } from "@slack/bolt";
import { act, type ActionKind } from "../../control/act.ts";
import type { CommandDeps } from "../../../commands/types.ts";
import { ACTION } from "../views/rollout-message.ts";
import { aboutRollout, auditClick, parseButtonValue, quote, readClick, type ClickRollout } from "./click.ts";

/** Our buttons (a Map: an action_id such as `constructor` must not find anything on a prototype). */
const KIND_BY_ACTION: ReadonlyMap<string, ActionKind> = new Map([
  [ACTION.advance, "advance"],
  [ACTION.finish, "finish"],
  [ACTION.abort, "abort"],
  [ACTION.hold, "hold"],
  [ACTION.resume, "resume"],
  [ACTION.reapply, "reapply"],
  [ACTION.adopt, "adopt"],
]);

/**
 * Button clicks: ack, one compare-and-set transition, a private word if refused. Every click but Refresh
 * (its own listener) comes here, a button this bot never drew included, so each is answered and audited:
 * who, which button, the rollout and its weights when it names one, and the outcome.
 */
export function registerActionListeners(app: App, deps: CommandDeps): void {
  app.action<BlockButtonAction>(/^(?!rollout\.refresh$)/, async (args) => {
    await args.ack();
    const click = readClick(args, deps);
    const kind = KIND_BY_ACTION.get(click.actionId);
    const refuse = async (text: string, reason: string, extra: ClickRollout = {}) => {
      await auditClick(deps, click, { action: kind ?? "unknown-button", outcome: "refused", reason, ...extra });
      await click.tell(text);
    };
    if (!click.userId) return refuse(":x: I cannot tell who clicked that button; nothing was changed.", "the click names no Slack user");
    const parsed = parseButtonValue(click.value);
    let acting = false;
    try {
      if (!kind) {
        // Audited with the rollout it names, if that rollout exists; otherwise in the global trail only.
        const r = parsed ? await deps.store.get(parsed.id) : undefined;
        return await refuse(
          `:x: I do not recognise the button ${quote(click.actionId)}; nothing was changed.`,
          "unknown button",
          r ? aboutRollout(r) : {},
        );
      }
      if (!parsed) {
        const carried = click.value === undefined ? "no value" : `the value ${quote(click.value)}`;
        return await refuse(
          `:x: I do not recognise that button: it carried ${carried}, not a rollout and step (like \`backend-svc#3|1\`); nothing was changed.`,
          "the button's value is not a rollout and step",
        );
      }
      const r = await deps.store.get(parsed.id);
      if (!r) return await refuse(`:x: There is no rollout \`${parsed.id}\`; nothing was changed.`, `there is no rollout ${parsed.id}`, { target: parsed.id.split("#")[0]! });
      // A rollout's plan never changes, so a step it does not have can be refused before the compare-and-set.
      if (parsed.step >= r.steps.length) {
        return await refuse(
          `:x: I do not recognise that button: it names step ${parsed.step} of rollout \`${r.id}\`, whose plan has only ${r.steps.length} (${r.steps.join("% → ")}%, counted from 0); nothing was changed.`,
          `rollout ${r.id} has no step ${parsed.step}`,
          aboutRollout(r),
        );
      }
      acting = true;
      const result = await act(deps, { kind: "user", id: click.userId }, kind, r.id, parsed.step, { ...(click.channelId ? { channelId: click.channelId } : {}), via: "button" });
      if (!result.ok) await click.tell(`${result.denied ? ":no_entry:" : ":information_source:"} ${result.reason}`);
    } catch (err) {
      deps.log.error({ err, rolloutId: parsed?.id, kind }, "button failed");
      // act() audits its own failures; one before it is audited here.
      if (!acting) await auditClick(deps, click, { action: kind ?? "unknown-button", outcome: "error", reason: err instanceof Error ? err.message : String(err) });
      await click.tell(":warning: Something went wrong on my side; nothing was changed. The error is in the bot's log.");
    }
  });
}

import type { App, BlockButtonAction } from "@slack/bolt";
import { act } from "../../app/act.ts";
import type { AppDeps } from "../../app/deps.ts";
import { rolloutById } from "../../app/refresh.ts";
import type { ActionKind } from "../../engine/policy.ts";
import { isDenied } from "../../engine/refusal.ts";
import { ACTION } from "../views/rollout-message.ts";
import { refusalText } from "../views/refusal.ts";
import { ackAfter, type AckWith } from "./ack.ts";
import { MORE } from "../views/promote.ts";
import { PICK_TARGET } from "../views/start-form.ts";
import { aboutRollout, auditClickOf, parseButtonValue, quote, readClick, type ClickArgs, type ClickRollout } from "./click.ts";

/** Our decision buttons, each registered by its action_id (a Map: `constructor` must find nothing). */
const KIND_BY_ACTION: ReadonlyMap<string, ActionKind> = new Map([
  [ACTION.advance, "advance"],
  [ACTION.finish, "finish"],
  [ACTION.abort, "abort"],
  [ACTION.hold, "hold"],
  [ACTION.resume, "resume"],
  [ACTION.reapply, "reapply"],
  [ACTION.adopt, "adopt"],
  [ACTION.pauseFlux, "pause-flux"],
  [ACTION.retry, "retry"],
  [ACTION.approveAll, "approve-all"],
]);

/**
 * Every action_id this app draws (decisions, Refresh, the overflow menu, the start form's target select);
 * anything else gets the unknown-button answer.
 */
const KNOWN = new Set<string>([...Object.values(ACTION), MORE, PICK_TARGET]);

/**
 * Button clicks: ack, one decision through the app layer, a private word if refused. Each of our buttons has
 * its listener; a button this bot never drew is still answered and audited (who, which button, the rollout
 * it names, the outcome), never dropped.
 */
export function registerActionListeners(app: App, deps: AppDeps): void {
  for (const [actionId, kind] of KIND_BY_ACTION) {
    app.action<BlockButtonAction>(actionId, async (args) => {
      await ackAfter(args.ack, (ack) => onDecision(deps, args, kind, ack));
    });
  }
  app.action<BlockButtonAction>({ action_id: new RegExp(`^(?!(${[...KNOWN].map((a) => a.replaceAll(".", "\\.")).join("|")})$)`) }, async (args) => {
    await args.ack();
    await onUnknownButton(deps, args);
  });
}

async function onUnknownButton(deps: AppDeps, args: ClickArgs): Promise<void> {
  const click = readClick(args, deps);
  const audit = auditClickOf(deps, click);
  const refuse = async (text: string, reason: string, extra: ClickRollout = {}) => {
    await audit({ action: "unknown-button", outcome: "refused", reason, ...extra });
    await click.tell(text);
  };
  if (!click.userId) return refuse(":x: I cannot tell who clicked that button; nothing was changed.", "the click names no Slack user");
  try {
    // Audited with the rollout it names, if that rollout exists; otherwise in the global trail only.
    const parsed = parseButtonValue(click.value);
    const r = parsed ? await rolloutById(deps, parsed.id) : undefined;
    await refuse(`:x: I do not recognise the button ${quote(click.actionId)}; nothing was changed.`, "unknown button", r ? aboutRollout(r) : {});
  } catch (e) {
    deps.log.error({ err: e }, "button failed");
    await audit({ action: "unknown-button", outcome: "error", reason: e instanceof Error ? e.message : String(e) });
    await click.tell(":warning: Something went wrong on my side; nothing was changed. The error is in the bot's log.");
  }
}

/** `ack` is called once the outcome is recorded, before the person is told anything (see ackAfter). */
async function onDecision(deps: AppDeps, args: ClickArgs, kind: ActionKind, ack: AckWith<void>): Promise<void> {
  const click = readClick(args, deps);
  const audit = auditClickOf(deps, click);
  const refuse = async (text: string, reason: string, extra: ClickRollout = {}) => {
    await audit({ action: kind, outcome: "refused", reason, ...extra });
    await ack();
    await click.tell(text);
  };
  if (!click.userId) return refuse(":x: I cannot tell who clicked that button; nothing was changed.", "the click names no Slack user");
  const parsed = parseButtonValue(click.value);
  let acting = false;
  try {
    if (!parsed) {
      const carried = click.value === undefined ? "no value" : `the value ${quote(click.value)}`;
      return await refuse(
        `:x: I do not recognise that button: it carried ${carried}, not a rollout and step (like \`backend-svc#3|1\`); nothing was changed.`,
        "the button's value is not a rollout and step",
      );
    }
    const r = await rolloutById(deps, parsed.id);
    if (!r)
      return await refuse(`:x: There is no rollout \`${parsed.id}\`; nothing was changed.`, `there is no rollout ${parsed.id}`, {
        target: parsed.id.split("#")[0]!,
      });
    // A rollout's plan never changes, so a step it does not have can be refused before the compare-and-set.
    if (parsed.step >= r.steps.length) {
      return await refuse(
        `:x: I do not recognise that button: it names step ${parsed.step} of rollout \`${r.id}\`, whose plan has only ${r.steps.length} (${r.steps.join("% → ")}%, counted from 0); nothing was changed.`,
        `rollout ${r.id} has no step ${parsed.step}`,
        aboutRollout(r),
      );
    }
    acting = true;
    const result = await act(deps, {
      userId: click.userId,
      kind,
      rolloutId: r.id,
      fromStep: parsed.step,
      via: "button",
      ...(click.channelId ? { channelId: click.channelId } : {}),
    });
    await ack();
    if (!result.ok && result.error.code !== "no-metrics-for-auto")
      await click.tell(`${isDenied(result.error) ? ":no_entry:" : ":information_source:"} ${refusalText(result.error)}`);
  } catch (e) {
    deps.log.error({ err: e, rolloutId: parsed?.id, kind }, "button failed");
    // The decision audits its own failures; one before it is audited here.
    if (!acting) await audit({ action: kind, outcome: "error", reason: e instanceof Error ? e.message : String(e) });
    await ack();
    await click.tell(":warning: Something went wrong on my side; nothing was changed. The error is in the bot's log.");
  }
}

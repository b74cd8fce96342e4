import type { App } from "@slack/bolt";
import type { AppDeps } from "../../app/deps.ts";
import { openedHome } from "../../app/home.ts";

/**
 * The App Home tab: when a person opens it, their board is published (and kept current from then on by the
 * worker, coalesced). Its buttons are the message's own (same action ids), so the same listeners and the
 * same policy handle them.
 */
export function registerHomeListener(app: App, deps: AppDeps): void {
  app.event("app_home_opened", async ({ event }) => {
    if (event.tab !== "home") return; // the Messages tab needs nothing from us
    try {
      await openedHome(deps, event.user);
    } catch (err) {
      deps.log.error({ err }, "could not publish the App Home board");
    }
  });
}

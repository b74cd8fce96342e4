import type { App } from "@slack/bolt";
import type { AppDeps } from "../../app/deps.ts";
import { registerActionListeners } from "./actions.ts";
import { registerCommandListeners } from "./commands.ts";
import { registerRefreshListener } from "./refresh.ts";
import { registerStartForm } from "./start-form.ts";
import { registerPromoteListeners } from "./promote.ts";
import { registerHomeListener } from "./home.ts";

/** Every Slack surface, one registration per feature; each calls `src/app` and renders with `src/slack/views`. */
export function registerSlackListeners(app: App, deps: AppDeps): void {
  registerCommandListeners(app, deps);
  registerRefreshListener(app, deps);
  registerActionListeners(app, deps);
  registerStartForm(app, deps);
  registerPromoteListeners(app, deps);
  registerHomeListener(app, deps);
}

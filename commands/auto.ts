import { actionCommand } from "./action-command.ts";

export const autoCommand = actionCommand("auto", "advance automatically every <interval> (e.g. 10m) while the canary is healthy", { interval: true });

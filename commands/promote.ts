import { actionCommand } from "./action-command.ts";

export const promoteCommand = actionCommand(
  "promote",
  "emergency: skip the remaining steps, send 100% to the new version and finish (needs the right to finish)",
);

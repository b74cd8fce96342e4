import { actionCommand } from "./action-command.ts";

export const advanceCommand = actionCommand("advance", "move a rollout to its next step");

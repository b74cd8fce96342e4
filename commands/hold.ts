import { actionCommand } from "./action-command.ts";

export const holdCommand = actionCommand("hold", "pause a rollout where it is");

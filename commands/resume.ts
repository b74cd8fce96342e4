import { actionCommand } from "./action-command.ts";

export const resumeCommand = actionCommand("resume", "continue a held rollout");

import { actionCommand } from "./action-command.ts";

export const finishCommand = actionCommand("finish", "at 100%, make the new version permanent");

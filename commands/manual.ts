import { actionCommand } from "./action-command.ts";

export const manualCommand = actionCommand("manual", "stop automatic steps: a person advances from now on");

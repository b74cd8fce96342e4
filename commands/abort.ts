import { actionCommand } from "./action-command.ts";

export const abortCommand = actionCommand("abort", "send all traffic back to the stable version");

import { actionCommand } from "./action-command.ts";

export const retryCommand = actionCommand("retry", "Argo Rollouts: run an aborted revision through its steps again");

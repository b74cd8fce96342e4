/**
 * A Slack answer the bot cannot use (no `ts`, an upload URL refusing the bytes): `transient` says whether
 * the job that made the call should try again. Slack's own `{ok:false}` refusals come from the Web API
 * client as platform errors and are judged where they are caught.
 */
export class SlackCallError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = "SlackCallError";
  }
}

/** An HTTP status worth retrying: the server is overloaded or broken, not refusing. */
export function transientStatus(status: number): boolean {
  return status >= 500 || status === 429;
}

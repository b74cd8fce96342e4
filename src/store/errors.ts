/** A record the store could not read or write; `transient` says whether trying again later can help. */
export class StoreError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = "StoreError";
  }
}

/**
 * Slack's requests before the worker's jobs. Acks and jobs share one event loop, and Slack gives up on an ack
 * after 3 s: in a burst (1,000 starts at 100/s) each ack's few Redis round trips waited behind the callbacks of
 * 16 jobs in flight (ack p99 3 s, issue 24). While `holdAt` or more Slack requests wait for their answer, the
 * worker takes new jobs only up to `busy` at once; `idle` again once fewer have waited for `quietMs`. How many
 * wait is their rate times how long each takes, so a few clicks answered in milliseconds never hold the worker
 * back (their mesh writes are jobs too), and a burst whose acks slow down does. Jobs already running finish as
 * they would: this only spaces out the taking of new ones, so no job is dropped, repeated or reordered.
 */
/** What the gate turns: BullMQ's Worker, whose `concurrency` may change while it runs. */
export type Throttled = { concurrency: number };

export type RequestsFirstOptions = {
  /** Jobs at once while requests wait (at least 1, so work never stops under a steady stream of requests). */
  busy: number;
  /** Jobs at once otherwise (the worker's own setting). */
  idle: number;
  /** Requests waiting at once from which the worker is held back (at least 1). */
  holdAt: number;
  /** How long fewer than `holdAt` must have waited before `idle` comes back (a burst has gaps of a few ms). */
  quietMs: number;
};

export class RequestsFirst {
  private waiting = 0;
  private worker?: Throttled;
  private quiet?: NodeJS.Timeout;

  constructor(private readonly opts: RequestsFirstOptions) {}

  /** The worker to hold back; requests may already be waiting (the HTTP port opens first). */
  attach(worker: Throttled): void {
    this.worker = worker;
    worker.concurrency = this.waiting >= this.opts.holdAt ? this.opts.busy : this.opts.idle;
  }

  /** A Slack request arrived; `answered` must follow exactly once. */
  arrived(): void {
    this.waiting++;
    if (this.waiting < this.opts.holdAt) return;
    clearTimeout(this.quiet);
    this.quiet = undefined;
    if (this.worker && this.worker.concurrency !== this.opts.busy) this.worker.concurrency = this.opts.busy;
  }

  /** Its answer was sent (or its connection closed). */
  answered(): void {
    this.waiting = Math.max(0, this.waiting - 1);
    if (this.waiting >= this.opts.holdAt || this.quiet || this.worker?.concurrency === this.opts.idle) return;
    this.quiet = setTimeout(() => {
      this.quiet = undefined;
      if (this.waiting < this.opts.holdAt && this.worker) this.worker.concurrency = this.opts.idle;
    }, this.opts.quietMs);
    this.quiet.unref();
  }

  /** Requests waiting for their answer now (tests read it). */
  get pending(): number {
    return this.waiting;
  }
}

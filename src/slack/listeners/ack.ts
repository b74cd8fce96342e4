/**
 * Acknowledge a Slack request once its decision is recorded, not before: Slack never resends a request it
 * got a 200 for, so a process killed between an early ack and the compare-and-set would lose the click.
 * The decision takes milliseconds; should it not be done by `safetyMs`, the ack goes anyway so Slack (which
 * gives up after 3 s) does not show the person an error for work that is still going on.
 *
 * The work's `ack(body)` may carry a body (a slash command's reply, shown as if posted to its response_url,
 * without a second request). It resolves true when this call sent the ack, so the body went with it; false
 * when the ack had already gone (the safety ack of a slow decision), and the body must go another way.
 */
export type AckWith<B> = (body?: B) => Promise<boolean>;

export async function ackAfter<B = void>(ack: (body?: B) => Promise<void>, work: (ack: AckWith<B>) => Promise<void>, safetyMs = 2_000): Promise<void> {
  let acked: Promise<void> | undefined;
  const once: AckWith<B> = async (body) => {
    if (acked) return acked.then(() => false);
    acked = body === undefined ? ack() : ack(body);
    return acked.then(() => true);
  };
  const timer = setTimeout(() => void once().catch(() => undefined), safetyMs);
  try {
    await work(once);
  } finally {
    clearTimeout(timer);
    await once();
  }
}

/**
 * Acknowledge a Slack request once its decision is recorded, not before: Slack never resends a request it
 * got a 200 for, so a process killed between an early ack and the compare-and-set would lose the click.
 * The decision takes milliseconds; should it not be done by `safetyMs`, the ack goes anyway so Slack (which
 * gives up after 3 s) does not show the person an error for work that is still going on.
 */
export async function ackAfter(ack: () => Promise<void>, work: (ack: () => Promise<void>) => Promise<void>, safetyMs = 2_000): Promise<void> {
  let acked: Promise<void> | undefined;
  const once = () => (acked ??= ack());
  const timer = setTimeout(() => void once().catch(() => undefined), safetyMs);
  try {
    await work(once);
  } finally {
    clearTimeout(timer);
    await once();
  }
}

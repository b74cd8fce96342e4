/**
 * Run `fn` every `ms` until the returned stop is called: the reconcile loop of the sandbox's GitOps
 * controllers (Argo CD, Flux). Each run is scheduled after the last one ends, even when it threw.
 */
export function repeat(fn: () => void, ms: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = () => {
    try {
      fn();
    } finally {
      if (!stopped) timer = setTimeout(tick, ms);
    }
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

export type BackoffOptions = { minDelayMs?: number; maxDelayMs?: number };

/**
 * Capped exponential backoff with "equal jitter": half the delay is fixed, half random, so
 * many clients dropped by one restart do not come back in lockstep, yet none retries at once.
 */
export function backoffDelay(attempt: number, { minDelayMs = 500, maxDelayMs = 15_000 }: BackoffOptions = {}): number {
  const capped = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(attempt, 30));
  return capped / 2 + Math.random() * (capped / 2);
}

/** Resolves after `ms`, or at once when `signal` is aborted. */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });

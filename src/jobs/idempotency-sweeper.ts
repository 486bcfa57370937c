import type { MessageStore } from '../modules/message/message.store.ts';

/**
 * Deletes idempotency keys past their 24 h window. Correctness does not depend on it (an
 * expired key is taken over by the next send that uses it); it only keeps the table small.
 */
export function startIdempotencySweeper({
  messages,
  everyMs = 60 * 60 * 1000,
  onError = (err: unknown) => console.error('idempotency sweep failed', err),
}: {
  messages: Pick<MessageStore, 'deleteExpiredIdempotencyKeys'>;
  everyMs?: number;
  onError?: (err: unknown) => void;
}) {
  const sweep = () => messages.deleteExpiredIdempotencyKeys();
  const timer = setInterval(() => void sweep().catch(onError), everyMs);
  timer.unref(); // never keeps the process alive on its own
  return { sweep, stop: () => clearInterval(timer) };
}

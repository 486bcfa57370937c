import type { Unsubscribe } from '../events/bus.ts';
import { EventQueue } from './event-queue.ts';

/**
 * Writes a live event straight to a subscriber's socket (http/direct-writer.ts): 'written';
 * 'dropped' (the socket is closing or was cut off: the event is done with, not counted);
 * false: it could not, queue it as usual. Never throws.
 */
export type DirectWrite<T = object> = (event: T) => 'written' | 'dropped' | false;

export type StreamOptions<T = never> = {
  /** Events a subscriber may fall behind by before it is cut off. */
  maxPending: number;
  /** Called when the subscriber could not keep up; the stream then ends. */
  onSlowConsumer: () => void;
  /**
   * Writes a live event straight to the subscriber's socket, from the bus handler, while the
   * consumer is parked (http/direct-writer.ts); false: it could not, queue it as usual.
   */
  direct?: DirectWrite<T>;
};

/**
 * An async generator whose `return()` takes effect at once. A plain generator waiting in
 * `await queue.next()` would run `return()` only at its next `yield`: for a quiet
 * conversation, never, and its bus subscription would leak; one never started skips its
 * `finally` altogether. So `cleanup` (close the queue, unsubscribe; idempotent) runs first.
 */
export function closable<T>(generator: AsyncGenerator<T>, cleanup: () => void): AsyncGenerator<T> {
  return {
    next: () => generator.next(),
    return: (value) => {
      cleanup();
      return generator.return(value);
    },
    throw: (err) => {
      cleanup();
      return generator.throw(err);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  } as AsyncGenerator<T>;
}

/**
 * Subscribes, yields what arrives until the consumer stops or falls too far behind, and
 * always unsubscribes. `subscribe` gets the push function and returns its unsubscribers.
 */
export function liveStream<T>(subscribe: (push: (event: T) => void) => Unsubscribe[], { maxPending, onSlowConsumer, direct }: StreamOptions<T>) {
  const queue = new EventQueue<T>(maxPending, onSlowConsumer);
  // No order to keep (live only): written directly whenever the consumer is parked.
  const unsubscribes = subscribe((e) => {
    if (!(direct && queue.parked && direct(e))) queue.push(e);
  });
  const cleanup = () => {
    queue.close();
    for (const unsubscribe of unsubscribes) unsubscribe();
  };
  async function* drain(): AsyncGenerator<T> {
    try {
      for (;;) {
        const e = await queue.next();
        if (!e) return;
        yield e;
      }
    } finally {
      cleanup();
    }
  }
  return closable(drain(), cleanup);
}

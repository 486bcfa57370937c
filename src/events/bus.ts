import type { TopicPayload } from './event-map.ts';

export type Unsubscribe = () => void;

/** Unsubscribes when called; `ready` settles once events of the topic are being received. */
export type Subscription = Unsubscribe & { ready: Promise<void> };

/**
 * Carries events between the code that commits them and the subscriptions that deliver
 * them. At most once, unordered across publishers: subscribers re-read the event log to
 * fill gaps, so a lost or late event is never a lost delivery.
 */
export type Bus = {
  kind: 'in-process' | 'redis';
  /** Resolves when the bus is reachable (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Resolves once the bus has taken the event; rejects if it cannot (Redis unreachable). */
  publish<T extends string>(topic: T, payload: TopicPayload<T>): Promise<void>;
  /**
   * The same payload to several topics (an event to its conversation and to each member's
   * inbox): one command to Redis, not one per topic. Resolves once the bus has taken it for
   * every topic; rejects if it could not.
   */
  publishMany<T extends string>(topics: T[], payload: TopicPayload<T>): Promise<void>;
  subscribe<T extends string>(topic: T, handler: (payload: TopicPayload<T>) => void): Subscription;
  /**
   * Calls `listener` each time the bus is back after losing its connection, once its
   * subscriptions are in place again: whatever was published meanwhile was lost to this node,
   * and streams re-read the log. Never called in process.
   */
  onReconnect(listener: () => void): Unsubscribe;
};

/** One process: a map of topic → handlers. A handler that throws does not stop the others. */
export function createInProcessBus({ onError = (err: unknown) => console.error('bus handler failed', err) } = {}): Bus {
  const handlers = new Map<string, Set<(payload: never) => void>>();
  const done = Promise.resolve();
  const bus: Bus = {
    kind: 'in-process',
    ping: async () => {},
    onReconnect: () => () => {},
    close: async () => handlers.clear(),
    // Not async: an event goes to every member's inbox topic, most with no handler here, and
    // a promise per topic was a measurable share of the fanout (docs/PERFORMANCE.md).
    publish(topic, payload) {
      const set = handlers.get(topic);
      if (!set) return done;
      for (const handler of set) {
        try {
          handler(payload as never);
        } catch (err) {
          onError(err);
        }
      }
      return done;
    },
    // Through `bus.publish`, whatever it is now (tests wrap it to watch or break the bus).
    async publishMany(topics, payload) {
      const pending: Promise<void>[] = [];
      for (const topic of topics) {
        const published = bus.publish(topic, payload);
        if (published !== done) pending.push(published);
      }
      await Promise.all(pending);
    },
    subscribe(topic, handler) {
      let set = handlers.get(topic);
      if (!set) handlers.set(topic, (set = new Set()));
      set.add(handler as (payload: never) => void);
      // Idempotent: streams may clean up from two paths, and the second call must not remove
      // a newer set registered for the topic meanwhile.
      let unsubscribed = false;
      const unsubscribe = () => {
        if (unsubscribed) return;
        unsubscribed = true;
        set.delete(handler as (payload: never) => void);
        if (set.size === 0 && handlers.get(topic) === set) handlers.delete(topic);
      };
      return Object.assign(unsubscribe, { ready: Promise.resolve() });
    },
  };
  return bus;
}

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
  return {
    kind: 'in-process',
    ping: async () => {},
    onReconnect: () => () => {},
    close: async () => handlers.clear(),
    async publish(topic, payload) {
      for (const handler of handlers.get(topic) ?? []) {
        try {
          handler(payload as never);
        } catch (err) {
          onError(err);
        }
      }
    },
    subscribe(topic, handler) {
      let set = handlers.get(topic);
      if (!set) handlers.set(topic, (set = new Set()));
      set.add(handler as (payload: never) => void);
      const unsubscribe = () => {
        set.delete(handler as (payload: never) => void);
        if (set.size === 0) handlers.delete(topic);
      };
      return Object.assign(unsubscribe, { ready: Promise.resolve() });
    },
  };
}

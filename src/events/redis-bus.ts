import { RedisPubSub } from 'graphql-redis-subscriptions';
import { Redis } from 'ioredis';
import type { Bus, Subscription } from './bus.ts';

/**
 * The bus across nodes: Redis pub/sub through graphql-redis-subscriptions, which keeps one
 * Redis subscription per topic per node however many local handlers share it. Payloads are
 * the same JSON envelopes as in process. Delivery is at most once: a message published while
 * a node is disconnected is lost to it, and its subscribers fill the gap from the event log.
 */
/** An envelope is serialized once, however many topics it is published to. */
const serializedPayloads = new WeakMap<object, Buffer>();
function serialized(payload: object): Buffer {
  let buffer = serializedPayloads.get(payload);
  if (!buffer) serializedPayloads.set(payload, (buffer = Buffer.from(JSON.stringify(payload))));
  return buffer;
}

export function createRedisBus(url: string, { onError }: { onError: (err: unknown) => void }): Bus {
  const retryStrategy = (attempt: number) => Math.min(attempt * 200, 2000);
  // While Redis is away, publishes fail at once rather than pile up in memory (subscribers
  // recover from the log); subscriptions wait and are renewed on reconnect.
  // A publish that gets no answer (a half-open connection) fails after 5 s, rather than hold
  // the relay's transaction until it times out.
  // Auto-pipelining: an event goes to its conversation's topic and to every member's inbox
  // topic in the same tick, and those PUBLISHes leave in one write rather than one each.
  const publisher = new Redis(url, { retryStrategy, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 5_000, enableAutoPipelining: true });
  const subscriber = new Redis(url, { retryStrategy, maxRetriesPerRequest: null });
  // PUBLISH to each topic in one round trip and one command: Redis runs the loop (so Redis
  // must allow EVAL/EVALSHA for Parley's user: docs/DEPLOYMENT.md).
  publisher.defineCommand('publishMany', { numberOfKeys: 0, lua: 'for i = 1, #ARGV - 1 do redis.call("PUBLISH", ARGV[i], ARGV[#ARGV]) end return #ARGV - 1' });
  publisher.on('error', onError);
  subscriber.on('error', onError);
  const pubsub = new RedisPubSub({ publisher, subscriber });
  type Handler = (payload: never) => void;
  const localTopics = new Map<string, { handlers: Set<Handler>; id: Promise<number> }>();

  // ioredis renews the subscriptions on reconnect before it says 'ready'; a PING answered
  // after them means Redis has them, so nothing published from then on is missed.
  const reconnectListeners = new Set<() => void>();
  let connectedBefore = false;
  subscriber.on('ready', () => {
    if (!connectedBefore) return void (connectedBefore = true);
    subscriber.ping().then(() => {
      for (const listener of reconnectListeners) listener();
    }, onError);
  });

  return {
    kind: 'redis',
    async ping() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('redis ping timed out')), 1000)));
      try {
        await Promise.race([publisher.ping(), subscriber.status === 'ready' ? Promise.resolve() : Promise.reject(new Error(`redis subscriber ${subscriber.status}`)), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    publish: (topic, payload) => pubsub.publish(topic, serialized(payload)),
    async publishMany(topics, payload) {
      if (topics.length === 0) return;
      // One array argument (ioredis flattens it): thousands of topics as spread arguments could pass V8's limit.
      await (publisher as unknown as { publishMany(args: (string | Buffer)[]): Promise<number> }).publishMany([...topics, serialized(payload)]);
    },
    onReconnect(listener) {
      reconnectListeners.add(listener);
      return () => void reconnectListeners.delete(listener);
    },
    subscribe(topic, handler): Subscription {
      // One RedisPubSub subscription per topic on this node, its handlers called from here:
      // a conversation's thousand subscribers cost one dispatch loop, not a thousand lookups
      // in RedisPubSub's map of subscription ids.
      let local = localTopics.get(topic);
      if (!local) {
        const handlers = new Set<Handler>();
        const id = pubsub.subscribe(topic, (payload: never) => {
          for (const h of handlers) {
            try {
              h(payload);
            } catch (err) {
              onError(err);
            }
          }
        });
        localTopics.set(topic, (local = { handlers, id }));
        // Refused: the next subscriber of the topic tries again rather than inherit the failure.
        id.catch(() => localTopics.get(topic)?.handlers === handlers && localTopics.delete(topic));
      }
      const { handlers, id } = local;
      handlers.add(handler as Handler);
      // Idempotent, as the in-process bus is: streams may clean up from two paths.
      let unsubscribed = false;
      const unsubscribe = () => {
        if (unsubscribed) return;
        unsubscribed = true;
        handlers.delete(handler as Handler);
        if (handlers.size > 0 || localTopics.get(topic)?.handlers !== handlers) return;
        localTopics.delete(topic); // a later subscriber starts a new one (RedisPubSub counts both)
        id.then((n) => pubsub.unsubscribe(n)).catch(onError);
      };
      const ready = id.then(() => undefined);
      ready.catch(() => {}); // not every caller awaits it (inbox, presence): no unhandled rejection
      return Object.assign(unsubscribe, { ready });
    },
    async close() {
      // RedisPubSub.close() quits both connections; a quit on a connection already failing
      // rejects, and must not become an unhandled rejection during shutdown.
      await pubsub.close().catch(() => {});
      publisher.disconnect();
      subscriber.disconnect();
    },
  };
}

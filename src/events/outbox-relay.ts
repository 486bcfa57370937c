import type { PrismaClient } from '../generated/prisma/client.ts';
import { createConversationStore } from '../modules/conversation/conversation.store.ts';
import { createUserStore } from '../modules/user/user.store.ts';
import { createOutboxStore } from './outbox.store.ts';
import type { EventPublisher } from './publisher.ts';

export type OutboxRelayOptions = {
  prisma: PrismaClient;
  publisher: EventPublisher;
  onError: (err: unknown) => void;
  /** Events published per transaction; a longer backlog takes several. */
  batchSize?: number;
};

/**
 * The transactional outbox's relay. Events are committed with their data (the event log); the
 * relay hands what is committed and unpublished to the bus, in seq order per conversation,
 * under a per-conversation lease (outbox.store), and only then marks it published.
 *
 * - `kick(conversationId)`: the fast path, right after a commit on this node.
 * - `sweep()`: the safety net, run by workers on start and every few hundred ms, for events
 *   whose committing node died (or lost the bus) before publishing them.
 *
 * At least once: a relay that dies after publishing and before its mark commits leaves the
 * events to be published again; subscribers drop what they have (by seq).
 */
export function createOutboxRelay({ prisma, publisher, onError, batchSize = 500 }: OutboxRelayOptions) {
  /** One run per conversation at a time on this node; kicks meanwhile ask for one more pass. */
  const running = new Map<string, { again: boolean; done: Promise<void> }>();

  /** Publishes one batch under the lease; returns how many events it published. */
  function publishBatch(conversationId: string): Promise<number> {
    return prisma.$transaction(
      async (tx) => {
        const outbox = createOutboxStore(tx);
        await outbox.lease(conversationId);
        const batch = await outbox.unpublished(conversationId, batchSize);
        if (!batch) return 0;
        // Published while the lease is held, so no other relay can overtake these events.
        await publisher.committed(batch.scope, batch.rows, { conversations: createConversationStore(tx), users: createUserStore(tx) });
        await outbox.markPublished(conversationId, batch.rows.map((r) => r.seq));
        return batch.rows.length;
      },
      // Generous waits: on embedded PGlite every transaction queues on one connection.
      { maxWait: 20_000, timeout: 30_000 },
    );
  }

  function kick(conversationId: string): Promise<void> {
    const current = running.get(conversationId);
    if (current) {
      current.again = true;
      return current.done;
    }
    const run = { again: false, done: Promise.resolve() };
    run.done = (async () => {
      try {
        let published: number;
        do {
          run.again = false;
          published = await publishBatch(conversationId);
        } while (published === batchSize || run.again);
      } finally {
        running.delete(conversationId);
      }
    })();
    running.set(conversationId, run);
    return run.done;
  }

  return {
    kick,

    /** Publishes every conversation's events older than `graceMs` still unpublished. */
    async sweep({ graceMs = 500, limit = 100 } = {}) {
      const pending = await createOutboxStore(prisma).pendingConversations(graceMs, limit);
      await Promise.all(pending.map((id) => kick(id).catch(onError)));
      return pending.length;
    },

    /** Resolves once every publish under way on this node has finished (shutdown). */
    async flush() {
      while (running.size > 0) await Promise.allSettled([...running.values()].map((r) => r.done));
    },
  };
}
export type OutboxRelay = ReturnType<typeof createOutboxRelay>;

import type { PrismaClient } from '../generated/prisma/client.ts';
import { TX_OPTIONS } from '../db/client.ts';
import { createUserStore } from '../modules/user/user.store.ts';
import { createOutboxStore } from './outbox.store.ts';
import type { EventPublisher } from './publisher.ts';

export type OutboxRelayOptions = {
  prisma: PrismaClient;
  publisher: EventPublisher;
  onError: (err: unknown) => void;
  /** Most events published per transaction; a longer backlog takes several. */
  batchSize?: number;
  /**
   * Most bus publishes per transaction (an event goes to the conversation and to each
   * member's inbox): a large group's batch holds fewer events, so it stays well inside the
   * transaction timeout.
   */
  maxPublishesPerBatch?: number;
};

type Deferred = { resolve: () => void; reject: (err: unknown) => void };

/** How many conversations one sweep relays at once: each holds a database connection. */
const SWEEP_CONCURRENCY = 4;

/**
 * The transactional outbox's relay. Events are committed with their data (the event log); the
 * relay hands what is committed and unpublished to the bus, in seq order per conversation,
 * under a per-conversation lease (outbox.store), and only then marks it published.
 *
 * - `kick(conversationId)`: the fast path, right after a commit on this node. It resolves once
 *   a pass that started after the call has published (so it includes the caller's events).
 * - `sweep()`: the safety net, run by workers on start and every OUTBOX_SWEEP_MS, for events
 *   whose committing node died (or lost the bus) before publishing them.
 *
 * At least once: a relay that dies after publishing and before its mark commits leaves the
 * events to be published again; subscribers drop what they have (by seq).
 */
export function createOutboxRelay({ prisma, publisher, onError, batchSize = 500, maxPublishesPerBatch = 20_000 }: OutboxRelayOptions) {
  /**
   * One loop per conversation on this node. Kicks that arrive while a pass runs wait for the
   * next pass, which starts after their commit: each waits for at most two passes, however
   * busy the conversation.
   */
  const running = new Map<string, { waiting: Deferred[]; done: Promise<void> }>();

  /**
   * Publishes one batch under the lease. `wait: false` (sweeps) gives up at once when another
   * relay holds it: that relay is on the conversation already. Returns whether a full batch
   * was published (more may be waiting), or `busy`.
   */
  function publishBatch(conversationId: string, { wait }: { wait: boolean }): Promise<'full' | 'done' | 'busy'> {
    return prisma.$transaction(
      async (tx) => {
        const outbox = createOutboxStore(tx);
        if (!(await outbox.lease(conversationId, { wait }))) return 'busy';
        const batch = await outbox.unpublished(conversationId, { maxEvents: batchSize, maxPublishes: maxPublishesPerBatch });
        if (!batch) return 'done';
        // Published while the lease is held, so no other relay can overtake these events.
        const members = { memberIds: async () => batch.memberIds };
        await publisher.committed(batch.scope, batch.rows, { conversations: members, users: createUserStore(tx) });
        await outbox.markPublished(conversationId, batch.rows.map((r) => r.seq));
        return batch.rows.length === batch.limit ? 'full' : 'done';
      },
      TX_OPTIONS,
    );
  }

  /** Publishes until nothing is left (or, without `wait`, until another relay holds the lease). */
  async function drain(conversationId: string, wait: boolean) {
    let result: 'full' | 'done' | 'busy';
    do result = await publishBatch(conversationId, { wait });
    while (result === 'full');
  }

  function kick(conversationId: string): Promise<void> {
    const caller = new Promise<void>((resolve, reject) => {
      const run = running.get(conversationId);
      if (run) return void run.waiting.push({ resolve, reject });
      const started = { waiting: [{ resolve, reject }], done: Promise.resolve() };
      running.set(conversationId, started);
      started.done = (async () => {
        while (started.waiting.length > 0) {
          const waiters = started.waiting.splice(0);
          await drain(conversationId, true).then(
            () => waiters.forEach((w) => w.resolve()),
            (err: unknown) => waiters.forEach((w) => w.reject(err)),
          );
        }
        running.delete(conversationId);
      })();
    });
    return caller;
  }

  return {
    kick,

    /**
     * Publishes every conversation's events older than `graceMs` still unpublished, a few
     * conversations at a time; a conversation another relay is on is left to it.
     */
    async sweep({ graceMs = 500, limit = 100 } = {}) {
      const pending = await createOutboxStore(prisma).pendingConversations(graceMs, limit);
      const queue = [...pending];
      const worker = async () => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          if (running.has(id)) continue; // this node is on it
          await drain(id, false).catch(onError);
        }
      };
      await Promise.all(Array.from({ length: SWEEP_CONCURRENCY }, worker));
      return pending.length;
    },

    /** Resolves once every publish under way on this node has finished (shutdown). */
    async flush() {
      while (running.size > 0) await Promise.allSettled([...running.values()].map((r) => r.done));
    },
  };
}
export type OutboxRelay = ReturnType<typeof createOutboxRelay>;

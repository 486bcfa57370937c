import { Prisma } from '../generated/prisma/client.ts';
import type { Db } from '../db/client.ts';
import type { AppScope } from '../lib/scope.ts';
import type { EventRow } from './publisher.ts';

/** Advisory-lock class of the relay (the migration lock uses another key space). */
const RELAY_LOCK_CLASS = 7_270_737;

/**
 * The event log read as an outbox: which events are committed and not yet on the bus. Runs on
 * the client or inside the relay's transaction, like every store.
 */
export function createOutboxStore(db: Db) {
  return {
    /**
     * The relay's lease on one conversation, held until the transaction ends: relays on every
     * node queue here (or, without `wait`, give up), so a conversation's events are published
     * by one relay at a time, in seq order. A relay that dies loses its connection, and with
     * it the lease. (Read committed, Prisma's default, lets the next holder see the previous
     * holder's marks.)
     */
    async lease(conversationId: string, { wait }: { wait: boolean }): Promise<boolean> {
      if (wait) {
        await db.$executeRaw`SELECT pg_advisory_xact_lock(${RELAY_LOCK_CLASS}::int, hashtext(${conversationId}))::text`;
        return true;
      }
      const [row] = await db.$queryRaw<{ leased: boolean }[]>`
        SELECT pg_try_advisory_xact_lock(${RELAY_LOCK_CLASS}::int, hashtext(${conversationId})) AS leased`;
      return row?.leased === true;
    },

    /**
     * The oldest unpublished events of a conversation, in seq order, with their tenant scope:
     * at most `maxEvents`, and fewer in a large group, so that events × (1 + members) stays
     * within `maxPublishes`. `limit` is the number asked for: a batch that filled it may have
     * more behind it.
     */
    async unpublished(
      conversationId: string,
      { maxEvents, maxPublishes }: { maxEvents: number; maxPublishes: number },
    ): Promise<{ scope: AppScope; rows: EventRow[]; limit: number; memberIds: string[] } | null> {
      // The members size the batch, and are the fanout's recipients: read once, for both.
      const memberIds = (await db.membership.findMany({ where: { conversationId }, select: { userId: true } })).map((m) => m.userId);
      const limit = Math.max(1, Math.min(maxEvents, Math.floor(maxPublishes / (1 + memberIds.length))));
      const rows = await db.$queryRaw<(EventRow & { appId: string; tenantId: string })[]>`
        SELECT e.conversation_id AS "conversationId", e.seq, e.type, e.payload, e.created_at AS "createdAt",
               e.trace_context AS "traceContext", e.app_id AS "appId", a.tenant_id AS "tenantId"
          FROM conversation_event e JOIN app a ON a.id = e.app_id
         WHERE e.conversation_id = ${conversationId} AND e.published_at IS NULL
         ORDER BY e.seq
         LIMIT ${limit}`;
      if (rows.length === 0) return null;
      const { appId, tenantId } = rows[0]!;
      return {
        scope: { appId, tenantId },
        rows: rows.map(({ conversationId, seq, type, payload, createdAt, traceContext }) => ({ conversationId, seq: Number(seq), type, payload, createdAt, traceContext })),
        limit,
        memberIds,
      };
    },

    markPublished: (conversationId: string, seqs: number[]) =>
      db.$executeRaw`UPDATE conversation_event SET published_at = now()
                      WHERE conversation_id = ${conversationId} AND seq IN (${Prisma.join(seqs)})`,

    /** Conversations with events committed more than `olderThanMs` ago and still unpublished. */
    async pendingConversations(olderThanMs: number, limit: number): Promise<string[]> {
      const rows = await db.$queryRaw<{ conversation_id: string }[]>`
        SELECT DISTINCT conversation_id FROM (
          SELECT conversation_id FROM conversation_event
           WHERE published_at IS NULL AND created_at < now() - make_interval(secs => ${olderThanMs / 1000})
           ORDER BY created_at
           LIMIT ${limit * 20}) oldest
         LIMIT ${limit}`;
      return rows.map((r) => r.conversation_id);
    },
  };
}
export type OutboxStore = ReturnType<typeof createOutboxStore>;

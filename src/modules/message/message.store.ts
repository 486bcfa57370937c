import type { Prisma } from '../../generated/prisma/client.ts';
import type { Db } from '../../db/client.ts';
import type { AppScope, PageArgs } from '../../lib/scope.ts';

export type MessageRow = Prisma.MessageModel;
export type Attachment = { url: string; name?: string | null; mimeType?: string | null; size?: number | null };

/** How long an idempotency key keeps returning its original message (CONTRACT.md, guarantee 3). */
const IDEMPOTENCY_WINDOW = '24 hours';
const IDEMPOTENCY_WINDOW_MS = 24 * 3600_000;

export function createMessageStore(db: Db) {
  return {
    insert: (
      scope: AppScope,
      data: Pick<MessageRow, 'id' | 'conversationId' | 'seq' | 'senderId' | 'body'> & { attachments: Attachment[]; metadata: object },
    ) => db.message.create({ data: { ...data, appId: scope.appId } }),

    byId: (scope: AppScope, id: string) => db.message.findFirst({ where: { id, appId: scope.appId } }),

    update: (scope: AppScope, id: string, data: Prisma.MessageUpdateInput) => db.message.update({ where: { id, appId: scope.appId }, data }),

    /** Ordered by `seq`; `inverted` (a `last` page) reads backwards and Relay reverses it. */
    page: (scope: AppScope, conversationId: string, { after, before, limit, inverted }: PageArgs<number>) =>
      db.message.findMany({
        where: {
          appId: scope.appId,
          conversationId,
          seq: { ...(after !== undefined ? { gt: after } : {}), ...(before !== undefined ? { lt: before } : {}) },
        },
        orderBy: { seq: inverted ? 'desc' : 'asc' },
        take: limit,
      }),

    /**
     * Claims an idempotency key for this transaction. Concurrent claims of the same key block
     * on the unique index until the first commits, then see its row: exactly one winner. A key
     * older than the window is taken over. Returns false when the key is already used.
     */
    async claimIdempotencyKey(scope: AppScope, userId: string, conversationId: string, key: string) {
      const rows = await db.$queryRaw<unknown[]>`
        INSERT INTO idempotency_key (app_id, user_id, conversation_id, key, created_at)
        VALUES (${scope.appId}, ${userId}, ${conversationId}, ${key}, now())
        ON CONFLICT (app_id, user_id, conversation_id, key) DO UPDATE
          SET message_id = NULL, created_at = now()
          WHERE idempotency_key.created_at < now() - ${IDEMPOTENCY_WINDOW}::interval
        RETURNING 1`;
      return rows.length === 1;
    },

    /** The message an idempotency key names; with `unexpired`, only if the key is within its 24 h. */
    async messageForIdempotencyKey(scope: AppScope, userId: string, conversationId: string, key: string, { unexpired = false } = {}) {
      const row = await db.idempotencyKey.findUnique({
        where: { appId_userId_conversationId_key: { appId: scope.appId, userId, conversationId, key } },
      });
      if (unexpired && row && row.createdAt.getTime() <= Date.now() - IDEMPOTENCY_WINDOW_MS) return null;
      return row?.messageId ? db.message.findFirst({ where: { id: row.messageId, appId: scope.appId } }) : null;
    },

    /** Maintenance across every app (the one store function without a scope): drops expired keys. */
    deleteExpiredIdempotencyKeys: () =>
      db.$executeRaw`DELETE FROM idempotency_key WHERE created_at < now() - ${IDEMPOTENCY_WINDOW}::interval`,

    recordIdempotentMessage: (scope: AppScope, userId: string, conversationId: string, key: string, messageId: string) =>
      db.idempotencyKey.update({
        where: { appId_userId_conversationId_key: { appId: scope.appId, userId, conversationId, key } },
        data: { messageId },
      }),
  };
}
export type MessageStore = ReturnType<typeof createMessageStore>;

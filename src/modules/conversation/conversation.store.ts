import { Prisma } from '../../generated/prisma/client.ts';
import type { Db } from '../../db/client.ts';
import type { AppScope, PageArgs, TimeCursor } from '../../lib/scope.ts';

export type ConversationRow = Prisma.ConversationModel;
export type MembershipRow = Prisma.MembershipModel;
export type Role = MembershipRow['role'];

/** Called in the transaction of each recorded event (the webhook outbox: modules/webhook). */
export type OnEventRecorded = (db: Db, event: Prisma.ConversationEventModel) => Promise<unknown>;

/** Conversations, their members and their event log. Every function takes the app scope. */
export function createConversationStore(db: Db, { onEventRecorded }: { onEventRecorded?: OnEventRecorded } = {}) {
  const store = {
    insert: (
      scope: AppScope,
      data: Pick<ConversationRow, 'id' | 'kind' | 'title' | 'directKey'> & { metadata: object },
      members: { userId: string; role: Role }[],
    ) =>
      db.conversation.create({
        data: {
          ...data,
          appId: scope.appId,
          members: { create: members.map((m) => ({ ...m, appId: scope.appId })) },
        },
      }),

    byDirectKey: (scope: AppScope, directKey: string) =>
      db.conversation.findUnique({ where: { appId_directKey: { appId: scope.appId, directKey } } }),

    byId: (scope: AppScope, id: string) => db.conversation.findFirst({ where: { id, appId: scope.appId } }),

    membership: (scope: AppScope, conversationId: string, userId: string) =>
      db.membership.findFirst({ where: { conversationId, userId, appId: scope.appId } }),

    /** A user's conversations, most recent event first; (lastEventAt, id) is the keyset. */
    pageForUser: (scope: AppScope, userId: string, { after, before, limit, inverted }: PageArgs<TimeCursor>) => {
      const older = (c: TimeCursor) => ({
        OR: [{ lastEventAt: { lt: new Date(c.t) } }, { lastEventAt: new Date(c.t), id: { lt: c.id } }],
      });
      const newer = (c: TimeCursor) => ({
        OR: [{ lastEventAt: { gt: new Date(c.t) } }, { lastEventAt: new Date(c.t), id: { gt: c.id } }],
      });
      const order = inverted ? ('asc' as const) : ('desc' as const);
      return db.conversation.findMany({
        where: {
          appId: scope.appId,
          members: { some: { userId } },
          AND: [after ? older(after) : {}, before ? newer(before) : {}],
        },
        orderBy: [{ lastEventAt: order }, { id: order }],
        take: limit,
      });
    },

    membersOf: (scope: AppScope, conversationIds: readonly string[]) =>
      db.membership.findMany({
        where: { appId: scope.appId, conversationId: { in: [...conversationIds] } },
        orderBy: [{ joinedAt: 'asc' }, { userId: 'asc' }],
      }),

    memberIds: async (scope: AppScope, conversationId: string) =>
      (await db.membership.findMany({ where: { appId: scope.appId, conversationId }, select: { userId: true } })).map((m) => m.userId),

    /** The event log after `afterSeq` (up to `untilSeq` when given), in order: replay and gap filling. */
    eventsAfter: (scope: AppScope, conversationId: string, afterSeq: number, { untilSeq, limit = 500 }: { untilSeq?: number; limit?: number } = {}) =>
      db.conversationEvent.findMany({
        where: { appId: scope.appId, conversationId, seq: { gt: afterSeq, ...(untilSeq !== undefined ? { lte: untilSeq } : {}) } },
        orderBy: { seq: 'asc' },
        take: limit,
      }),

    /** Unread = not deleted, sent by others, after the user's read marker (CONTRACT.md). */
    async unreadCounts(scope: AppScope, userId: string, conversationIds: readonly string[]) {
      if (conversationIds.length === 0) return new Map<string, number>();
      const rows = await db.$queryRaw<{ conversation_id: string; unread: number }[]>`
        SELECT m.conversation_id, count(*)::int AS unread
          FROM membership mb
          JOIN message m ON m.conversation_id = mb.conversation_id AND m.seq > mb.last_read_seq
         WHERE mb.app_id = ${scope.appId} AND mb.user_id = ${userId}
           AND mb.conversation_id IN (${Prisma.join([...conversationIds])})
           AND m.sender_id <> ${userId} AND m.status <> 'DELETED'
         GROUP BY m.conversation_id`;
      return new Map(rows.map((r) => [r.conversation_id, Number(r.unread)]));
    },

    /** Users of `userIds` who share at least one conversation with `userId`. */
    async sharingAConversation(scope: AppScope, userId: string, userIds: readonly string[]) {
      const rows = await db.membership.findMany({
        where: {
          appId: scope.appId,
          userId: { in: [...userIds] },
          conversation: { members: { some: { userId } } },
        },
        select: { userId: true },
        distinct: ['userId'],
      });
      return new Set(rows.map((r) => r.userId));
    },

    /**
     * Takes the next `seq` of the conversation. The UPDATE holds the conversation's row lock
     * until the transaction ends, so concurrent writers queue here and commit their seqs in
     * order: no gap, no duplicate. `now()` is when the transaction began, which may be
     * before the previous writer committed: the clock, never below the last value, keeps
     * lastEventAt moving forward.
     */
    async nextSeq(scope: AppScope, conversationId: string) {
      const [row] = await db.$queryRaw<{ last_seq: number }[]>`
        UPDATE conversation SET last_seq = last_seq + 1, last_event_at = GREATEST(last_event_at, clock_timestamp())
         WHERE id = ${conversationId} AND app_id = ${scope.appId}
        RETURNING last_seq`;
      if (!row) throw new Error(`conversation ${conversationId} vanished inside its transaction`);
      return Number(row.last_seq);
    },

    async recordEvent(scope: AppScope, conversationId: string, seq: number, type: string, payload: object) {
      const event = await db.conversationEvent.create({
        data: { conversationId, seq, appId: scope.appId, type, payload: payload as Prisma.InputJsonValue },
      });
      await onEventRecorded?.(db, event);
      return event;
    },

    async appendEvent(scope: AppScope, conversationId: string, type: string, payload: object) {
      const seq = await store.nextSeq(scope, conversationId);
      return store.recordEvent(scope, conversationId, seq, type, payload);
    },

    /** Locks the conversation row for membership changes that check invariants first. */
    lock: (scope: AppScope, conversationId: string) =>
      db.$queryRaw`SELECT id FROM conversation WHERE id = ${conversationId} AND app_id = ${scope.appId} FOR UPDATE`,

    addMember: (scope: AppScope, conversationId: string, userId: string, role: Role) =>
      db.membership.create({ data: { conversationId, userId, role, appId: scope.appId } }),

    removeMember: (scope: AppScope, conversationId: string, userId: string) =>
      db.membership.deleteMany({ where: { conversationId, userId, appId: scope.appId } }),

    /** The caller holds the conversation lock and has just read the membership: it is there. */
    async setRole(scope: AppScope, conversationId: string, userId: string, role: Role) {
      await db.membership.updateMany({ where: { conversationId, userId, appId: scope.appId }, data: { role } });
      return db.membership.findFirstOrThrow({ where: { conversationId, userId, appId: scope.appId } });
    },

    countOwners: (scope: AppScope, conversationId: string) =>
      db.membership.count({ where: { conversationId, appId: scope.appId, role: 'OWNER' } }),

    /**
     * Markers only move forward: a late or repeated mark never moves them back. Null when the
     * user is not a member (any more: a removal may have committed since the caller checked).
     */
    async advanceMarkers(scope: AppScope, conversationId: string, userId: string, marks: { read?: number; delivered: number }) {
      await db.$executeRaw`
        UPDATE membership
           SET last_delivered_seq = GREATEST(last_delivered_seq, ${marks.delivered}),
               last_read_seq = GREATEST(last_read_seq, ${marks.read ?? 0})
         WHERE conversation_id = ${conversationId} AND user_id = ${userId} AND app_id = ${scope.appId}`;
      return db.membership.findFirst({ where: { conversationId, userId, appId: scope.appId } });
    },
  };
  return store;
}
export type ConversationStore = ReturnType<typeof createConversationStore>;

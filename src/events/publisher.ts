import type { ConversationStore } from '../modules/conversation/conversation.store.ts';
import type { UserStore } from '../modules/user/user.store.ts';
import type { AppScope } from '../lib/scope.ts';
import type { Bus } from './bus.ts';
import { topics, type ConversationEnvelope, type EphemeralType } from './event-map.ts';
import { EventType } from './event-types.ts';
import { tracePublish } from '../observability/delivery-tracing.ts';
import { currentTraceparent } from '../observability/tracing.ts';
import type { Metrics } from '../observability/metrics.ts';

/** The stores the publisher reads members and users from. */
export type PublisherStores = { conversations: Pick<ConversationStore, 'memberIds'>; users: Pick<UserStore, 'byIds'> };

export type EventRow = { conversationId: string; seq: number; type: string; payload: unknown; createdAt: Date; traceContext?: string | null };

/**
 * Puts committed and ephemeral events on the bus: to the conversation's topic, and to the
 * inbox topic of every member (plus anyone who just left, so they learn it). The work per
 * event is done once here, on the node that committed it: one query for the members, one
 * for the users the payload names, whatever the number of subscribers.
 */
export function createEventPublisher(deps: { bus: Bus; metrics?: Pick<Metrics, 'published'> } & PublisherStores) {
  const { bus } = deps;

  /** Senders and joining members travel with the event, so subscribers need no query. */
  async function withUsers({ users }: PublisherStores, scope: AppScope, envelopes: ConversationEnvelope[]) {
    // Which payload object names a user, under which key, and where the loaded user goes.
    const slots = envelopes.flatMap((e) => {
      const message = e.payload.message as Record<string, unknown> | undefined;
      const member = e.payload.member as Record<string, unknown> | undefined;
      return [
        ...(message?.senderId ? [{ e, field: 'message', value: message, userId: String(message.senderId), into: 'sender' }] : []),
        ...(member?.userId ? [{ e, field: 'member', value: member, userId: String(member.userId), into: 'user' }] : []),
      ];
    });
    if (slots.length === 0) return;
    const byId = new Map((await users.byIds(scope, [...new Set(slots.map((s) => s.userId))])).map((u) => [u.id, u]));
    for (const { e, field, value, userId, into } of slots) e.payload = { ...e.payload, [field]: { ...value, [into]: byId.get(userId) } };
  }

  /** Resolves once the bus has taken every envelope; rejects if it refused one. */
  async function fanOut(
    { conversations }: PublisherStores,
    scope: AppScope,
    conversationId: string,
    envelopes: ConversationEnvelope[],
    alsoTo: string[] = [],
  ) {
    const members = await conversations.memberIds(scope, conversationId);
    const recipients = new Set([...members, ...alsoTo]);
    const to = [topics.conversation(scope.appId, conversationId), ...[...recipients].map((userId) => topics.inbox(scope.appId, userId))];
    // Settled, not raced: the relay's lease is held until every publish has an answer, so a
    // straggler cannot arrive after the next relay's copy.
    const results = await Promise.allSettled(envelopes.map((envelope) => bus.publishMany(to, envelope)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  return {
    /**
     * Events of one conversation, committed, in seq order: called by the outbox relay, which
     * passes stores bound to its transaction.
     */
    async committed(scope: AppScope, rows: EventRow[], stores: PublisherStores) {
      if (rows.length === 0) return;
      const envelopes = rows.map(
        (row): ConversationEnvelope => ({
          appId: scope.appId,
          conversationId: row.conversationId,
          seq: row.seq,
          type: row.type as EventType,
          at: row.createdAt.toISOString(),
          payload: row.payload as Record<string, unknown>,
        }),
      );
      await withUsers(stores, scope, envelopes);
      const left = envelopes.filter((e) => e.type === EventType.memberLeft).map((e) => String(e.payload.userId));
      // Each event continues the trace of the transaction that committed it (persisted with it).
      await tracePublish(envelopes, (i) => rows[i]!.traceContext, () => fanOut(stores, scope, rows[0]!.conversationId, envelopes, left));
      deps.metrics?.published(scope.tenantId, 'persisted', envelopes.length);
    },

    async ephemeral(scope: AppScope, conversationId: string, type: EphemeralType, payload: Record<string, unknown>) {
      const envelope: ConversationEnvelope = { appId: scope.appId, conversationId, seq: null, type, at: new Date().toISOString(), payload };
      await tracePublish([envelope], currentTraceparent, () => fanOut(deps, scope, conversationId, [envelope]));
      deps.metrics?.published(scope.tenantId, 'ephemeral');
    },
  };
}
export type EventPublisher = ReturnType<typeof createEventPublisher>;

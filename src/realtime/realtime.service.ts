import type { Bus } from '../events/bus.ts';
import type { Actor, AppScope } from '../lib/scope.ts';
import type { ConversationService } from '../modules/conversation/conversation.service.ts';
import type { ConversationStore } from '../modules/conversation/conversation.store.ts';
import { conversationStream, inboxStream } from './conversation-stream.ts';
import { presenceStream } from './presence-stream.ts';
import { traceDeliveries } from '../observability/delivery-tracing.ts';
import { meterDeliveries, type DeliveryMetrics } from './delivery-metrics.ts';

/** The live streams behind the subscriptions; permissions are checked when they start. */
export function createRealtimeService(deps: {
  bus: Bus;
  conversations: ConversationStore;
  conversationService: ConversationService;
  maxPending: number;
  /** Events written and fanout lag (observability/metrics.ts); none in unit wiring. */
  metrics?: DeliveryMetrics;
}) {
  const { bus, conversations, conversationService, maxPending, metrics } = deps;
  const metered = <T extends object>(stream: AsyncGenerator<T>, tenantId: string, field: string) => meterDeliveries(stream, metrics, { tenantId, field });
  return {
    async conversationEvents(actor: Actor, conversationId: string, afterSeq: number | null, onSlowConsumer: () => void) {
      await conversationService.access(actor, conversationId); // NOT_FOUND for non-members
      // Tracing on: a span per socket write of an event that carries a trace context.
      const stream = traceDeliveries(conversationStream({ bus, conversations }, actor, conversationId, afterSeq, { maxPending, onSlowConsumer }), 'conversationEvents');
      return metered(stream, actor.scope.tenantId, 'conversationEvents');
    },
    inboxEvents: (actor: Actor, onSlowConsumer: () => void) =>
      metered(traceDeliveries(inboxStream({ bus }, actor, { maxPending, onSlowConsumer }), 'inboxEvents'), actor.scope.tenantId, 'inboxEvents'),
    presenceUpdates: (scope: AppScope, visibleUserIds: string[], onSlowConsumer: () => void) =>
      metered(presenceStream({ bus }, scope, visibleUserIds, { maxPending, onSlowConsumer }), scope.tenantId, 'presenceUpdated'),
  };
}
export type RealtimeService = ReturnType<typeof createRealtimeService>;

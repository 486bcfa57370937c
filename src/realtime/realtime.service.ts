import type { Bus } from '../events/bus.ts';
import type { ConversationEnvelope } from '../events/event-map.ts';
import type { Actor, AppScope } from '../lib/scope.ts';
import type { ConversationService } from '../modules/conversation/conversation.service.ts';
import type { ConversationStore } from '../modules/conversation/conversation.store.ts';
import { conversationStream, inboxStream } from './conversation-stream.ts';
import { presenceStream } from './presence-stream.ts';
import { traceDeliveries, traceDirectDelivery } from '../observability/delivery-tracing.ts';
import { deliveryMeter, meterDeliveries, type DeliveryMetrics } from './delivery-metrics.ts';
import type { DirectWrite, StreamOptions } from './live-stream.ts';

/** Who a stream delivers to: what to do when they fall behind, and their direct path if the transport has one. */
export type Subscriber = { onSlowConsumer: () => void; direct?: DirectWrite<ConversationEnvelope> };

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

  /**
   * A conversation stream's options, and the bookkeeping of both of its paths: the queued one
   * through the stream wrappers (a span per socket write when tracing, the delivery metrics),
   * the direct one around each write it makes.
   */
  function streamed(tenantId: string, field: string, { onSlowConsumer, direct }: Subscriber, open: (options: StreamOptions<ConversationEnvelope>) => AsyncGenerator<ConversationEnvelope>) {
    const meter = deliveryMeter(metrics, { tenantId, field });
    // Counted only when a frame went out; bookkeeping that throws must not undo a delivery
    // (the stream has to record it as emitted, or the log would send it again).
    const bookkept = direct && ((e: ConversationEnvelope) => {
      const result = direct(e);
      if (result === 'written') {
        try {
          meter?.(e);
          traceDirectDelivery(e, field);
        } catch {
          // metrics and traces are best effort
        }
      }
      return result;
    });
    return meterDeliveries(traceDeliveries(open({ maxPending, onSlowConsumer, direct: bookkept }), field), meter);
  }

  return {
    async conversationEvents(actor: Actor, conversationId: string, afterSeq: number | null, subscriber: Subscriber) {
      await conversationService.access(actor, conversationId); // NOT_FOUND for non-members
      return streamed(actor.scope.tenantId, 'conversationEvents', subscriber, (options) => conversationStream({ bus, conversations }, actor, conversationId, afterSeq, options));
    },
    inboxEvents: (actor: Actor, subscriber: Subscriber) => streamed(actor.scope.tenantId, 'inboxEvents', subscriber, (options) => inboxStream({ bus }, actor, options)),
    presenceUpdates: (scope: AppScope, visibleUserIds: string[], onSlowConsumer: () => void) =>
      meterDeliveries(presenceStream({ bus }, scope, visibleUserIds, { maxPending, onSlowConsumer }), deliveryMeter(metrics, { tenantId: scope.tenantId, field: 'presenceUpdated' })),
  };
}
export type RealtimeService = ReturnType<typeof createRealtimeService>;

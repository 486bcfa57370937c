import type { Bus } from '../events/bus.ts';
import type { Actor, AppScope } from '../lib/scope.ts';
import type { ConversationService } from '../modules/conversation/conversation.service.ts';
import type { ConversationStore } from '../modules/conversation/conversation.store.ts';
import { conversationStream, inboxStream } from './conversation-stream.ts';
import { presenceStream } from './presence-stream.ts';

/** The live streams behind the subscriptions; permissions are checked when they start. */
export function createRealtimeService(deps: {
  bus: Bus;
  conversations: ConversationStore;
  conversationService: ConversationService;
  maxPending: number;
}) {
  const { bus, conversations, conversationService, maxPending } = deps;
  return {
    async conversationEvents(actor: Actor, conversationId: string, afterSeq: number | null, onSlowConsumer: () => void) {
      await conversationService.access(actor, conversationId); // NOT_FOUND for non-members
      return conversationStream({ bus, conversations }, actor, conversationId, afterSeq, { maxPending, onSlowConsumer });
    },
    inboxEvents: (actor: Actor, onSlowConsumer: () => void) => inboxStream({ bus }, actor, { maxPending, onSlowConsumer }),
    presenceUpdates: (scope: AppScope, visibleUserIds: string[], onSlowConsumer: () => void) =>
      presenceStream({ bus }, scope, visibleUserIds, { maxPending, onSlowConsumer }),
  };
}
export type RealtimeService = ReturnType<typeof createRealtimeService>;

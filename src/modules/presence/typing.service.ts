import { EphemeralType } from '../../events/event-map.ts';
import type { EventPublisher } from '../../events/publisher.ts';
import { forbidden } from '../../lib/errors.ts';
import type { Actor } from '../../lib/scope.ts';
import type { ConversationService } from '../conversation/conversation.service.ts';
import { canWrite } from '../conversation/roles.ts';

/**
 * Typing indicators: ephemeral events, never stored. "Typing" ends on its own after `ttlMs`
 * unless the client says it again (clients repeat it every few seconds while typing), so a
 * client that vanishes mid-sentence does not leave others watching a ghost typing forever.
 */
export function createTypingService(deps: { publisher: EventPublisher; conversations: ConversationService; ttlMs: number }) {
  const { publisher, conversations, ttlMs } = deps;
  const expiries = new Map<string, NodeJS.Timeout>();

  const publish = (actor: Actor, conversationId: string, typing: boolean) =>
    publisher.ephemeral(actor.scope, conversationId, EphemeralType.typing, { userId: actor.userId, typing });

  return {
    async set(actor: Actor, conversationId: string, typing: boolean) {
      const { role } = await conversations.access(actor, conversationId);
      if (!canWrite(role)) throw forbidden('A READER cannot send typing indicators');
      const key = `${actor.scope.appId}:${conversationId}:${actor.userId}`;
      clearTimeout(expiries.get(key));
      expiries.delete(key);
      if (typing) {
        const timer = setTimeout(() => {
          expiries.delete(key);
          void publish(actor, conversationId, false).catch(() => {});
        }, ttlMs);
        timer.unref();
        expiries.set(key, timer);
      }
      await publish(actor, conversationId, typing);
      return true;
    },
    stop() {
      for (const timer of expiries.values()) clearTimeout(timer);
      expiries.clear();
    },
  };
}
export type TypingService = ReturnType<typeof createTypingService>;

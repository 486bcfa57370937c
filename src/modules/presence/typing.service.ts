import { EphemeralType } from '../../events/event-map.ts';
import type { EventPublisher } from '../../events/publisher.ts';
import { forbidden } from '../../lib/errors.ts';
import type { ExpiringSet } from '../../lib/expiring-set.ts';
import type { Actor } from '../../lib/scope.ts';
import type { ConversationService } from '../conversation/conversation.service.ts';
import { canWrite } from '../conversation/roles.ts';

/**
 * Typing indicators: ephemeral events, never stored. "Typing" ends on its own after `ttlMs`
 * unless the client says it again (clients repeat it every few seconds while typing), so a
 * client that vanishes mid-sentence does not leave others watching a ghost typing forever.
 * Who is typing until when lives in an ExpiringSet (Redis in a cluster), which a reaper on
 * every node polls: the "stopped" event goes out once, from whichever node pops it, even if
 * the node that received "typing" has died.
 */
export function createTypingService(deps: {
  publisher: EventPublisher;
  conversations: ConversationService;
  typing: ExpiringSet;
  ttlMs: number;
  onError: (err: unknown) => void;
}) {
  const { publisher, conversations, typing: typists, ttlMs, onError } = deps;
  const member = (actor: Actor, conversationId: string) => JSON.stringify([actor.scope.tenantId, actor.scope.appId, conversationId, actor.userId]);

  const publish = (actor: Actor, conversationId: string, typing: boolean) =>
    publisher.ephemeral(actor.scope, conversationId, EphemeralType.typing, { userId: actor.userId, typing });

  async function reap() {
    for (const expired of await typists.popExpired(Date.now(), 500)) {
      const [tenantId, appId, conversationId, userId] = JSON.parse(expired) as [string, string, string, string];
      await publish({ scope: { tenantId, appId }, userId }, conversationId, false).catch(onError);
    }
  }
  // A tenth of the TTL late at most; several nodes polling one Redis set is a few cheap calls.
  const timer = setInterval(() => void reap().catch(onError), Math.max(50, Math.floor(ttlMs / 10)));
  timer.unref();

  return {
    async set(actor: Actor, conversationId: string, typing: boolean) {
      const { role } = await conversations.access(actor, conversationId);
      if (!canWrite(role)) throw forbidden('A READER cannot send typing indicators');
      if (typing) await typists.put(member(actor, conversationId), Date.now() + ttlMs);
      else await typists.delete(member(actor, conversationId));
      await publish(actor, conversationId, typing);
      return true;
    },
    stop() {
      clearInterval(timer);
    },
  };
}
export type TypingService = ReturnType<typeof createTypingService>;

import type { TokenService } from './auth/tokens.ts';
import { createTransact } from './db/stores.ts';
import type { Bus } from './events/bus.ts';
import { createEventPublisher } from './events/publisher.ts';
import type { PrismaClient } from './generated/prisma/client.ts';
import { createApiKeyStore } from './modules/app/api-key.store.ts';
import { createAppService } from './modules/app/app.service.ts';
import { createAppStore } from './modules/app/app.store.ts';
import { createConversationService } from './modules/conversation/conversation.service.ts';
import { createConversationStore } from './modules/conversation/conversation.store.ts';
import { createMessageService } from './modules/message/message.service.ts';
import { createMessageStore } from './modules/message/message.store.ts';
import { createPresenceService } from './modules/presence/presence.service.ts';
import { createPresenceTracker } from './modules/presence/presence.tracker.ts';
import { createTypingService } from './modules/presence/typing.service.ts';
import { createTenantService } from './modules/tenant/tenant.service.ts';
import { createTenantStore } from './modules/tenant/tenant.store.ts';
import { createSessionStore } from './modules/user/session.store.ts';
import { createUserService } from './modules/user/user.service.ts';
import { createUserStore } from './modules/user/user.store.ts';
import { createRealtimeService } from './realtime/realtime.service.ts';

export type ServicesOptions = {
  prisma: PrismaClient;
  tokens: TokenService;
  bus: Bus;
  maxMessageBytes: number;
  typingTtlMs: number;
  /** Events a subscriber may fall behind by before it is cut off. */
  maxPendingEvents: number;
  onError: (err: unknown, what: string) => void;
};

/** Wires stores into services; the only place that knows every module. */
export function createServices({ prisma, tokens, bus, maxMessageBytes, typingTtlMs, maxPendingEvents, onError }: ServicesOptions) {
  const stores = {
    tenants: createTenantStore(prisma),
    apps: createAppStore(prisma),
    apiKeys: createApiKeyStore(prisma),
    users: createUserStore(prisma),
    sessions: createSessionStore(prisma),
    conversations: createConversationStore(prisma),
    messages: createMessageStore(prisma),
  };
  // A failed publish loses no data: the events are committed, and subscribers fill gaps from the log.
  const transact = createTransact(prisma, { onAfterCommitError: (err) => onError(err, 'publishing committed events') });
  const publisher = createEventPublisher({ bus, conversations: stores.conversations, users: stores.users });
  const tracker = createPresenceTracker({ bus });
  const conversations = createConversationService({ conversations: stores.conversations, users: stores.users, transact, publisher });
  return {
    stores,
    bus,
    tracker,
    tenants: createTenantService({ tenants: stores.tenants }),
    apps: createAppService(stores),
    users: createUserService({ users: stores.users, sessions: stores.sessions, tokens, bus }),
    conversations,
    messages: createMessageService({
      messages: stores.messages,
      conversations: stores.conversations,
      conversationService: conversations,
      transact,
      publisher,
      maxMessageBytes,
      onError,
    }),
    presence: createPresenceService({ conversations: stores.conversations, users: stores.users, tracker }),
    typing: createTypingService({ publisher, conversations, ttlMs: typingTtlMs }),
    realtime: createRealtimeService({ bus, conversations: stores.conversations, conversationService: conversations, maxPending: maxPendingEvents }),
  };
}
export type Services = ReturnType<typeof createServices>;

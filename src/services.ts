import type { TokenService } from './auth/tokens.ts';
import { createTransact } from './db/stores.ts';
import type { PrismaClient } from './generated/prisma/client.ts';
import { createApiKeyStore } from './modules/app/api-key.store.ts';
import { createAppService } from './modules/app/app.service.ts';
import { createAppStore } from './modules/app/app.store.ts';
import { createConversationService } from './modules/conversation/conversation.service.ts';
import { createConversationStore } from './modules/conversation/conversation.store.ts';
import { createMessageService } from './modules/message/message.service.ts';
import { createMessageStore } from './modules/message/message.store.ts';
import { createPresenceService } from './modules/presence/presence.service.ts';
import { createTenantService } from './modules/tenant/tenant.service.ts';
import { createTenantStore } from './modules/tenant/tenant.store.ts';
import { createSessionStore } from './modules/user/session.store.ts';
import { createUserService } from './modules/user/user.service.ts';
import { createUserStore } from './modules/user/user.store.ts';

/** Wires stores into services; the only place that knows every module. */
export function createServices({ prisma, tokens, maxMessageBytes }: { prisma: PrismaClient; tokens: TokenService; maxMessageBytes: number }) {
  const stores = {
    tenants: createTenantStore(prisma),
    apps: createAppStore(prisma),
    apiKeys: createApiKeyStore(prisma),
    users: createUserStore(prisma),
    sessions: createSessionStore(prisma),
    conversations: createConversationStore(prisma),
    messages: createMessageStore(prisma),
  };
  const transact = createTransact(prisma);
  const conversations = createConversationService({ conversations: stores.conversations, users: stores.users, transact });
  return {
    stores,
    tenants: createTenantService({ tenants: stores.tenants }),
    apps: createAppService(stores),
    users: createUserService({ users: stores.users, sessions: stores.sessions, tokens }),
    conversations,
    messages: createMessageService({
      messages: stores.messages,
      conversations: stores.conversations,
      conversationService: conversations,
      transact,
      maxMessageBytes,
    }),
    presence: createPresenceService({ conversations: stores.conversations, users: stores.users }),
  };
}
export type Services = ReturnType<typeof createServices>;

import type { Keyring } from './auth/keyring.ts';
import type { TokenService } from './auth/tokens.ts';
import { createTransact } from './db/stores.ts';
import type { Bus } from './events/bus.ts';
import { createOutboxRelay } from './events/outbox-relay.ts';
import { createEventPublisher } from './events/publisher.ts';
import type { PrismaClient } from './generated/prisma/client.ts';
import type { Redis } from 'ioredis';
import { createApiKeyStore } from './modules/app/api-key.store.ts';
import { createAppService } from './modules/app/app.service.ts';
import { createAppStore } from './modules/app/app.store.ts';
import { createConversationService } from './modules/conversation/conversation.service.ts';
import { createConversationStore } from './modules/conversation/conversation.store.ts';
import { createMessageService } from './modules/message/message.service.ts';
import { createMessageStore } from './modules/message/message.store.ts';
import { createPresenceService } from './modules/presence/presence.service.ts';
import { createMemoryPresenceTracker } from './modules/presence/presence.tracker.ts';
import { createRedisPresenceTracker } from './modules/presence/redis-presence.tracker.ts';
import { createMemoryExpiringSet } from './lib/expiring-set.ts';
import { createRedisExpiringSet } from './lib/redis-expiring-set.ts';
import { createRateLimiter } from './lib/rate-limiter.ts';
import { createTypingService } from './modules/presence/typing.service.ts';
import { createTenantService } from './modules/tenant/tenant.service.ts';
import { createTenantStore } from './modules/tenant/tenant.store.ts';
import { createSessionStore } from './modules/user/session.store.ts';
import type { Config } from './config.ts';
import { TX_OPTIONS, type Db } from './db/client.ts';
import { createModerationService } from './modules/moderation/moderation.service.ts';
import { createModerationStore } from './modules/moderation/moderation.store.ts';
import { createWebhookSender } from './modules/webhook/http-sender.ts';
import { createWebhookDispatcher } from './modules/webhook/webhook-dispatcher.ts';
import { createWebhookOutbox } from './modules/webhook/webhook-outbox.ts';
import type { WebhookQueue } from './modules/webhook/webhook-queue.ts';
import { createWebhookService } from './modules/webhook/webhook.service.ts';
import { createWebhookStore } from './modules/webhook/webhook.store.ts';
import { createSigningKeyService } from './modules/signing-key/signing-key.service.ts';
import { createUserService } from './modules/user/user.service.ts';
import { createUserStore } from './modules/user/user.store.ts';
import { createMemorySocketCounts, createRedisSocketCounts } from './modules/usage/socket-counts.ts';
import { createUsageService } from './modules/usage/usage.service.ts';
import { createUsageStore } from './modules/usage/usage.store.ts';
import { createRealtimeService } from './realtime/realtime.service.ts';
import type { Metrics } from './observability/metrics.ts';

export type ServicesOptions = {
  prisma: PrismaClient;
  /** Webhook attempts as jobs on the store (pg-boss). */
  webhookQueue: WebhookQueue;
  secretKey: string;
  webhooks: Config['webhooks'];
  keyring: Keyring;
  tokens: TokenService;
  bus: Bus;
  /** Shared state across nodes (presence, typing, rate counters); null keeps it in this process. */
  redis: Redis | null;
  maxMessageBytes: number;
  typingTtlMs: number;
  conversationMessagesPerSecond: number;
  /** How long a socket counts as online after its node last renewed it (Redis only). */
  presenceTtlMs: number;
  /** Events a subscriber may fall behind by before it is cut off. */
  maxPendingEvents: number;
  /** How often each node publishes its socket counts and samples socket peaks (usage). */
  usageSampleMs: number;
  onError: (err: unknown, what: string) => void;
  /** This node's Prometheus metrics (events published and delivered, webhook outcomes). */
  metrics?: Metrics;
};

/** Wires stores into services; the only place that knows every module. */
export function createServices(options: ServicesOptions) {
  const { prisma, webhookQueue, secretKey, keyring, tokens, bus, redis, maxMessageBytes, typingTtlMs, presenceTtlMs, conversationMessagesPerSecond, maxPendingEvents, onError } = options;
  const stores = {
    tenants: createTenantStore(prisma),
    apps: createAppStore(prisma),
    apiKeys: createApiKeyStore(prisma),
    users: createUserStore(prisma),
    sessions: createSessionStore(prisma),
    conversations: createConversationStore(prisma),
    messages: createMessageStore(prisma),
  };
  // A failed publish loses no data: the events stay in the outbox, and the relay's sweep
  // publishes them later (workers; see jobs/worker.ts).
  const webhookOutbox = createWebhookOutbox({ queue: webhookQueue });
  const transact = createTransact(prisma, {
    onAfterCommitError: (err) => onError(err, 'publishing committed events'),
    webhooks: { record: webhookOutbox.record, committed: () => webhookQueue.notify() },
  });
  const webhookStore = createWebhookStore(prisma);
  const webhookTransact = <T>(fn: (db: Db) => Promise<T>) => prisma.$transaction((tx) => fn(tx), TX_OPTIONS);
  const moderation = createModerationService({
    store: createModerationStore(prisma),
    // Its own sender: a rewritten message comes back in the response, so it reads more of it.
    sender: createWebhookSender({ allowPrivate: options.webhooks.allowPrivateTargets, timeoutMs: 10_000, maxResponseBytes: 256 * 1024 }),
    secretKey,
    allowPrivateTargets: options.webhooks.allowPrivateTargets,
    onError: (err) => onError(err, 'the moderation hook'),
  });
  const publisher = createEventPublisher({ bus, conversations: stores.conversations, users: stores.users, metrics: options.metrics });
  const relay = createOutboxRelay({ prisma, publisher, onError: (err) => onError(err, 'relaying committed events') });
  const onPresenceError = (err: unknown) => onError(err, 'presence');
  const tracker = redis
    ? createRedisPresenceTracker({ redis, bus, ttlMs: presenceTtlMs, onError: onPresenceError })
    : createMemoryPresenceTracker({ bus, onError: onPresenceError });
  const tenants = createTenantService({ tenants: stores.tenants, bus, deployment: { maxMessageBytes }, onError: (err) => onError(err, 'announcing a suspended tenant') });
  const conversations = createConversationService({
    conversations: stores.conversations,
    users: stores.users,
    transact,
    relay,
    limits: (tenantId) => tenants.limits(tenantId),
  });
  return {
    stores,
    bus,
    relay,
    tracker,
    tenants,
    webhooks: createWebhookService({ store: webhookStore, transact: webhookTransact, queue: webhookQueue, secretKey, allowPrivateTargets: options.webhooks.allowPrivateTargets }),
    webhookQueue,
    moderation,
    webhookDispatcher: createWebhookDispatcher({
      store: webhookStore,
      transact: webhookTransact,
      queue: webhookQueue,
      sender: createWebhookSender({ allowPrivate: options.webhooks.allowPrivateTargets, timeoutMs: options.webhooks.timeoutMs }),
      secretKey,
      retrySchedule: options.webhooks.retrySchedule,
      disableAfterSeconds: options.webhooks.disableAfterSeconds,
      onError: (err) => onError(err, 'a webhook attempt'),
      metrics: options.metrics,
    }),
    signingKeys: createSigningKeyService({ keyring, bus, onError: (err) => onError(err, 'announcing a signing key rotation') }),
    /** Failed authentications per client address per minute (auth/credentials.ts). */
    authFailures: createRateLimiter({ redis, name: 'auth-failures-per-address', windowSeconds: 60 }),
    /** Requests per minute per tenant, over HTTP (http/request-rate.plugin.ts). */
    requestRate: createRateLimiter({ redis, name: 'requests-per-tenant', windowSeconds: 60 }),
    apps: createAppService({ ...stores, bus, onError: (err) => onError(err, 'announcing a revoked API key') }),
    users: createUserService({ users: stores.users, sessions: stores.sessions, tokens, bus, onError: (err) => onError(err, 'announcing revoked sessions') }),
    conversations,
    messages: createMessageService({
      messages: stores.messages,
      conversations: stores.conversations,
      conversationService: conversations,
      transact,
      publisher,
      relay,
      tenants,
      moderation,
      rateLimiter: createRateLimiter({ redis, name: 'messages-per-user' }),
      conversationRate: { limiter: createRateLimiter({ redis, name: 'messages-per-conversation' }), perSecond: conversationMessagesPerSecond },
      onError,
    }),
    presence: createPresenceService({ conversations: stores.conversations, users: stores.users, tracker }),
    typing: createTypingService({
      publisher,
      conversations,
      typing: redis ? createRedisExpiringSet(redis, 'parley:typing') : createMemoryExpiringSet(),
      ttlMs: typingTtlMs,
      onError: (err) => onError(err, 'typing'),
    }),
    usage: createUsageService({
      store: createUsageStore(prisma),
      // A node's published counts hold for three samples: one that stops drops out after that.
      counts: redis ? createRedisSocketCounts({ redis, ttlMs: 3 * options.usageSampleMs }) : createMemorySocketCounts(),
      sampleMs: options.usageSampleMs,
      onError: (err) => onError(err, 'usage'),
    }),
    realtime: createRealtimeService({ bus, conversations: stores.conversations, conversationService: conversations, maxPending: maxPendingEvents, metrics: options.metrics }),
  };
}
export type Services = ReturnType<typeof createServices>;

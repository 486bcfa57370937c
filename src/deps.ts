import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createCredentialResolver, type ResolveViewer } from './auth/credentials.ts';
import { createInProcessBus, type Bus } from './events/bus.ts';
import { createRedisBus } from './events/redis-bus.ts';
import { createSigningKeyStore } from './auth/signing-key.store.ts';
import { topics } from './events/event-map.ts';
import { createWebhookQueue, type WebhookQueue } from './modules/webhook/webhook-queue.ts';
import { createKeyring, type Keyring } from './auth/keyring.ts';
import { createTokenService, type TokenService } from './auth/tokens.ts';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/database.ts';
import { createServices, type Services } from './services.ts';
import { createBacklogProbe } from './observability/backlog.ts';
import { createLogger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';

export type Deps = {
  config: Config;
  log: Logger;
  bus: Bus;
  db: Database;
  keyring: Keyring;
  tokens: TokenService;
  services: Services;
  resolveViewer: ResolveViewer;
  /** This node's Prometheus registry and the helpers that feed it (GET /metrics). */
  metrics: Metrics;
  /** `draining` once shutdown began: /readyz answers 503 so load balancers stop sending. */
  lifecycle: { draining: boolean };
  close(): Promise<void>;
};

/** Composition root: opens the store, applies migrations, wires auth and services. */
export async function createDeps(config: Config): Promise<Deps> {
  const log = createLogger(config.logLevel);
  const metrics = createMetrics({ maxTenantLabels: config.metricsTenantLabels });
  const db = await openDatabase(config);
  let webhookQueue: WebhookQueue | undefined;
  try {
    await db.migrate();
    const keyring = await createKeyring({ store: createSigningKeyStore(db.prisma), secretKey: config.secretKey });
    const tokens = createTokenService({ keyring, issuer: config.tokenIssuer, audience: config.tokenAudience });
    const onBusError = (err: unknown) => log.error({ err }, 'bus error');
    const bus = config.redisUrl ? createRedisBus(config.redisUrl, { onError: onBusError }) : createInProcessBus({ onError: onBusError });
    // A rotation on any node: re-read the signing keys now rather than at the next refresh.
    bus.subscribe(topics.platform(), () => void keyring.reload().catch((err) => log.error({ err }, 'reloading signing keys')));
    // State shared by nodes (presence, typing, rate counters). Commands fail at once while
    // Redis is away instead of queueing: callers degrade (see each user) rather than hang.
    const redis = config.redisUrl
      ? new Redis(config.redisUrl, { retryStrategy: (n) => Math.min(n * 200, 2000), enableOfflineQueue: false, maxRetriesPerRequest: 1 })
      : null;
    redis?.on('error', (err) => log.error({ err }, 'redis error'));
    webhookQueue = await createWebhookQueue({ connection: db.queue, attemptTimeoutMs: config.webhooks.timeoutMs, onError: (err) => log.error({ err }, 'webhook queue error') });
    const services = createServices({
      prisma: db.prisma,
      webhookQueue,
      secretKey: config.secretKey,
      webhooks: config.webhooks,
      keyring,
      tokens,
      bus,
      redis,
      maxMessageBytes: config.maxMessageBytes,
      typingTtlMs: config.typingTtlMs,
      conversationMessagesPerSecond: config.conversationMessagesPerSecond,
      presenceTtlMs: config.presenceTtlMs,
      usageSampleMs: config.usageSampleMs,
      maxPendingEvents: config.ws.maxPendingEvents,
      onError: (err, what) => log.error({ err }, `failed: ${what}`),
      metrics,
    });
    metrics.watch(createBacklogProbe(db.prisma), (err) => log.warn({ err }, 'metrics: reading the outbox or webhook queue failed'));
    const resolveViewer = createCredentialResolver({
      adminToken: config.adminToken,
      tokens,
      apiKeys: services.stores.apiKeys,
      sessions: services.stores.sessions,
      authFailures: { limiter: services.authFailures, perMinute: config.authFailuresPerMinute },
    });
    const close = async () => {
      services.typing.stop();
      await services.tracker.stop(); // before the bus closes: a leaving node's users go offline
      await services.usage.stop(); // this node's sockets leave the shared counts
      await bus.close();
      await redis?.quit().catch(() => redis.disconnect());
      services.webhookDispatcher.stop(); // no new attempt starts
      await webhookQueue!.stop(); // lets attempts under way finish, then the sender can go
      await services.webhookDispatcher.close();
      await services.moderation.close();
      await db.close();
    };
    return { config, log, bus, db, keyring, tokens, services, resolveViewer, metrics, lifecycle: { draining: false }, close };
  } catch (err) {
    await webhookQueue?.stop().catch(() => {});
    await db.close();
    throw err;
  }
}

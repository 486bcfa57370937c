import { pino, type Logger } from 'pino';
import { createCredentialResolver, type ResolveViewer } from './auth/credentials.ts';
import { createInProcessBus, type Bus } from './events/bus.ts';
import { createRedisBus } from './events/redis-bus.ts';
import { createSigningKeyStore } from './auth/signing-key.store.ts';
import { createTokenService, type TokenService } from './auth/tokens.ts';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/database.ts';
import { startIdempotencySweeper } from './jobs/idempotency-sweeper.ts';
import { createServices, type Services } from './services.ts';

export type Deps = {
  config: Config;
  log: Logger;
  bus: Bus;
  db: Database;
  tokens: TokenService;
  services: Services;
  resolveViewer: ResolveViewer;
  sweeper: ReturnType<typeof startIdempotencySweeper>;
  close(): Promise<void>;
};

/** Composition root: opens the store, applies migrations, wires auth and services. */
export async function createDeps(config: Config): Promise<Deps> {
  const log = pino({ level: config.logLevel, redact: ['req.headers.authorization', 'req.headers["x-api-key"]'] });
  const db = await openDatabase(config);
  try {
    await db.migrate();
    const tokens = await createTokenService({
      store: createSigningKeyStore(db.prisma),
      secretKey: config.secretKey,
      issuer: config.tokenIssuer,
      audience: config.tokenAudience,
    });
    const onBusError = (err: unknown) => log.error({ err }, 'bus error');
    const bus = config.redisUrl ? createRedisBus(config.redisUrl, { onError: onBusError }) : createInProcessBus({ onError: onBusError });
    const services = createServices({
      prisma: db.prisma,
      tokens,
      bus,
      maxMessageBytes: config.maxMessageBytes,
      typingTtlMs: config.typingTtlMs,
      maxPendingEvents: config.ws.maxPendingEvents,
      onError: (err, what) => log.error({ err }, `failed: ${what}`),
    });
    const resolveViewer = createCredentialResolver({
      adminToken: config.adminToken,
      tokens,
      apiKeys: services.stores.apiKeys,
      sessions: services.stores.sessions,
    });
    const sweeper = startIdempotencySweeper({
      messages: services.stores.messages,
      onError: (err) => log.error({ err }, 'idempotency sweep failed'),
    });
    const close = async () => {
      sweeper.stop();
      services.typing.stop();
      await bus.close();
      await db.close();
    };
    return { config, log, bus, db, tokens, services, resolveViewer, sweeper, close };
  } catch (err) {
    await db.close();
    throw err;
  }
}

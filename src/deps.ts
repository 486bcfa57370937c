import { createCredentialResolver, type ResolveViewer } from './auth/credentials.ts';
import { createSigningKeyStore } from './auth/signing-key.store.ts';
import { createTokenService, type TokenService } from './auth/tokens.ts';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/database.ts';
import { startIdempotencySweeper } from './jobs/idempotency-sweeper.ts';
import { createServices, type Services } from './services.ts';

export type Deps = {
  config: Config;
  db: Database;
  tokens: TokenService;
  services: Services;
  resolveViewer: ResolveViewer;
  sweeper: ReturnType<typeof startIdempotencySweeper>;
  close(): Promise<void>;
};

/** Composition root: opens the store, applies migrations, wires auth and services. */
export async function createDeps(config: Config): Promise<Deps> {
  const db = await openDatabase(config);
  try {
    await db.migrate();
    const tokens = await createTokenService({
      store: createSigningKeyStore(db.prisma),
      secretKey: config.secretKey,
      issuer: config.tokenIssuer,
      audience: config.tokenAudience,
    });
    const services = createServices({ prisma: db.prisma, tokens, maxMessageBytes: config.maxMessageBytes });
    const resolveViewer = createCredentialResolver({
      adminToken: config.adminToken,
      tokens,
      apiKeys: services.stores.apiKeys,
      sessions: services.stores.sessions,
    });
    const sweeper = startIdempotencySweeper({ messages: services.stores.messages });
    const close = async () => {
      sweeper.stop();
      await db.close();
    };
    return { config, db, tokens, services, resolveViewer, sweeper, close };
  } catch (err) {
    await db.close();
    throw err;
  }
}

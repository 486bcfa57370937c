import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { inject } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createDeps, type Deps } from '../../src/deps.ts';

export type TestServer = {
  url: string;
  graphqlUrl: string;
  adminToken: string;
  deps: Deps;
  /** The environment the server was started with, to start another on the same store. */
  env: Record<string, string>;
  close(): Promise<void>;
};

export const testStore = () => (process.env.PARLEY_TEST_STORE === 'postgres' ? 'postgres' : 'pglite');

/**
 * The store part of the environment: the run's PostgreSQL database, or PGlite in memory.
 * Every server of a PostgreSQL run shares one database and so one token signing key, which
 * is sealed with SECRET_KEY: they need the same one, whatever their ADMIN_TOKEN.
 */
export function storeEnv(): Record<string, string> {
  return testStore() === 'postgres'
    ? { DATABASE_URL: inject('databaseUrl'), SECRET_KEY: `parley-test-signing-key-seal:${inject('databaseUrl')}` }
    : { DATA_DIR: ':memory:' };
}

/** Starts a real Parley on a random port, as `npm start` would, on the store under test. */
export async function startServer(env: Record<string, string> = {}): Promise<TestServer> {
  const fullEnv = {
    ADMIN_TOKEN: `test-admin-${randomBytes(12).toString('hex')}`,
    LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent',
    ...storeEnv(),
    ...env,
  };
  const config = loadConfig(fullEnv);
  const deps = await createDeps(config);
  const app = await buildApp(deps);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    graphqlUrl: `${url}/graphql`,
    adminToken: config.adminToken,
    deps,
    env: fullEnv,
    async close() {
      await app.close();
      await deps.close();
    },
  };
}

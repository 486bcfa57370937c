import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createDeps, type Deps } from '../../src/deps.ts';
import { startNode, type ParleyNode } from '../../src/node.ts';

export type TestServer = {
  url: string;
  graphqlUrl: string;
  adminToken: string;
  deps: Deps;
  /** The process's role parts: the worker's jobs, on the default role `all`. */
  node: ParleyNode;
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
    // Tests burst far above a real conversation's rate; the rate tests set their own.
    CONVERSATION_MESSAGES_PER_SECOND: '1000000',
    // Every test client is 127.0.0.1, and the attack tests fail on purpose; auth-failures.test.ts sets its own.
    AUTH_FAILURES_PER_MINUTE: '1000000',
    ...storeEnv(),
    ...env,
  };
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', ...fullEnv });
  const deps = await createDeps(config);
  const node = await startNode(deps, config.role).catch(async (err: unknown) => {
    await deps.close();
    throw err;
  });
  const url = `http://127.0.0.1:${node.port}`;
  return {
    url,
    graphqlUrl: `${url}/graphql`,
    adminToken: config.adminToken,
    deps,
    node,
    env: fullEnv,
    close: () => node.close(),
  };
}

import { defineConfig } from 'vitest/config';

// Integration tests run once per store: embedded PGlite always, PostgreSQL as well when
// DATABASE_URL is set (CI sets it). Each PostgreSQL run gets a fresh database of its own.
const stores = ['pglite', ...(process.env.DATABASE_URL ? ['postgres'] : [])];

/**
 * A project whose files share one PostgreSQL database (one per project and run) runs them one
 * at a time: its servers would otherwise take each other's jobs from the shared queues (pg-boss
 * webhook attempts with another server's retry schedule, outbox sweeps publishing to another
 * process's in-process bus). In production every node sharing a database shares Redis too.
 */
const oneFileAtATime = { maxWorkers: 1 };

export default defineConfig({
  // Node resolves `graphql` to its CommonJS build (it has no "exports" map); Vite would pick
  // its .mjs "module" build for our files, giving two GraphQL realms in one process.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    // Two files at a time even on a 2-core machine (vitest's default there is one): most of a
    // test's time is spent waiting on servers, sockets, processes and databases, not on CPU.
    // Only where files share nothing: see `oneFileAtATime` below.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true as const, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // Several nodes on PostgreSQL and Redis: when both are available (CI provides both).
      ...(process.env.DATABASE_URL && process.env.REDIS_URL
        ? [
            {
              extends: true as const,
              test: {
                name: 'cluster',
                include: ['test/cluster/**/*.test.ts'],
                ...oneFileAtATime, // and one Redis
                env: { PARLEY_TEST_STORE: 'postgres' },
                globalSetup: ['test/helpers/postgres-setup.ts'],
              },
            },
          ]
        : []),
      // The admin dashboard and the SDK's example page in real Chromium, and the SDK against a
      // real server: once, on PostgreSQL when there is one (CI), else on the embedded store.
      ...(['browser', 'sdk'] as const).map((name) => ({
        extends: true as const,
        test: {
          name,
          include: name === 'sdk' ? ['sdk/test/**/*.test.ts'] : ['test/browser/**/*.test.ts'],
          ...oneFileAtATime,
          env: { PARLEY_TEST_STORE: process.env.DATABASE_URL ? 'postgres' : 'pglite' },
          globalSetup: process.env.DATABASE_URL ? ['test/helpers/postgres-setup.ts'] : [],
        },
      })),
      ...stores.map((store) => ({
        extends: true as const,
        test: {
          name: store,
          include: ['test/integration/**/*.test.ts'],
          ...(store === 'postgres' ? oneFileAtATime : {}), // PGlite: a store in memory per server
          env: { PARLEY_TEST_STORE: store },
          globalSetup: store === 'postgres' ? ['test/helpers/postgres-setup.ts'] : [],
        },
      })),
    ],
  },
});

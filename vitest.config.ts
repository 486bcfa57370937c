import { defineConfig } from 'vitest/config';

// Integration tests run once per store: embedded PGlite always, PostgreSQL as well when
// DATABASE_URL is set (CI sets it). Each PostgreSQL run gets a fresh database of its own.
const stores = ['pglite', ...(process.env.DATABASE_URL ? ['postgres'] : [])];

export default defineConfig({
  // Node resolves `graphql` to its CommonJS build (it has no "exports" map); Vite would pick
  // its .mjs "module" build for our files, giving two GraphQL realms in one process.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    // Two files at a time even on a 2-core machine (vitest's default there is one): most of a
    // test's time is spent waiting on servers, sockets, processes and databases, not on CPU.
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
          env: { PARLEY_TEST_STORE: process.env.DATABASE_URL ? 'postgres' : 'pglite' },
          globalSetup: process.env.DATABASE_URL ? ['test/helpers/postgres-setup.ts'] : [],
        },
      })),
      ...stores.map((store) => ({
        extends: true as const,
        test: {
          name: store,
          include: ['test/integration/**/*.test.ts'],
          env: { PARLEY_TEST_STORE: store },
          globalSetup: store === 'postgres' ? ['test/helpers/postgres-setup.ts'] : [],
        },
      })),
    ],
  },
});

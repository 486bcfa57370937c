import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, pendingMigrations } from '../../src/db/migrate.ts';
import { startProcess } from '../helpers/process.ts';
import { startServer, storeEnv, testStore, type TestServer } from '../helpers/server.ts';
import { eventually } from '../helpers/ws.ts';

// Readiness (issue 7, item 4) on a real store and a real process: migrations applied, and a
// drain period on SIGTERM during which /readyz is 503 `draining` while everything still serves.

let server: TestServer;
const dirs: string[] = [];
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-ready-'));
  dirs.push(dir);
  return dir;
};

describe('migrations', () => {
  it('a started node is ready: the store answers and every migration is applied', async () => {
    const res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { database: 'ok', bus: 'in-process', migrations: 'ok' } });
  });

  it('a migration the code has and the store lacks is pending (what /readyz reports as not ready)', async () => {
    const query = (sql: string) => server.deps.db.prisma.$queryRawUnsafe<{ migration_name: string }[]>(sql);
    expect(await pendingMigrations(query)).toEqual([]);
    // The same store, seen by code with one migration more.
    const dir = await tempDir();
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    await mkdir(join(dir, '29990101000000_obs_future'));
    await writeFile(join(dir, '29990101000000_obs_future', 'migration.sql'), 'SELECT 1;');
    expect(await pendingMigrations(query, { dir })).toEqual(['29990101000000_obs_future']);
  });
});

describe('draining', () => {
  it('on SIGTERM /readyz turns 503 draining at once while /healthz and GraphQL still answer', async () => {
    const env = testStore() === 'postgres' ? storeEnv() : { DATA_DIR: await tempDir() };
    const parley = await startProcess({ ADMIN_TOKEN: 'obs-ready-admin-token-0123456789', SHUTDOWN_DRAIN_MS: '60000', ...env }, { timeoutMs: 90_000 });
    try {
      expect((await fetch(`${parley.url}/readyz`)).status).toBe(200);
      parley.child.kill('SIGTERM');
      await eventually(async () => {
        const res = await fetch(`${parley.url}/readyz`);
        expect(res.status).toBe(503);
        expect(await res.json()).toMatchObject({ status: 'draining' });
      });
      expect((await fetch(`${parley.url}/healthz`)).status).toBe(200);
      const graphql = await fetch(`${parley.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
      expect(await graphql.json()).toEqual({ data: { __typename: 'Query' } });
      expect(parley.child.exitCode).toBeNull(); // still draining (60 s)
    } finally {
      await parley.stop('SIGKILL');
    }
  }, 180_000);

  it('after SHUTDOWN_DRAIN_MS the node stops as before and exits 0', async () => {
    const env = testStore() === 'postgres' ? storeEnv() : { DATA_DIR: await tempDir() };
    const parley = await startProcess({ ADMIN_TOKEN: 'obs-ready-admin-token-0123456789', SHUTDOWN_DRAIN_MS: '200', ...env }, { timeoutMs: 90_000 });
    expect(await parley.stop('SIGTERM')).toBe(0);
    expect(parley.output()).toContain('"msg":"draining: not ready, still serving"');
  }, 180_000);
});

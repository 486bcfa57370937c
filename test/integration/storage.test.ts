import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, inject } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { migrate, MIGRATIONS_DIR } from '../../src/db/migrate.ts';
import { pgliteRunner, postgresRunner, type SqlRunner } from '../../src/db/sql-runner.ts';
import { PGlite } from '@electric-sql/pglite';
import { createDatabase } from '../helpers/databases.ts';
import { startProcess } from '../helpers/process.ts';
import { testStore } from '../helpers/server.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A brand-new, empty database on the store under test. */
async function freshStore(): Promise<{ open: () => Promise<Database>; runner: () => Promise<SqlRunner>; env: Record<string, string> }> {
  if (testStore() === 'postgres') {
    const { url: databaseUrl, drop } = await createDatabase(inject('adminDatabaseUrl'), 'parley_storage');
    cleanups.push(drop);
    return {
      open: () => openDatabase({ databaseUrl, dataDir: null }),
      runner: () => postgresRunner(databaseUrl),
      env: { DATABASE_URL: databaseUrl },
    };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-storage-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  return {
    open: () => openDatabase({ databaseUrl: null, dataDir }),
    runner: async () => {
      const db = new PGlite();
      return { ...pgliteRunner(db), close: () => db.close() };
    },
    env: { DATA_DIR: dataDir },
  };
}

describe('migrations', () => {
  it('apply once on a fresh database even when several starters race, recorded as Prisma records them', async () => {
    const store = await freshStore();
    const runners = testStore() === 'postgres' ? await Promise.all([1, 2, 3].map(() => store.runner())) : [await store.runner()];
    try {
      const results = await Promise.all(runners.map((r) => migrate(r)));
      const applied = results.flat();
      const names = (await readdir(MIGRATIONS_DIR, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
      expect(names.slice(0, 2)).toEqual(['20261124160000_init', '20261124190000_outbox_relay']);
      expect(applied).toEqual(names); // exactly one racer applied each, in order
      const [runner] = runners as [SqlRunner];
      const rows = await runner.query<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }>(
        'SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name',
      );
      const { createHash } = await import('node:crypto');
      const expected = await Promise.all(
        names.map(async (name) => ({
          migration_name: name,
          checksum: createHash('sha256').update(await readFile(join(MIGRATIONS_DIR, name, 'migration.sql'), 'utf8')).digest('hex'),
          finished_at: expect.any(Date),
          applied_steps_count: 1,
        })),
      );
      expect(rows).toEqual(expected);
      expect(await migrate(runner)).toEqual([]);
    } finally {
      for (const r of runners) await r.close();
    }
  });

  it('refuse to run when an applied migration file has changed since', async () => {
    const runner = await (await freshStore()).runner();
    try {
      await migrate(runner);
      await runner.query(`UPDATE "_prisma_migrations" SET checksum = 'tampered'`);
      await expect(migrate(runner)).rejects.toThrow(/was changed after it was applied/);
    } finally {
      await runner.close();
    }
  });

  it('roll back a failing migration and do not record it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-migrations-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, '001_good'));
    await writeFile(join(dir, '001_good', 'migration.sql'), 'CREATE TABLE good (id int);');
    await mkdir(join(dir, '002_bad'));
    await writeFile(join(dir, '002_bad', 'migration.sql'), 'CREATE TABLE half (id int);\nSELECT * FROM no_such_table;');
    const runner = await (await freshStore()).runner();
    try {
      await expect(migrate(runner, { dir })).rejects.toThrow(/no_such_table/);
      const tables = await runner.query<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables WHERE table_name IN ('good', 'half')`,
      );
      expect(tables.map((t) => t.name)).toEqual(['good']);
      const recorded = await runner.query<{ migration_name: string }>('SELECT migration_name FROM "_prisma_migrations"');
      expect(recorded.map((r) => r.migration_name)).toEqual(['001_good']);
    } finally {
      await runner.close();
    }
  });

  it('produce the tables schema.prisma describes: every model round-trips every field', async () => {
    const db = await (await freshStore()).open();
    try {
      await db.migrate();
      const p = db.prisma;
      const now = new Date('2026-01-02T03:04:05.678Z');
      await p.tenant.create({ data: { id: 't', name: 'T', plan: 'ENTERPRISE', status: 'SUSPENDED', limits: { maxApps: 3 }, createdAt: now } });
      await p.app.create({ data: { id: 'a', tenantId: 't', name: 'A', allowedOrigins: ['https://x.test'], createdAt: now } });
      await p.apiKey.create({ data: { id: 'pk_1', appId: 'a', secretHash: 'h', createdAt: now, revokedAt: now } });
      await p.user.create({ data: { id: 'u', appId: 'a', externalId: 'e', displayName: 'U', metadata: { k: [1] }, createdAt: now } });
      await p.session.create({ data: { id: 's', appId: 'a', userId: 'u', createdAt: now, expiresAt: now, revokedAt: now } });
      await p.conversation.create({
        data: { id: 'c', appId: 'a', kind: 'DIRECT', title: 'C', metadata: { x: 1 }, lastSeq: 2, lastEventAt: now, directKey: 'u:v', createdAt: now },
      });
      await p.membership.create({
        data: { conversationId: 'c', userId: 'u', appId: 'a', role: 'READER', joinedAt: now, lastReadSeq: 1, lastDeliveredSeq: 2 },
      });
      await p.message.create({
        data: { id: 'm', appId: 'a', conversationId: 'c', seq: 1, senderId: 'u', body: 'b', attachments: [{ url: 'https://f' }],
          metadata: { y: 2 }, status: 'EDITED', createdAt: now, editedAt: now, deletedAt: now },
      });
      await p.conversationEvent.create({
        data: { conversationId: 'c', seq: 1, appId: 'a', type: 'conversation.message.created', payload: { z: 3 }, createdAt: now, publishedAt: now },
      });
      await p.idempotencyKey.create({ data: { appId: 'a', userId: 'u', conversationId: 'c', key: 'k', messageId: 'm', createdAt: now } });
      await p.signingKey.create({ data: { kid: 'k1', alg: 'EdDSA', publicJwk: { kty: 'OKP' }, privateJwk: 'sealed', createdAt: now, retiredAt: now } });

      expect(await p.tenant.findFirstOrThrow()).toEqual({ id: 't', name: 'T', plan: 'ENTERPRISE', status: 'SUSPENDED', limits: { maxApps: 3 }, createdAt: now });
      expect((await p.app.findFirstOrThrow()).allowedOrigins).toEqual(['https://x.test']);
      expect((await p.apiKey.findFirstOrThrow()).revokedAt).toEqual(now);
      expect((await p.user.findFirstOrThrow()).metadata).toEqual({ k: [1] });
      expect((await p.session.findFirstOrThrow()).expiresAt).toEqual(now);
      expect(await p.conversation.findFirstOrThrow()).toMatchObject({ kind: 'DIRECT', lastSeq: 2, directKey: 'u:v', metadata: { x: 1 } });
      expect(await p.membership.findFirstOrThrow()).toMatchObject({ role: 'READER', lastReadSeq: 1, lastDeliveredSeq: 2 });
      expect(await p.message.findFirstOrThrow()).toMatchObject({ status: 'EDITED', attachments: [{ url: 'https://f' }], deletedAt: now });
      expect(await p.conversationEvent.findFirstOrThrow()).toMatchObject({ payload: { z: 3 }, publishedAt: now });
      expect((await p.idempotencyKey.findFirstOrThrow()).messageId).toBe('m');
      expect((await p.signingKey.findFirstOrThrow()).retiredAt).toEqual(now);
      // The unique keys the code relies on exist.
      await expect(p.user.create({ data: { id: 'u2', appId: 'a', externalId: 'e' } })).rejects.toThrow();
      await expect(
        p.conversation.create({ data: { id: 'c2', appId: 'a', kind: 'DIRECT', directKey: 'u:v' } }),
      ).rejects.toThrow();
      await expect(
        p.message.create({ data: { id: 'm2', appId: 'a', conversationId: 'c', seq: 1, senderId: 'u', body: '' } }),
      ).rejects.toThrow();
    } finally {
      await db.close();
    }
  });
});

describe('the process, as `npm start` runs it', () => {
  const adminToken = `storage-admin-${randomBytes(8).toString('hex')}`;
  const createTenant = (url: string) =>
    fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ query: 'mutation { createTenant(input: { name: "kept" }) { id } }' }),
    }).then(async (r) => ((await r.json()) as { data: { createTenant: { id: string } } }).data.createTenant.id);
  const tenantExists = (url: string, id: string) =>
    fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ query: 'query($id: ID!) { tenant(id: $id) { id name } }', variables: { id } }),
    }).then(async (r) => ((await r.json()) as { data: { tenant: { name: string } | null } }).data.tenant?.name === 'kept');

  it('migrates a fresh store at start, keeps its data across a restart, and exits 0 on SIGTERM', async () => {
    const { env } = await freshStore();
    const first = await startProcess({ ...env, ADMIN_TOKEN: adminToken });
    const id = await createTenant(first.url);
    expect(await first.stop('SIGTERM')).toBe(0);
    const second = await startProcess({ ...env, ADMIN_TOKEN: adminToken });
    try {
      expect(await tenantExists(second.url, id)).toBe(true);
      expect((await fetch(`${second.url}/readyz`)).status).toBe(200);
    } finally {
      expect(await second.stop('SIGTERM')).toBe(0);
    }
  });

  it('keeps what a mutation returned as success when the process is killed (SIGKILL) right after', async () => {
    const { env } = await freshStore();
    const first = await startProcess({ ...env, ADMIN_TOKEN: adminToken });
    const id = await createTenant(first.url);
    await first.stop('SIGKILL'); // no shutdown code runs
    const second = await startProcess({ ...env, ADMIN_TOKEN: adminToken });
    try {
      expect(await tenantExists(second.url, id)).toBe(true);
    } finally {
      expect(await second.stop('SIGTERM')).toBe(0);
    }
  });

  it('generates and keeps an operator token on the embedded store when ADMIN_TOKEN is unset', async () => {
    if (testStore() !== 'pglite') {
      // On PostgreSQL an ADMIN_TOKEN is required: starting without one fails with a clear message.
      const { env } = await freshStore();
      await expect(startProcess({ ...env, ADMIN_TOKEN: '' })).rejects.toMatchObject({ code: 1, output: expect.stringMatching(/ADMIN_TOKEN: required/) });
      return;
    }
    const { env } = await freshStore();
    const proc = await startProcess({ ...env, ADMIN_TOKEN: '' });
    try {
      const token = (await readFile(join(env.DATA_DIR!, 'admin-token'), 'utf8')).trim();
      expect(token).toMatch(/^adm_/);
      const res = await fetch(`${proc.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: '{ tenants(first: 1) { edges { node { id } } } }' }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { errors?: unknown }).errors).toBeUndefined();
    } finally {
      await proc.stop();
    }
  });

  it('refuses a second process on the same embedded DATA_DIR with a clear message', async () => {
    if (testStore() !== 'pglite') {
      // On PostgreSQL two processes share the database; the migration race is covered above.
      const { env } = await freshStore();
      const [a, b] = await Promise.all([
        startProcess({ ...env, ADMIN_TOKEN: adminToken }),
        startProcess({ ...env, ADMIN_TOKEN: adminToken }),
      ]);
      try {
        expect((await fetch(`${a.url}/readyz`)).status).toBe(200);
        expect((await fetch(`${b.url}/readyz`)).status).toBe(200);
      } finally {
        await a.stop();
        await b.stop();
      }
      return;
    }
    const { env } = await freshStore();
    const first = await startProcess({ ...env, ADMIN_TOKEN: adminToken });
    try {
      await expect(startProcess({ ...env, ADMIN_TOKEN: adminToken })).rejects.toMatchObject({
        code: 1,
        output: expect.stringMatching(/is in use by another Parley process/),
      });
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    } finally {
      await first.stop();
    }
  });
});

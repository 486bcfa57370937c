import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import lockfile from 'proper-lockfile';
import { PrismaClient } from '../generated/prisma/client.ts';
import { migrate, pendingMigrations } from './migrate.ts';
import { pgliteRunner, postgresRunner, type SqlRunner } from './sql-runner.ts';

export type Database = {
  kind: 'pglite' | 'postgres';
  prisma: PrismaClient;
  /** Applies pending migrations (safe to call from several processes at once). */
  migrate(): Promise<string[]>;
  ping(): Promise<void>;
  /** Migrations of this code the store has not applied (none once `migrate` ran). */
  pendingMigrations(): Promise<string[]>;
  close(): Promise<void>;
  /** How the job queue (pg-boss) reaches this store: a connection string, or statements through PGlite. */
  queue: QueueConnection;
};

/** pg-boss's own `{ connectionString }`, or its `db` adapter (`executeSql`) for PGlite. */
export type QueueConnection =
  | { connectionString: string }
  | { db: { executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount?: number }> } };

export type DatabaseOptions = { databaseUrl: string | null; dataDir: string | null; poolSize?: number };

/** PostgreSQL when a URL is given, otherwise embedded PGlite under `dataDir` (or in memory). */
export async function openDatabase({ databaseUrl, dataDir, poolSize = 10 }: DatabaseOptions): Promise<Database> {
  if (databaseUrl) return openPostgres(databaseUrl, poolSize);
  return openPglite(dataDir ?? ':memory:');
}

function openPostgres(connectionString: string, max: number): Database {
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString, max }) });
  return {
    kind: 'postgres',
    prisma,
    async migrate() {
      const runner = await postgresRunner(connectionString);
      try {
        return await migrate(runner);
      } finally {
        await runner.close();
      }
    },
    ping: async () => void (await prisma.$queryRaw`SELECT 1`),
    pendingMigrations: () => pendingMigrations((sql) => prisma.$queryRawUnsafe(sql)),
    close: () => prisma.$disconnect(),
    queue: { connectionString },
  };
}

const LOCK_STALE_MS = 5_000;

async function openPglite(dataDir: string): Promise<Database> {
  let release: (() => Promise<void>) | undefined;
  let pglite: PGlite;
  if (dataDir === ':memory:') {
    pglite = new PGlite();
  } else {
    // PGlite is one process's database: a second process on the same directory would
    // corrupt it, so it is refused with a clear message instead. The holder refreshes the
    // lock every STALE/2; a lock older than STALE is a crashed holder's, so retrying for a
    // little longer than STALE lets a restart after a crash (kill -9) take over.
    mkdirSync(dataDir, { recursive: true });
    try {
      release = await lockfile.lock(dataDir, {
        lockfilePath: join(dataDir, 'parley.lock'),
        stale: LOCK_STALE_MS,
        retries: { retries: LOCK_STALE_MS / 1000 + 3, factor: 1, minTimeout: 1000, maxTimeout: 1000 },
      });
    } catch {
      throw new Error(`DATA_DIR ${dataDir} is in use by another Parley process`);
    }
    pglite = new PGlite(join(dataDir, 'pg'));
  }
  await pglite.waitReady;
  const runner: SqlRunner = pgliteRunner(pglite);
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  return {
    kind: 'pglite',
    prisma,
    migrate: () => migrate(runner),
    ping: async () => void (await pglite.query('SELECT 1')),
    pendingMigrations: () => pendingMigrations((sql) => prisma.$queryRawUnsafe(sql)),
    queue: { db: { executeSql: (text, values) => pgliteExecuteSql(pglite, text, values) } },
    async close() {
      await prisma.$disconnect();
      await pglite.close();
      await release?.();
    },
  };
}

/**
 * pg-boss's statements on PGlite: its migration scripts hold several statements, which only
 * PGlite's simple-query `exec` (no parameters) accepts; everything else is one statement.
 */
async function pgliteExecuteSql(pglite: PGlite, text: string, values: unknown[] = []) {
  if (values.length === 0) {
    const results = await pglite.exec(text);
    const last = results.at(-1);
    return { rows: last?.rows ?? [], rowCount: last?.affectedRows ?? 0 };
  }
  const result = await pglite.query(text, values);
  return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
}

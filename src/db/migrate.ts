import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Umzug, type UmzugStorage } from 'umzug';
import type { SqlRunner } from './sql-runner.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

/** Arbitrary constant shared by every Parley process: only one of them migrates at a time. */
const MIGRATION_LOCK_KEY = 7_270_736_909;

const CREATE_PRISMA_MIGRATIONS = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

type MigrationFile = { name: string; sql: string; checksum: string };

async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * Records migrations in Prisma's own `_prisma_migrations` table, so that the Prisma CLI on a
 * machine with its engines sees the database as up to date. The row is written inside the
 * migration's own transaction (see `up` below); umzug's log hook therefore does nothing.
 */
function prismaMigrationsStorage(db: SqlRunner): UmzugStorage {
  return {
    async executed() {
      const rows = await db.query<{ migration_name: string }>(
        `SELECT migration_name FROM "_prisma_migrations"
          WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name`,
      );
      return rows.map((r) => r.migration_name);
    },
    async logMigration() {},
    async unlogMigration() {
      throw new Error('Parley does not roll migrations back');
    },
  };
}

/**
 * Applies every pending migration, each in its own transaction (a failing one rolls back and
 * is not recorded). A PostgreSQL advisory lock makes concurrent starts wait for each other
 * instead of racing; the loser then finds nothing pending. Refuses to start when an applied
 * migration's file has changed since.
 */
export async function migrate(db: SqlRunner, { dir = MIGRATIONS_DIR } = {}): Promise<string[]> {
  const files = await readMigrations(dir);
  await db.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    await db.exec(CREATE_PRISMA_MIGRATIONS);
    await verifyChecksums(db, files);
    const umzug = new Umzug({
      migrations: files.map((file) => ({
        name: file.name,
        up: () =>
          db.transaction(async (tx) => {
            await tx.exec(file.sql);
            await tx.query(
              `INSERT INTO "_prisma_migrations"
                 (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
               VALUES ($1, $2, $3, now(), now(), 1)`,
              [randomUUID(), file.checksum, file.name],
            );
          }),
      })),
      storage: prismaMigrationsStorage(db),
      logger: undefined,
    });
    const applied = await umzug.up();
    return applied.map((m) => m.name);
  } finally {
    await db.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  }
}

/**
 * The migrations in `dir` that the store has not applied (readiness: a node whose code expects
 * tables the store lacks is not ready). `query` runs one statement on the store. The file names
 * are read once per directory: they do not change while the process runs.
 */
export async function pendingMigrations(query: (sql: string) => Promise<{ migration_name: string }[]>, { dir = MIGRATIONS_DIR } = {}): Promise<string[]> {
  let names = migrationNames.get(dir);
  if (!names) migrationNames.set(dir, (names = readMigrations(dir).then((files) => files.map((f) => f.name))));
  const applied = new Set(
    (await query(`SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`)).map((r) => r.migration_name),
  );
  return (await names).filter((name) => !applied.has(name));
}
const migrationNames = new Map<string, Promise<string[]>>();

async function verifyChecksums(db: SqlRunner, files: MigrationFile[]) {
  const rows = await db.query<{ migration_name: string; checksum: string }>(
    `SELECT migration_name, checksum FROM "_prisma_migrations" WHERE rolled_back_at IS NULL`,
  );
  const byName = new Map(files.map((f) => [f.name, f.checksum]));
  for (const row of rows) {
    const expected = byName.get(row.migration_name);
    if (expected && expected !== row.checksum) {
      throw new Error(`Migration ${row.migration_name} was changed after it was applied`);
    }
  }
}

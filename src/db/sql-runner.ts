import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

/**
 * The minimum the migration runner needs from a database session: statements that run on
 * one connection (so a session-level advisory lock holds) and a transaction around them.
 */
export type SqlRunner = {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements. */
  exec(sql: string): Promise<void>;
  transaction<T>(fn: (tx: Omit<SqlRunner, 'transaction' | 'close'>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
};

export function pgliteRunner(db: PGlite): SqlRunner {
  return {
    query: async (sql, params) => (await db.query(sql, params)).rows as never,
    exec: async (sql) => void (await db.exec(sql)),
    transaction: (fn) =>
      db.transaction((tx) =>
        fn({
          query: async (sql, params) => (await tx.query(sql, params)).rows as never,
          exec: async (sql) => void (await tx.exec(sql)),
        }),
      ),
    close: async () => {},
  };
}

/** A dedicated connection, outside Prisma's pool, so that the advisory lock stays with it. */
export async function postgresRunner(connectionString: string): Promise<SqlRunner> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  const query = async (sql: string, params?: unknown[]) => (await client.query(sql, params)).rows;
  const exec = async (sql: string) => void (await client.query(sql));
  return {
    query: query as SqlRunner['query'],
    exec,
    async transaction(fn) {
      await client.query('BEGIN');
      try {
        const result = await fn({ query: query as SqlRunner['query'], exec });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    },
    close: () => client.end(),
  };
}

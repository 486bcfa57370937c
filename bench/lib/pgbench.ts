/**
 * pgbench running the nearest thing to one sendMessage that PostgreSQL alone can do: one
 * transaction inserting one message-sized row into a table shaped like Parley's messages
 * (text ids, seq, body, timestamp, primary key), at the same concurrency, for the same time,
 * against the same database. pgbench comes with Debian's postgresql-client.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export async function runPgbench(databaseUrl: string, clients: number, seconds: number, bodyBytes: number): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS bench_pgbench_message (
      id text PRIMARY KEY DEFAULT md5(random()::text || clock_timestamp()::text),
      conversation_id text NOT NULL, seq int NOT NULL, sender_id text NOT NULL, body text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now())`);
  } finally {
    await client.end();
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'parley-pgbench-'));
  try {
    const script = path.join(dir, 'insert.sql');
    writeFileSync(
      script,
      `\\set c random(1, ${clients})\n` +
        `INSERT INTO bench_pgbench_message (conversation_id, seq, sender_id, body) VALUES ('cnv_' || :c, :client_id, 'usr_' || :c, repeat('x', ${bodyBytes}));\n`,
    );
    const { stdout } = await run('pgbench', ['-n', '-c', String(clients), '-j', String(Math.min(clients, os.cpus().length)), '-T', String(seconds), '-f', script, databaseUrl], { timeout: (seconds + 60) * 1000 });
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout) ?? /tps = ([\d.]+)/.exec(stdout);
    if (!tps) throw new Error(`no tps in pgbench output:\n${stdout.slice(-500)}`);
    return Number(tps[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcess } from '../helpers/process.ts';
import { storeEnv, testStore } from '../helpers/server.ts';

// `npm start` when startup fails after the store is open: the process exits 1 with a clear
// message, and the store is closed first, so a second start is not locked out.

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A port something else already listens on. */
async function busyPort(): Promise<number> {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
  return (blocker.address() as AddressInfo).port;
}

/**
 * Whether embedded PostgreSQL was shut down cleanly, as its control file records: `state`
 * follows two 8-byte-aligned header fields (system identifier, two version numbers), and is
 * 1 (DB_SHUTDOWNED) after a clean close, 6 (DB_IN_PRODUCTION) while open or after a crash.
 */
async function pgliteShutDownCleanly(dataDir: string) {
  const control = await readFile(join(dataDir, 'pg', 'global', 'pg_control'));
  return control.readUInt32LE(16) === 1;
}

describe('startup failure', () => {
  it('a PORT already in use: exit code 1 naming it, and the store is released for the next start', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-startup-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const env = { ...(testStore() === 'postgres' ? storeEnv() : { DATA_DIR: dataDir }), ADMIN_TOKEN: 'startup-test-admin-token' };
    const port = await busyPort();

    await expect(startProcess({ ...env, PORT: String(port) })).rejects.toMatchObject({
      code: 1,
      output: expect.stringContaining(`PORT: 127.0.0.1:${port} is already in use`),
    });
    if (testStore() === 'pglite') expect(await pgliteShutDownCleanly(dataDir)).toBe(true);

    // At once: on PGlite a DATA_DIR left locked would refuse this start for 15 s.
    const second = await startProcess(env);
    try {
      expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });
});

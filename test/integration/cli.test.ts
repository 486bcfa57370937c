import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcess } from '../helpers/process.ts';
import { storeEnv, testStore } from '../helpers/server.ts';

// `parley serve --role api|worker|all`: what each role serves, and a clear refusal of the rest.

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function env() {
  const base = { ADMIN_TOKEN: 'cli-test-admin-token-0123456789' };
  if (testStore() === 'postgres') return { ...base, ...storeEnv() };
  const dir = await mkdtemp(join(tmpdir(), 'parley-cli-'));
  dirs.push(dir);
  return { ...base, DATA_DIR: dir };
}

/** How a process that should not start ended: its exit code and what it printed. */
const refusal = async (args: string[]) =>
  startProcess(await env(), { args }).then(
    async (p) => {
      await p.stop();
      throw new Error(`started with ${args.join(' ')}`);
    },
    (err: { code: number | null; output: string }) => ({ code: err.code, output: err.output }),
  );

describe('parley serve --role', () => {
  it('worker: runs the jobs and answers health checks, but serves no GraphQL; exits 0 on SIGTERM', async () => {
    const worker = await startProcess(await env(), { args: ['serve', '--role', 'worker'] });
    try {
      expect(worker.output()).toMatch(/Parley \(worker\) is listening/);
      expect((await fetch(`${worker.url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${worker.url}/readyz`);
      expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', checks: { database: 'ok', bus: 'in-process', migrations: 'ok' } }]);
      const gql = await fetch(`${worker.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{__typename}"}' });
      expect(gql.status).toBe(404);
    } finally {
      expect(await worker.stop('SIGTERM')).toBe(0);
    }
  });

  it('ROLE=api from the environment serves GraphQL; the flag wins over the variable', async () => {
    const api = await startProcess({ ...(await env()), ROLE: 'worker' }, { args: ['serve', '--role', 'api'] });
    try {
      expect(api.output()).toMatch(/Parley \(api\) is listening/);
      const gql = await fetch(`${api.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{__typename}"}' });
      expect(await gql.json()).toEqual({ data: { __typename: 'Query' } });
    } finally {
      expect(await api.stop('SIGTERM')).toBe(0);
    }
  });

  it('refuses an unknown role or command with a clear message and exit code 1; --help prints the usage', async () => {
    const badRole = await refusal(['serve', '--role', 'janitor']);
    expect(badRole.code).toBe(1);
    expect(badRole.output).toContain('--role: must be one of api, worker, all');
    const badCommand = await refusal(['frobnicate']);
    expect(badCommand.code).toBe(1);
    expect(badCommand.output).toContain('unknown command: frobnicate');
    const badEnv = await startProcess({ ...(await env()), ROLE: 'janitor' }).catch((err: { code: number; output: string }) => err);
    expect(badEnv).toMatchObject({ code: 1, output: expect.stringContaining('ROLE:') });
    const help = await refusal(['--help']);
    expect(help.code).toBe(0);
    expect(help.output).toContain('Usage: parley [serve] [--role api|worker|all]');
  });
});

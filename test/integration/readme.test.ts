import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startProcess, type ParleyProcess } from '../helpers/process.ts';
import { storeEnv } from '../helpers/server.ts';

const run = promisify(execFile);
const adminToken = `readme-${randomBytes(8).toString('hex')}`;
let parley: ParleyProcess;

beforeAll(async () => {
  parley = await startProcess({ ...storeEnv(), ADMIN_TOKEN: adminToken });
});
afterAll(() => parley?.stop());

/** The fenced block that follows `opening` in README.md. */
function block(readme: string, opening: string): string {
  const start = readme.indexOf(`${opening}\n`);
  if (start < 0) throw new Error(`README has no ${opening} block`);
  const body = readme.slice(start + opening.length + 1);
  return body.slice(0, body.indexOf('```'));
}

describe('README', () => {
  it('the five-minute walkthrough runs as written and prints what the README says', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const script = block(readme, '```bash walkthrough');
    const printed = block(readme.slice(readme.indexOf('It prints:')), '```');
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], {
      env: { ...process.env, PARLEY: `${parley.url}/graphql`, ADMIN_TOKEN: adminToken },
    });
    const expected = printed.trim().split('\n');
    const actual = stdout.trim().split('\n');
    expect(actual).toHaveLength(expected.length);
    // "…" in the README stands for an id that differs on every run.
    expected.forEach((line, i) => {
      const pattern = new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replaceAll('…', '[A-Za-z0-9]+')}$`);
      expect(actual[i]).toMatch(pattern);
    });
  });
});

describe('examples/subscribe.ts', () => {
  it('prints the history after AFTER_SEQ, then live events, one JSON line each', async () => {
    const { spawn } = await import('node:child_process');
    const gql = async (query: string, variables: object, auth: Record<string, string>) => {
      const res = await fetch(`${parley.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ query, variables }),
      });
      return ((await res.json()) as { data: Record<string, Record<string, unknown>> }).data;
    };
    const admin = { authorization: `Bearer ${adminToken}` };
    const tenant = (await gql('mutation { createTenant(input: {name: "ex"}) { id } }', {}, admin)).createTenant!.id;
    const appId = (await gql('mutation($t: ID!) { createApp(input: {tenantId: $t, name: "ex"}) { id } }', { t: tenant }, admin)).createApp!.id;
    const key = { 'x-api-key': String((await gql('mutation($a: ID!) { createApiKey(appId: $a) { key } }', { a: appId }, admin)).createApiKey!.key) };
    const user = (await gql('mutation { upsertUser(input: {externalId: "ex", displayName: "Ex"}) { id } }', {}, key)).upsertUser!.id;
    const token = String((await gql('mutation($u: ID!) { createUserToken(input: {userId: $u}) { token } }', { u: user }, key)).createUserToken!.token);
    const bearer = { authorization: `Bearer ${token}` };
    const conversation = (await gql('mutation { createConversation(input: {kind: GROUP, memberIds: []}) { id } }', {}, bearer)).createConversation!.id;
    const send = (body: string) =>
      gql('mutation($c: ID!, $b: String!) { sendMessage(input: {conversationId: $c, body: $b}) { seq } }', { c: conversation, b: body }, bearer);
    await send('one');
    await send('two');

    const child = spawn(`${process.cwd()}/node_modules/.bin/tsx`, ['examples/subscribe.ts'], {
      env: { ...process.env, PARLEY_WS: `${parley.url.replace('http', 'ws')}/graphql`, PARLEY_TOKEN: token, CONVERSATION: String(conversation), AFTER_SEQ: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const lines: { seq: number; message: { body: string } }[] = [];
      child.stdout.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      });
      await vi.waitFor(() => expect(lines.map((l) => l.seq)).toEqual([2]), { timeout: 15_000, interval: 50 });
      await send('three');
      await vi.waitFor(() => expect(lines.map((l) => [l.seq, l.message.body])).toEqual([[2, 'two'], [3, 'three']]), { timeout: 15_000, interval: 50 });
    } finally {
      child.kill('SIGINT');
    }
  });
});

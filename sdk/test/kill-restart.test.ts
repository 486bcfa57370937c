import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { startProcess, type ParleyProcess } from '../../test/helpers/process.ts';
import { seedApp, seedGroup, seedUsers, type SeededUser } from '../../test/helpers/seed.ts';
import { storeEnv, testStore } from '../../test/helpers/server.ts';
import { eventually } from '../../test/helpers/ws.ts';
import { closeClients, follow, range, sdk } from './support.ts';

// The contract's promise, seen from the SDK: a Parley process killed mid-stream (SIGKILL: no
// shutdown, sockets just drop) and started again on the same port loses and duplicates nothing.

const processes: ParleyProcess[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(() => closeClients());
afterAll(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  for (const cleanup of cleanups) await cleanup();
});

it('a subscriber sees every message exactly once and in seq order across a SIGKILL and restart of the server', async () => {
  const adminToken = `sdk-kill-${randomBytes(8).toString('hex')}`;
  let env: Record<string, string> = { ADMIN_TOKEN: adminToken };
  if (testStore() === 'postgres') env = { ...env, ...storeEnv() };
  else {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-sdk-kill-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    env = { ...env, DATA_DIR: dataDir };
  }
  const first = await startProcess(env, { timeoutMs: 90_000 });
  processes.push(first);
  const port = new URL(first.url).port;
  const target = { graphqlUrl: `${first.url}/graphql`, adminToken };
  const app = await seedApp(target);
  const [alice, bob] = (await seedUsers(target, app, 2)) as [SeededUser, SeededUser];
  const conversationId = await seedGroup(target, alice, [bob]);

  const subscriber = sdk(target.graphqlUrl, { token: bob.token });
  const followed = follow(subscriber, conversationId, 0);
  await eventually(() => expect(subscriber.connection.state).toBe('connected'));

  // The sender keeps sending, one after another, through the SDK; a send that fails while
  // the server is down is retried with its idempotency key until it goes through.
  const sender = sdk(target.graphqlUrl, { token: alice.token, sendAttempts: 1000, reconnect: { minDelayMs: 50, maxDelayMs: 500 } });
  const total = 60;
  let sent = 0;
  const sending = (async () => {
    for (; sent < total; sent++) await sender.conversation(conversationId).send({ body: `m${sent}` }).sent;
  })();

  await eventually(() => expect(followed.bodies().length).toBeGreaterThanOrEqual(15));
  await first.stop('SIGKILL');
  expect(sent).toBeLessThan(total); // killed mid-stream
  await eventually(() => expect(subscriber.connection.state).toBe('reconnecting'));
  const second = await startProcess({ ...env, PORT: port }, { timeoutMs: 90_000 });
  processes.push(second);

  await sending;
  await eventually(() => expect(followed.bodies()).toHaveLength(total), 60_000);
  expect(followed.bodies()).toEqual(range(0, total - 1).map((i) => `m${i}`));
  expect(followed.seqs()).toEqual(range(1, followed.seqs().length));
  expect(followed.ends).toEqual([]);
  expect(subscriber.connection.state).toBe('connected');
  await second.stop('SIGTERM');
}, 300_000);

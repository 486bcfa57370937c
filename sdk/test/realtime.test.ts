import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../../test/helpers/seed.ts';
import { startServer, storeEnv, testStore, type TestServer } from '../../test/helpers/server.ts';
import { startTcpProxy, type TcpProxy } from '../../test/helpers/tcp-proxy.ts';
import { eventually } from '../../test/helpers/ws.ts';
import { createRealtime } from '../src/connection.ts';
import { startConversationStream, type ConversationEvent } from '../src/conversation-stream.ts';
import { createTokenSource } from '../src/token-source.ts';
import { closeClients, follow, range, sdk } from './support.ts';
import WebSocket from 'ws';

afterEach(() => closeClients());

describe('resuming conversation streams', () => {
  let server: TestServer;
  let proxy: TcpProxy;
  let app: SeededApp;
  let alice: SeededUser;
  let bob: SeededUser;

  beforeAll(async () => {
    server = await startServer();
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
    app = await seedApp(server);
    [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.close();
  });

  it('delivers what was sent while the socket was down once and in order, then live events', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const sender = sdk(server.graphqlUrl, { token: alice.token }).conversation(conversationId);
    // Bob's client reaches the server only through the proxy: cutting it is a network loss.
    const bobClient = sdk(`http://${proxy.host}:${proxy.port}/graphql`, { token: bob.token });
    const followed = follow(bobClient, conversationId);
    await eventually(() => expect(bobClient.connection.state).toBe('connected'));
    for (let i = 0; i < 5; i++) await sender.send({ body: `a${i}` }).sent;
    await eventually(() => expect(followed.bodies()).toHaveLength(5));
    const firstSeq = followed.seqs()[0]!;

    proxy.cut();
    await eventually(() => expect(bobClient.connection.state).toBe('reconnecting'));
    for (let i = 0; i < 30; i++) await sender.send({ body: `b${i}` }).sent;
    proxy.restore();
    await eventually(() => expect(followed.bodies()).toHaveLength(35));
    for (let i = 0; i < 5; i++) await sender.send({ body: `c${i}` }).sent;

    const expected = [...range(0, 4).map((i) => `a${i}`), ...range(0, 29).map((i) => `b${i}`), ...range(0, 4).map((i) => `c${i}`)];
    await eventually(() => expect(followed.bodies()).toEqual(expected));
    expect(followed.seqs()).toEqual(range(firstSeq, firstSeq + 39));
  });

  it('drops the duplicates of overlapping subscriptions (a transport that delivers every event twice)', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const sender = sdk(server.graphqlUrl, { token: alice.token }).conversation(conversationId);
    for (let i = 0; i < 5; i++) await sender.send({ body: `m${i}` }).sent;
    const realtime = createRealtime({ url: server.graphqlUrl, tokens: createTokenSource({ token: bob.token }), webSocketImpl: WebSocket });
    const seen: ConversationEvent[] = [];
    let subscriptions = 0;
    try {
      startConversationStream({
        // Every subscription is made twice, the second replaying the whole log from the start.
        subscribe: (document, variables, sink) => {
          subscriptions += 1;
          const one = realtime.subscribe(document, variables, sink);
          const two = realtime.subscribe(document, () => ({ ...variables(), afterSeq: 0 }), sink);
          return () => (one(), two());
        },
        conversationId,
        afterSeq: 0,
        lastSeq: async () => 0,
        onEvent: (event) => seen.push(event),
        onEnd: () => {},
      });
      for (let i = 5; i < 10; i++) await sender.send({ body: `m${i}` }).sent;
      const bodies = () => seen.flatMap((e) => (e.__typename === 'MessageCreated' ? [e.message.body] : []));
      await eventually(() => expect(bodies()).toEqual(range(0, 9).map((i) => `m${i}`)));
      expect(seen.map((e) => e.seq)).toEqual(range(1, seen.length));
      expect(subscriptions).toBe(1); // no gap was seen: nothing to refill
    } finally {
      await realtime.close();
    }
  });
});

describe('a server restart (graceful: sockets closed with 1012)', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('reconnects to the restarted server and resumes every stream where it was', async () => {
    // A store that outlives the process: the run's PostgreSQL database, or PGlite on disk.
    let env: Record<string, string> = { ADMIN_TOKEN: `sdk-admin-${randomBytes(8).toString('hex')}` };
    if (testStore() === 'postgres') env = { ...env, ...storeEnv() };
    else {
      const dataDir = await mkdtemp(join(tmpdir(), 'parley-sdk-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      env = { ...env, DATA_DIR: dataDir };
    }
    let server = await startServer(env);
    cleanups.push(() => server.close());
    const port = new URL(server.url).port;
    const app = await seedApp(server);
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const sender = sdk(server.graphqlUrl, { token: alice.token, sendAttempts: 30 }).conversation(conversationId);
    const bobClient = sdk(server.graphqlUrl, { token: bob.token });
    const followed = follow(bobClient, conversationId, 0);
    for (let i = 0; i < 5; i++) await sender.send({ body: `m${i}` }).sent;
    await eventually(() => expect(followed.bodies()).toHaveLength(5));

    await server.close();
    await eventually(() => expect(bobClient.connection.state).toBe('reconnecting'));
    server = await startServer({ ...env, PORT: port });
    for (let i = 5; i < 20; i++) await sender.send({ body: `m${i}` }).sent;

    await eventually(() => expect(followed.bodies()).toEqual(range(0, 19).map((i) => `m${i}`)), 30_000);
    expect(followed.seqs()).toEqual(range(1, followed.seqs().length));
    expect(bobClient.connection.state).toBe('connected');
  });
});

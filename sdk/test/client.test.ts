import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../../test/helpers/seed.ts';
import { startServer, type TestServer } from '../../test/helpers/server.ts';
import { startTcpProxy } from '../../test/helpers/tcp-proxy.ts';
import { eventually } from '../../test/helpers/ws.ts';
import { MeDocument, ParleyError, type ConnectionState } from '../src/index.ts';
import { closeClients, follow, newToken, range, revokeSessions, sdk } from './support.ts';

let server: TestServer;
let app: SeededApp;
let alice: SeededUser;
let bob: SeededUser;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
  [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
});
afterEach(async () => {
  vi.useRealTimers();
  await closeClients();
});
afterAll(() => server?.close());

describe('requests', () => {
  it('runs typed documents and the typed api methods over HTTP', async () => {
    const client = sdk(server.graphqlUrl, { token: alice.token });
    const { me } = await client.request(MeDocument);
    expect(me).toMatchObject({ id: alice.id, externalId: alice.externalId });
    const conversation = await client.api.createConversation({ kind: 'GROUP', memberIds: [bob.id], title: 'sdk' });
    expect(conversation.members.map((m) => m.userId).sort()).toEqual([alice.id, bob.id].sort());
    const message = await client.api.sendMessage({ conversationId: conversation.id, body: 'hello', metadata: { k: 1 } });
    expect(message).toMatchObject({ body: 'hello', metadata: { k: 1 }, status: 'SENT', sender: { id: alice.id } });
    const page = await client.api.messages({ conversationId: conversation.id, last: 10 });
    expect(page.edges.map((e) => e.node.id)).toEqual([message.id]);
  });

  it('throws ParleyError with the contract code, the request id and the issues', async () => {
    const client = sdk(server.graphqlUrl, { token: alice.token });
    const conversationId = await seedGroup(server, alice, [bob]);
    const notFound = await client.api.messages({ conversationId: 'cnv_doesnotexist', last: 1 }).catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(ParleyError);
    expect(notFound).toMatchObject({ code: 'NOT_FOUND' });
    const tooLarge = await client.api.sendMessage({ conversationId, body: 'x'.repeat(70_000) }).catch((e: unknown) => e);
    expect(tooLarge).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    const invalid = await client.api.messages({ conversationId, first: 1000 }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ code: 'BAD_USER_INPUT' });
    const refused = await sdk(server.graphqlUrl, { token: 'not-a-token' })
      .api.me()
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    const unreachable = await sdk('http://127.0.0.1:1/graphql', { token: alice.token })
      .api.me()
      .catch((e: unknown) => e);
    expect(unreachable).toMatchObject({ code: 'NETWORK_ERROR' });
  });
});

describe('tokens', () => {
  it('asks getToken at start and again before the token expires', async () => {
    // The second token is Bob's, so the answer tells which token the request carried.
    const tokens = [await newToken(server, app, alice.id, 60), await newToken(server, app, bob.id, 60)];
    const getToken = vi.fn(async () => tokens.shift()!);
    const client = sdk(server.graphqlUrl, { getToken });
    expect((await client.api.me()).id).toBe(alice.id);
    expect((await client.api.me()).id).toBe(alice.id);
    expect(getToken).toHaveBeenCalledTimes(1);
    // 50 of its 60 seconds later the token is still valid, but too close to its end to be sent.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 50_000);
    expect((await client.api.me()).id).toBe(bob.id);
    expect(getToken).toHaveBeenCalledTimes(2);
  });

  it('asks getToken once more after UNAUTHENTICATED, and gives up after one retry', async () => {
    const user = (await seedUsers(server, app, 1))[0]!;
    const first = await newToken(server, app, user.id);
    let fresh = true;
    const getToken = vi.fn(async () => (getToken.mock.calls.length === 1 ? first : fresh ? newToken(server, app, user.id) : first));
    const client = sdk(server.graphqlUrl, { getToken });
    expect((await client.api.me()).id).toBe(user.id);
    await revokeSessions(server, app, user.id);
    expect((await client.api.me()).id).toBe(user.id);
    expect(getToken).toHaveBeenCalledTimes(2);
    // A static token is not refreshed: the error reaches the app.
    await expect(sdk(server.graphqlUrl, { token: first }).api.me()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    // getToken handing out a refused token again: one retry only, then the error.
    await revokeSessions(server, app, user.id);
    fresh = false;
    await expect(client.api.me()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(getToken).toHaveBeenCalledTimes(3);
  });

  it('reconnects a socket closed for a revoked token with a new token from getToken, and resumes', async () => {
    const user = (await seedUsers(server, app, 1))[0]!;
    const conversationId = await seedGroup(server, alice, [user]);
    const getToken = vi.fn(() => newToken(server, app, user.id));
    const client = sdk(server.graphqlUrl, { getToken });
    const sender = sdk(server.graphqlUrl, { token: alice.token });
    const followed = follow(client, conversationId, 0);
    await sender.conversation(conversationId).send({ body: 'before' }).sent;
    await eventually(() => expect(followed.bodies()).toEqual(['before']));
    await revokeSessions(server, app, user.id); // the server closes the user's sockets (4401)
    await eventually(() => expect(getToken.mock.calls.length).toBeGreaterThanOrEqual(2));
    await sender.conversation(conversationId).send({ body: 'after' }).sent;
    await eventually(() => expect(followed.bodies()).toEqual(['before', 'after']));
    expect(followed.seqs()).toEqual(range(1, followed.seqs().length));
    expect(client.connection.state).toBe('connected');
    expect(followed.ends).toEqual([]);
  });

  it('closes for good, with UNAUTHENTICATED, when the new token is refused too', async () => {
    const user = (await seedUsers(server, app, 1))[0]!;
    const conversationId = await seedGroup(server, alice, [user]);
    const token = await newToken(server, app, user.id);
    const client = sdk(server.graphqlUrl, { getToken: async () => token });
    const followed = follow(client, conversationId, 0);
    await eventually(() => expect(client.connection.state).toBe('connected'));
    await revokeSessions(server, app, user.id);
    await eventually(() => expect(client.connection.state).toBe('closed'));
    expect(client.connection.error).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(followed.ends).toEqual([expect.objectContaining({ code: 'UNAUTHENTICATED' })]);
  });
});

describe('the connection', () => {
  it('reports its state: connecting, connected, reconnecting while the network is cut, connected, idle, closed', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
    try {
      const conversationId = await seedGroup(server, alice, [bob]);
      const client = sdk(`http://${proxy.host}:${proxy.port}/graphql`, { token: bob.token });
      const states: ConnectionState[] = [];
      client.connection.subscribe((s) => states.push(s));
      expect(client.connection.state).toBe('idle');
      const followed = follow(client, conversationId, 0);
      await eventually(() => expect(client.connection.state).toBe('connected'));
      proxy.cut();
      await eventually(() => expect(client.connection.state).toBe('reconnecting'));
      proxy.restore();
      await eventually(() => expect(client.connection.state).toBe('connected'));
      followed.stop();
      await eventually(() => expect(client.connection.state).toBe('idle'));
      await client.close();
      expect(client.connection.state).toBe('closed');
      // Collapse the retries (reconnecting may repeat while the proxy refuses) to the transitions.
      expect(states.filter((s, i) => s !== states[i - 1])).toEqual(['connecting', 'connected', 'reconnecting', 'connected', 'idle', 'closed']);
    } finally {
      await proxy.close();
    }
  });
});

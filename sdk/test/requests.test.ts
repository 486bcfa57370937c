import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../../test/helpers/seed.ts';
import { startServer, type TestServer } from '../../test/helpers/server.ts';
import { ParleyError } from '../src/index.ts';
import { closeClients, newToken, sdk } from './support.ts';

let server: TestServer;
let app: SeededApp;
let alice: SeededUser;
let bob: SeededUser;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
  [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
});
afterEach(() => closeClients());
afterAll(() => server?.close());

const bodyOf = async (req: IncomingMessage) => {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
};

/** An HTTP server in front of Parley that passes a request on but never answers it when `hang(body)` says so. */
async function hangingProxy(target: string, hang: (body: string) => boolean) {
  const held = new Set<import('node:http').ServerResponse>();
  const http: Server = createServer(async (req, res) => {
    const body = await bodyOf(req);
    const answer = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' }, body });
    if (hang(body)) return void held.add(res); // served by Parley, the answer lost
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(await answer.text());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as { port: number }).port}/graphql`,
    close: () => {
      held.forEach((res) => res.destroy());
      http.closeAllConnections();
      return new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

describe('getToken failing (the app server unreachable)', () => {
  it('is a NETWORK_ERROR, and a send retries it until getToken works again', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    let offline = true;
    const getToken = vi.fn(async () => {
      if (offline) throw new TypeError('Failed to fetch');
      return newToken(server, app, alice.id);
    });
    const client = sdk(server.graphqlUrl, { getToken });
    const refused = await client.api.me().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ParleyError);
    expect(refused).toMatchObject({ code: 'NETWORK_ERROR', cause: expect.any(TypeError) });

    const { sent } = client.conversation(conversationId).send({ body: 'while offline' });
    await vi.waitFor(() => expect(getToken.mock.calls.length).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
    offline = false;
    expect(await sent).toMatchObject({ body: 'while offline', sender: { id: alice.id } });
  });
});

describe('a server that does not answer', () => {
  it('fails the request as NETWORK_ERROR after requestTimeoutMs', async () => {
    const proxy = await hangingProxy(server.graphqlUrl, () => true);
    try {
      const client = sdk(proxy.url, { token: alice.token, requestTimeoutMs: 300 });
      await expect(client.api.me()).rejects.toMatchObject({ code: 'NETWORK_ERROR', message: expect.stringContaining('no answer within 300 ms') });
    } finally {
      await proxy.close();
    }
  });

  it('a send whose answer never came is retried with its idempotency key: the message exists once', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    let hung = 0;
    // The first SendMessage reaches Parley (the message is stored) but its answer never comes.
    const proxy = await hangingProxy(server.graphqlUrl, (body) => body.includes('mutation SendMessage') && hung++ === 0);
    try {
      const convo = sdk(proxy.url, { token: alice.token, requestTimeoutMs: 500 }).conversation(conversationId);
      const message = await convo.send({ body: 'once' }).sent;
      expect(hung).toBe(2);
      const all = [];
      for await (const page of sdk(server.graphqlUrl, { token: bob.token }).conversation(conversationId).history()) all.push(...page);
      expect(all.map((m) => m.id)).toEqual([message.id]);
    } finally {
      await proxy.close();
    }
  });
});

describe('close()', () => {
  it('fails sends waiting to retry, ends streams and views, and opens no socket afterwards', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const offline = sdk(server.graphqlUrl, { getToken: () => Promise.reject(new TypeError('Failed to fetch')), sendAttempts: 1000 });
    const { sent } = offline.conversation(conversationId).send({ body: 'never' });
    const client = sdk(server.graphqlUrl, { token: bob.token });
    const ends: unknown[] = [];
    const convo = client.conversation(conversationId);
    convo.events(() => {}, { afterSeq: 0, onEnd: (e) => ends.push(e) });
    await vi.waitFor(() => expect(client.connection.state).toBe('connected'));
    await Promise.all([offline.close(), client.close()]);
    await expect(sent).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    expect(ends).toEqual([expect.objectContaining({ code: 'CONNECTION_CLOSED' })]);

    const states: string[] = [];
    client.connection.subscribe((s) => states.push(s));
    const late: unknown[] = [];
    convo.events(() => {}, { afterSeq: 0, onEnd: (e) => late.push(e) });
    convo.watch(() => {}, { onEnd: (e) => late.push(e) });
    await vi.waitFor(() => expect(late).toEqual([expect.objectContaining({ code: 'CONNECTION_CLOSED' }), expect.objectContaining({ code: 'CONNECTION_CLOSED' })]));
    expect(states).toEqual([]);
    expect(client.connection.state).toBe('closed');
  });
});

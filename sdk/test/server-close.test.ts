import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../../test/helpers/seed.ts';
import { startServer, type TestServer } from '../../test/helpers/server.ts';
import { eventually } from '../../test/helpers/ws.ts';
import { closeClients, follow, range, sdk } from './support.ts';

/**
 * A WebSocket proxy in front of a real Parley: frames pass both ways unchanged, and the test
 * can close the client's side with any code, as Parley itself does with 1011 when connecting
 * fails on its side (ws.plugin.ts) or a message handler fails. What it proves: the SDK's reaction
 * to the close code (reconnect, resubscribe after the last seq, no duplicates) against the real
 * server's resumption; it does not make Parley itself fail.
 */
async function closingProxy(target: string) {
  const clients = new Set<WebSocket>();
  /** Close codes to answer the next connection_init messages with, one each. */
  const refusals: number[] = [];
  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http, handleProtocols: (protocols) => [...protocols][0] ?? false });
  wss.on('connection', (client) => {
    clients.add(client);
    const upstream = new WebSocket(target, client.protocol);
    const queued: string[] = [];
    client.on('message', (data) => {
      const text = String(data);
      if (text.includes('"connection_init"') && refusals.length) return void client.close(refusals.shift()!, 'Internal error');
      if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
      else queued.push(text);
    });
    upstream.on('open', () => queued.splice(0).forEach((m) => upstream.send(m)));
    upstream.on('message', (data) => client.readyState === WebSocket.OPEN && client.send(String(data)));
    upstream.on('close', (code) => client.readyState === WebSocket.OPEN && client.close(code === 1005 ? 1000 : code));
    upstream.on('error', () => client.terminate());
    client.on('close', () => (clients.delete(client), upstream.close()));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as { port: number }).port}/graphql`,
    closeAll: (code: number) => clients.forEach((c) => c.close(code, 'Internal error')),
    refuseNext: (...codes: number[]) => void refusals.push(...codes),
    open: () => clients.size,
    close: async () => {
      clients.forEach((c) => c.terminate());
      await new Promise<void>((resolve) => wss.close(() => http.close(() => resolve())));
    },
  };
}

let server: TestServer;
let proxy: Awaited<ReturnType<typeof closingProxy>>;
let app: SeededApp;
let alice: SeededUser;
let bob: SeededUser;

beforeAll(async () => {
  server = await startServer();
  proxy = await closingProxy(server.graphqlUrl.replace(/^http/, 'ws'));
  app = await seedApp(server);
  [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
});
afterEach(() => closeClients());
afterAll(async () => {
  await proxy?.close();
  await server?.close();
});

it.each([1011, 4500])('a socket closed with %i is reconnected, and the stream resumes with nothing lost or repeated', async (code) => {
  const conversationId = await seedGroup(server, alice, [bob]);
  const sender = sdk(server.graphqlUrl, { token: alice.token }).conversation(conversationId);
  const bobClient = sdk(proxy.url, { token: bob.token });
  const followed = follow(bobClient, conversationId, 0);
  await eventually(() => expect(bobClient.connection.state).toBe('connected'));
  for (let i = 0; i < 3; i++) await sender.send({ body: `a${i}` }).sent;
  await eventually(() => expect(followed.bodies()).toHaveLength(3));

  // The first attempt to connect again fails on the server's side too (1011 at connection_init).
  proxy.refuseNext(1011);
  proxy.closeAll(code);
  await eventually(() => expect(bobClient.connection.state).toBe('reconnecting'));
  for (let i = 0; i < 3; i++) await sender.send({ body: `b${i}` }).sent;
  await eventually(() => expect(followed.bodies()).toEqual([...range(0, 2).map((i) => `a${i}`), ...range(0, 2).map((i) => `b${i}`)]));
  expect(followed.seqs()).toEqual(range(1, 6));
  expect(followed.ends).toEqual([]);
  expect(bobClient.connection.state).toBe('connected');
});

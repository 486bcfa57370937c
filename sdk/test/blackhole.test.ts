import { connect, createServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { seedApp, seedGroup, seedUsers, type SeededUser } from '../../test/helpers/seed.ts';
import { startServer, type TestServer } from '../../test/helpers/server.ts';
import { eventually } from '../../test/helpers/ws.ts';
import { closeClients, follow, range, sdk } from './support.ts';

/**
 * A proxy that can turn into a black hole: open connections stay open but nothing passes
 * (a dead network: no FIN, no RST, no close frame), and new ones are refused.
 */
async function blackholeProxy(port: number) {
  let dark = false;
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((client) => {
    if (dark) return void client.destroy();
    const upstream = connect(port, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const forward = (to: Socket) => (chunk: Buffer) => void (!dark && to.write(chunk));
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    for (const s of pair) {
      s.on('error', () => {});
      s.on('close', () => (pairs.delete(pair), client.destroy(), upstream.destroy()));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql`,
    darken: () => void (dark = true),
    light: () => void (dark = false),
    close: () => {
      for (const pair of pairs) for (const s of pair) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let server: TestServer;
beforeAll(async () => (server = await startServer()));
afterEach(() => closeClients());
afterAll(() => server?.close());

it('notices a dead network by its missing pongs, reconnects when it is back, and resumes', async () => {
  const proxy = await blackholeProxy(Number(new URL(server.url).port));
  try {
    const app = await seedApp(server);
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const sender = sdk(server.graphqlUrl, { token: alice.token }).conversation(conversationId);
    const bobClient = sdk(proxy.url, { token: bob.token, keepAliveMs: 200 });
    const followed = follow(bobClient, conversationId, 0);
    await sender.send({ body: 'm0' }).sent;
    await eventually(() => expect(followed.bodies()).toEqual(['m0']));

    proxy.darken(); // the socket stays open; nothing gets through any more
    await eventually(() => expect(bobClient.connection.state).toBe('reconnecting'));
    for (let i = 1; i < 5; i++) await sender.send({ body: `m${i}` }).sent;
    proxy.light();
    await eventually(() => expect(followed.bodies()).toEqual(range(0, 4).map((i) => `m${i}`)));
    expect(followed.seqs()).toEqual(range(1, followed.seqs().length));
  } finally {
    await proxy.close();
  }
});

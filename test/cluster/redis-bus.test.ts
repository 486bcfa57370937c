import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs } from '../helpers/ws.ts';

// Several Parley nodes on one PostgreSQL and one Redis: what one node commits, subscribers
// on another receive, in order; and losing Redis for a while loses no event.

const Send = graphql(`
  mutation ClusterSend($input: SendMessageInput!) {
    sendMessage(input: $input) { seq }
  }
`);
const Events = graphql(`
  subscription ClusterEvents($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) { seq type }
  }
`);
const Revoke = graphql(`
  mutation ClusterRevoke($userId: ID!) {
    revokeUserSessions(userId: $userId)
  }
`);

const seqs = (data: { conversationEvents: { seq: number | null } }[]) => data.map((d) => d.conversationEvents.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

let redis: Awaited<ReturnType<typeof startRedis>>;
let nodes: TestServer[];
let app: SeededApp;

beforeAll(async () => {
  redis = await startRedis();
  // One SECRET_KEY and ADMIN_TOKEN for all: they are one deployment.
  const shared = { REDIS_URL: redis.url, ADMIN_TOKEN: `cluster-admin-${Date.now()}-token` };
  nodes = [];
  for (let i = 0; i < 3; i++) nodes.push(await startServer(shared));
  app = await seedApp(nodes[0]!);
});
afterEach(() => disposeAllWs());
afterAll(async () => {
  for (const node of nodes ?? []) await node.close();
  await redis?.stop();
});

describe('Redis bus across nodes', () => {
  it('reports the bus in /readyz', async () => {
    for (const node of nodes) {
      const res = await fetch(`${node.url}/readyz`);
      expect([res.status, await res.json()]).toEqual([200, { status: 'ready', checks: { database: 'ok', bus: 'ok', migrations: 'ok' } }]);
    }
  });

  it('subscribers on nodes 1 and 2 see every event of senders on all three nodes once, in order', async () => {
    const users = (await seedUsers(nodes[0]!, app, 4)) as SeededUser[];
    const conversationId = await seedGroup(nodes[0]!, users[0]!, users.slice(1));
    const subs = [nodes[0]!, nodes[1]!].map((node, i) => {
      const ws = connectWs(node, { token: users[i]!.token });
      return subscribeWs(ws, Events, { conversationId, afterSeq: 0 });
    });
    const perSender = 30;
    await Promise.all(
      users.slice(0, 3).flatMap((user, i) =>
        Array.from({ length: perSender }, (_, n) =>
          ok(nodes[i]!.graphqlUrl, Send, { input: { conversationId, body: `${i}-${n}` } }, { token: user.token }),
        ),
      ),
    );
    for (const sub of subs) {
      await eventually(() => expect(seqs(sub.data)).toEqual(range(1, 3 * perSender)), 20_000);
      expect(sub.errors).toEqual([]);
    }
  });

  it('revoking sessions on one node closes the user’s sockets on another (4401)', async () => {
    const [owner, user] = (await seedUsers(nodes[0]!, app, 2)) as [SeededUser, SeededUser];
    await seedGroup(nodes[0]!, owner, [user]);
    const ws = connectWs(nodes[1]!, { token: user.token });
    await ws.connected;
    await ok(nodes[2]!.graphqlUrl, Revoke, { userId: user.id }, { apiKey: app.apiKey });
    await eventually(() => expect(ws.closed?.code).toBe(4401));
  });

  it('a node whose bus reconnects re-reads the log: events published while it was cut off reach its subscribers', async () => {
    const [sender, reader] = (await seedUsers(nodes[0]!, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(nodes[0]!, sender, [reader]);
    const sub = subscribeWs(connectWs(nodes[1]!, { token: reader.token }), Events, { conversationId, afterSeq: 0 });
    const send = (n: number) => ok(nodes[2]!.graphqlUrl, Send, { input: { conversationId, body: `m${n}` } }, { token: sender.token });
    await send(1);
    await eventually(() => expect(seqs(sub.data)).toEqual([1]));

    await redis.kill();
    for (let n = 2; n <= 5; n++) await send(n);
    // As if they had been published to a Redis this node could not hear: the relay leaves them be.
    await nodes[0]!.deps.db.prisma.conversationEvent.updateMany({ where: { conversationId }, data: { publishedAt: new Date() } });
    await redis.restart();
    await eventually(() => expect(seqs(sub.data)).toEqual(range(1, 5)), 20_000);
    expect(sub.errors).toEqual([]);
  });

  it('Redis going away and coming back loses nothing: what was committed meanwhile arrives without a later event', async () => {
    const [sender, reader] = (await seedUsers(nodes[0]!, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(nodes[0]!, sender, [reader]);
    const sub = subscribeWs(connectWs(nodes[1]!, { token: reader.token }), Events, { conversationId, afterSeq: 0 });
    const send = (n: number) => ok(nodes[2]!.graphqlUrl, Send, { input: { conversationId, body: `m${n}` } }, { token: sender.token });
    for (let n = 1; n <= 10; n++) await send(n);
    await eventually(() => expect(seqs(sub.data)).toEqual(range(1, 10)));

    await redis.kill();
    await eventually(async () => expect((await fetch(`${nodes[1]!.url}/readyz`)).status).toBe(503));
    for (let n = 11; n <= 20; n++) await send(n); // committed; their publishes are lost
    await redis.restart();
    await eventually(async () => {
      for (const node of nodes) expect((await fetch(`${node.url}/readyz`)).status).toBe(200);
    }, 20_000);

    // With no further event to reveal the gap: the relay publishes what failed to publish,
    // and the subscriber's node re-reads the log once its bus is back.
    await eventually(() => expect(seqs(sub.data)).toEqual(range(1, 20)), 20_000);
    await send(21);
    await eventually(() => expect(seqs(sub.data)).toEqual(range(1, 21)));
    expect(sub.errors).toEqual([]);
    expect(sub.ended).toBe(false);
  });
});

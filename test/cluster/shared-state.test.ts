import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute, ok } from '../helpers/client.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { seedApp, seedGroup, seedUsers, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, rawConnect, subscribeWs } from '../helpers/ws.ts';

// What nodes must agree on beyond events, kept in Redis: who is online (and how many sockets a
// user has), who is typing, and how many messages a user sent this second.

const Presence = graphql(`
  query SharedPresence($userIds: [ID!]!) {
    presence(userIds: $userIds) { userId online lastSeenAt }
  }
`);
const PresenceUpdated = graphql(`
  subscription SharedPresenceUpdated($userIds: [ID!]!) {
    presenceUpdated(userIds: $userIds) { userId online }
  }
`);
const Typing = graphql(`
  mutation SharedTyping($conversationId: ID!, $typing: Boolean!) {
    sendTyping(conversationId: $conversationId, typing: $typing)
  }
`);
const TypingEvents = graphql(`
  subscription SharedTypingEvents($conversationId: ID!) {
    conversationEvents(conversationId: $conversationId) { type ... on Typing { userId typing } }
  }
`);
const Limits = graphql(`
  mutation SharedLimits($id: ID!, $input: UpdateTenantInput!) {
    updateTenant(id: $id, input: $input) { id }
  }
`);
const Send = graphql(`
  mutation SharedSend($input: SendMessageInput!) {
    sendMessage(input: $input) { seq }
  }
`);

let redis: Awaited<ReturnType<typeof startRedis>>;
let nodes: [TestServer, TestServer, TestServer];

beforeAll(async () => {
  redis = await startRedis();
  const shared = { REDIS_URL: redis.url, ADMIN_TOKEN: `shared-admin-${Date.now()}-token`, TYPING_TTL_MS: '800', PRESENCE_TTL_MS: '1500' };
  nodes = [await startServer(shared), await startServer(shared), await startServer(shared)];
});
afterEach(() => disposeAllWs());
afterAll(async () => {
  for (const node of nodes ?? []) await node.close();
  await redis?.stop();
});

async function pair() {
  const app = await seedApp(nodes[0]);
  const [alice, bob] = (await seedUsers(nodes[0], app, 2)) as [SeededUser, SeededUser];
  const conversationId = await seedGroup(nodes[0], alice, [bob]);
  return { app, alice, bob, conversationId };
}

const presenceOf = async (node: TestServer, viewer: SeededUser, userId: string) =>
  (await ok(node.graphqlUrl, Presence, { userIds: [userId] }, { token: viewer.token })).presence[0];

describe('presence in Redis', () => {
  it('a socket on one node makes its user online on every node, and closing it makes them offline everywhere', async () => {
    const { alice, bob } = await pair();
    const socket = await rawConnect(nodes[0], { token: alice.token });
    for (const node of nodes) await eventually(async () => expect(await presenceOf(node, bob, alice.id)).toMatchObject({ online: true }));
    socket.socket.close();
    await socket.closed;
    for (const node of nodes) {
      await eventually(async () => {
        const p = await presenceOf(node, bob, alice.id);
        expect([p?.online, typeof p?.lastSeenAt]).toEqual([false, 'string']);
      });
    }
  });

  it('sockets still open count as online again after Redis lost everything (their nodes renew them)', async () => {
    const { alice, bob } = await pair();
    const socket = await rawConnect(nodes[1], { token: alice.token });
    await eventually(async () => expect(await presenceOf(nodes[0], bob, alice.id)).toMatchObject({ online: true }));
    const client = new Redis(redis.url);
    try {
      await client.flushall();
      expect(await presenceOf(nodes[0], bob, alice.id)).toMatchObject({ online: false });
    } finally {
      client.disconnect();
    }
    await eventually(async () => expect(await presenceOf(nodes[0], bob, alice.id)).toMatchObject({ online: true }));
    socket.socket.close();
  });

  it('presenceUpdated on one node hears the changes made by sockets on another', async () => {
    const { alice, bob } = await pair();
    const watch = subscribeWs(connectWs(nodes[2], { token: bob.token }), PresenceUpdated, { userIds: [alice.id] });
    // The subscription has no initial state; once it is live, one connect/close cycle shows both.
    await eventually(async () => {
      const socket = await rawConnect(nodes[0], { token: alice.token });
      socket.socket.close();
      await socket.closed;
      expect(watch.data.map((d) => d.presenceUpdated.online)).toEqual(expect.arrayContaining([true, false]));
    });
    expect(watch.errors).toEqual([]);
  });

  it('counts a user’s sockets across nodes against maxSocketsPerUser (4029 past it)', async () => {
    const { app, alice } = await pair();
    await ok(nodes[0].graphqlUrl, Limits, { id: app.tenantId, input: { limits: { maxSocketsPerUser: 2 } } }, { token: nodes[0].adminToken });
    const first = connectWs(nodes[0], { token: alice.token });
    const second = connectWs(nodes[1], { token: alice.token });
    await Promise.all([first.connected, second.connected]);
    const third = connectWs(nodes[2], { token: alice.token });
    await eventually(() => expect(third.closed?.code).toBe(4029));
    expect(third.acks).toBe(0);
    // A place freed on node 1 is free on node 3.
    await first.dispose();
    await eventually(async () => {
      const again = connectWs(nodes[2], { token: alice.token });
      await expect(again.connected).resolves.toBeUndefined();
    });
  });
});

describe('typing in Redis', () => {
  it('"typing" sent through one node ends on its own (typing: false) for subscribers on another', async () => {
    const { alice, bob, conversationId } = await pair();
    const sub = subscribeWs(connectWs(nodes[1], { token: bob.token }), TypingEvents, { conversationId });
    await eventually(async () => {
      await ok(nodes[0].graphqlUrl, Typing, { conversationId, typing: true }, { token: alice.token });
      expect(sub.data.length).toBeGreaterThan(0);
    });
    await eventually(() => expect(sub.data.at(-1)?.conversationEvents).toMatchObject({ userId: alice.id, typing: false }));
    // Exactly one "stopped" per "started" chain, though three nodes reap the shared set.
    const stops = sub.data.filter((d) => (d.conversationEvents as { typing?: boolean }).typing === false);
    expect(stops).toHaveLength(1);
  });
});

describe('rate counters in Redis', () => {
  it('a user’s messages per second are counted across nodes, not per node', async () => {
    const { app, alice, conversationId } = await pair();
    await ok(nodes[0].graphqlUrl, Limits, { id: app.tenantId, input: { limits: { messagesPerSecondPerUser: 2 } } }, { token: nodes[0].adminToken });
    await eventually(async () => {
      // One send through each node at once: per-node counting would let all three through.
      const results = await Promise.all(nodes.map((node, i) => execute(node.graphqlUrl, Send, { input: { conversationId, body: `m${i}` } }, { token: alice.token })));
      const refused = results.filter((r) => r.errors?.[0]?.extensions.code === 'RATE_LIMITED');
      expect(refused).toHaveLength(1);
      expect(refused[0]!.status).toBe(429);
      expect(refused[0]!.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    });
  });
});

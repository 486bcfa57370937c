import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/events/bus.ts';
import { topics } from '../../src/events/event-map.ts';
import { createOutboxRelay } from '../../src/events/outbox-relay.ts';
import { createEventPublisher } from '../../src/events/publisher.ts';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs } from '../helpers/ws.ts';

const Events = graphql(`
  subscription OutboxEvents($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) { seq type }
  }
`);
const Send = graphql(`
  mutation OutboxSend($input: SendMessageInput!) {
    sendMessage(input: $input) { id seq }
  }
`);

let server: TestServer;
let app: SeededApp;
let alice: SeededUser;
let bob: SeededUser;

beforeAll(async () => {
  // The worker's timer stays out of the way: each test runs the sweep itself.
  server = await startServer({ OUTBOX_SWEEP_MS: '3600000' });
  app = await seedApp(server);
  [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
});
afterEach(() => disposeAllWs());
afterAll(() => server?.close());

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const send = (conversationId: string, body: string) => ok(server.graphqlUrl, Send, { input: { conversationId, body } }, { token: alice.token });
const unpublished = (conversationId: string) =>
  server.deps.db.prisma.conversationEvent.count({ where: { conversationId, publishedAt: null } });

/** Makes the bus refuse every publish (as Redis does while unreachable) until restored. */
function breakBus(bus: Bus) {
  const original = bus.publish;
  bus.publish = () => Promise.reject(new Error('bus unreachable (test)'));
  return () => void (bus.publish = original);
}

/** Records the seqs published on a conversation's topic. */
function recordPublishes(bus: Bus, appId: string, conversationId: string) {
  const seqs: number[] = [];
  const original = bus.publish;
  bus.publish = (topic, payload) => {
    if (topic === topics.conversation(appId, conversationId)) seqs.push((payload as { seq: number }).seq);
    return original.call(bus, topic, payload as never);
  };
  return { seqs, restore: () => void (bus.publish = original) };
}

describe('transactional outbox', () => {
  it('a mutation whose publish failed succeeds, and the sweep delivers its events later, in order, with no later event to reveal the gap', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const sub = subscribeWs(connectWs(server, { token: bob.token }), Events, { conversationId, afterSeq: 0 });
    await send(conversationId, 'live');
    await eventually(() => expect(sub.data.map((d) => d.conversationEvents.seq)).toEqual([1])); // live from here on

    const restore = breakBus(server.deps.bus);
    try {
      for (const n of [2, 3, 4]) expect((await send(conversationId, `m${n}`)).sendMessage.seq).toBe(n);
      // Committed (the mutations succeeded), not published: still in the outbox.
      expect(await unpublished(conversationId)).toBe(3);
      // A sweep while the bus is down publishes nothing and loses nothing.
      await server.deps.services.relay.sweep({ graceMs: 0 });
      expect(await unpublished(conversationId)).toBe(3);
    } finally {
      restore();
    }
    expect(sub.data).toHaveLength(1);

    expect(await server.deps.services.relay.sweep({ graceMs: 0 })).toBe(1);
    await eventually(() => expect(sub.data.map((d) => d.conversationEvents.seq)).toEqual([1, 2, 3, 4]));
    expect(await unpublished(conversationId)).toBe(0);
  });

  it('the worker sweep leaves events younger than its grace period to the node that committed them', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const restore = breakBus(server.deps.bus);
    try {
      await send(conversationId, 'young');
    } finally {
      restore();
    }
    expect(await server.deps.services.relay.sweep({ graceMs: 60_000 })).toBe(0);
    expect(await unpublished(conversationId)).toBe(1);
    // The periodic pass (the worker's) uses the default grace and picks it up once it is older.
    await eventually(async () => {
      await server.node.worker!.sweepOutbox();
      expect(await unpublished(conversationId)).toBe(0);
    });
  });

  it('relays racing over one backlog (sweeps, kicks, small batches, a batch bounded by publishes) publish each event once, in seq order', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const restore = breakBus(server.deps.bus);
    try {
      for (const n of range(23)) await send(conversationId, `m${n}`);
    } finally {
      restore();
    }
    const { bus, stores } = server.deps.services;
    const publisher = createEventPublisher({ bus, conversations: stores.conversations, users: stores.users });
    const onError = (err: unknown) => {
      throw err;
    };
    const relays = [
      server.deps.services.relay,
      createOutboxRelay({ prisma: server.deps.db.prisma, publisher, onError, batchSize: 5 }),
      createOutboxRelay({ prisma: server.deps.db.prisma, publisher, onError, batchSize: 7 }),
      // Two members: 3 publishes per event, so one event per batch.
      createOutboxRelay({ prisma: server.deps.db.prisma, publisher, onError, maxPublishesPerBatch: 3 }),
    ];
    const recorded = recordPublishes(bus, app.appId, conversationId);
    try {
      await Promise.all(relays.flatMap((r) => [r.sweep({ graceMs: 0 }), r.kick(conversationId), r.kick(conversationId)]));
    } finally {
      recorded.restore();
    }
    expect(recorded.seqs).toEqual(range(23));
    expect(await unpublished(conversationId)).toBe(0);
  });

  it('publishes on the fast path: when a mutation returns, its event is on the bus and marked published', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const recorded = recordPublishes(server.deps.bus, app.appId, conversationId);
    try {
      await send(conversationId, 'fast');
    } finally {
      recorded.restore();
    }
    expect(recorded.seqs).toEqual([1]);
    expect(await unpublished(conversationId)).toBe(0);
  });
});


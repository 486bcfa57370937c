import type { ResultOf } from '@graphql-typed-document-node/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../../src/events/event-map.ts';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, rawConnect, spyOnBus, subscribeWs, type WsClient, type WsSubscription } from '../helpers/ws.ts';

const Events = graphql(`
  subscription RtDeliveryEvents($conversationId: ID!, $afterSeq: Int, $asUserId: ID) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq, asUserId: $asUserId) {
      __typename
      type
      seq
      ... on MessageCreated { message { id seq body sender { id } } }
    }
  }
`);
const Inbox = graphql(`
  subscription RtDeliveryInbox {
    inboxEvents { __typename seq }
  }
`);
const Send = graphql(`
  mutation RtDeliverySend($input: SendMessageInput!) {
    sendMessage(input: $input) { id seq body sender { id } }
  }
`);
const Typing = graphql(`
  mutation RtDeliveryTyping($conversationId: ID!) {
    sendTyping(conversationId: $conversationId, typing: false)
  }
`);

type Event = ResultOf<typeof Events>['conversationEvents'] & { seq: number };
type Sent = { seq: number; body: string; senderId: string };

let server: TestServer;
let app: SeededApp;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
});
afterEach(() => disposeAllWs());
afterAll(() => server?.close());

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** The persisted events a subscription received (typing indicators have no seq). */
const persisted = (sub: WsSubscription<ResultOf<typeof Events>>) => sub.data.map((d) => d.conversationEvents).filter((e): e is Event => e.seq != null);
const seqsOf = (sub: WsSubscription<ResultOf<typeof Events>>) => persisted(sub).map((e) => e.seq);

async function send(user: SeededUser, conversationId: string, body: string): Promise<Sent> {
  const m = (await ok(server.graphqlUrl, Send, { input: { conversationId, body } }, { token: user.token })).sendMessage;
  return { seq: m.seq, body: m.body, senderId: m.sender.id };
}

/**
 * Sends typing indicators until every subscription has received one: past that point each
 * stream is live (it has fixed where it starts), so any message sent next must reach it.
 * (One indicator is not enough: it is lost if sent before the server has set the stream up.)
 */
async function waitLive(typist: SeededUser, conversationId: string, subs: WsSubscription<{ conversationEvents: { __typename?: string } }>[]) {
  const typings = (s: (typeof subs)[number]) => s.data.filter((d) => d.conversationEvents.__typename === 'Typing').length;
  const before = subs.map(typings);
  await eventually(async () => {
    await ok(server.graphqlUrl, Typing, { conversationId }, { token: typist.token });
    subs.forEach((s, i) => expect(typings(s)).toBeGreaterThan(before[i]!));
  });
}

/** Each received MessageCreated carries the body and sender of the message that took its seq. */
function expectBodies(events: Event[], sent: Sent[]) {
  const bySeq = new Map(sent.map((m) => [m.seq, m]));
  for (const e of events) {
    expect(e.__typename).toBe('MessageCreated');
    if (e.__typename !== 'MessageCreated') continue;
    const m = bySeq.get(e.seq);
    expect({ seq: e.message.seq, body: e.message.body, senderId: e.message.sender.id }).toEqual(m);
  }
}

describe('conversationEvents delivery', () => {
  it('4 concurrent senders × 100: a user subscriber (afterSeq 0) and an app server (asUserId) each get seq 1..400 once, in order', async () => {
    const [owner, watcher, ...senders] = (await seedUsers(server, app, 6)) as SeededUser[];
    const conversationId = await seedGroup(server, owner!, [watcher!, ...senders]);
    const asUser = subscribeWs(connectWs(server, { token: owner!.token }), Events, { conversationId, afterSeq: 0 });
    // The app server watches live only (no afterSeq): it must be live before the first send.
    const asApp = subscribeWs(connectWs(server, { apiKey: app.apiKey }), Events, { conversationId, asUserId: watcher!.id });
    await waitLive(senders[0]!, conversationId, [asUser, asApp]);

    const sent = await Promise.all(senders.flatMap((s, n) => range(1, 100).map((i) => send(s, conversationId, `sender${n}-${i}`))));
    expect(sent.map((m) => m.seq).sort((a, b) => a - b)).toEqual(range(1, 400));

    for (const sub of [asUser, asApp]) {
      await eventually(() => expect(persisted(sub).length).toBeGreaterThanOrEqual(400), 60_000);
      expect(seqsOf(sub)).toEqual(range(1, 400));
      expectBodies(persisted(sub), sent);
      expect([sub.errors, sub.ended]).toEqual([[], false]);
    }
  }, 120_000);

  it('resume: disconnected mid-stream, it reconnects with afterSeq = last seen and gets exactly the missed events, then live ones', async () => {
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const first = connectWs(server, { token: bob.token });
    const before = subscribeWs(first, Events, { conversationId, afterSeq: 0 });

    // Disconnect while a burst is still being delivered.
    const burst = Promise.all(range(1, 20).map((i) => send(alice, conversationId, `burst-${i}`)));
    await eventually(() => expect(persisted(before).length).toBeGreaterThanOrEqual(5));
    await first.dispose();
    await eventually(() => expect(first.closed).toBeDefined());
    const sent = await burst;
    const seen = seqsOf(before);
    const last = seen.at(-1)!;
    expect(seen).toEqual(range(1, last));

    for (let i = 1; i <= 50; i++) sent.push(await send(alice, conversationId, `away-${i}`));

    const second = connectWs(server, { token: bob.token });
    const after = subscribeWs(second, Events, { conversationId, afterSeq: last });
    await eventually(() => expect(persisted(after).length).toBeGreaterThanOrEqual(70 - last));
    expect(seqsOf(after)).toEqual(range(last + 1, 70));

    for (let i = 1; i <= 5; i++) sent.push(await send(alice, conversationId, `live-${i}`));
    await eventually(() => expect(persisted(after).length).toBeGreaterThanOrEqual(75 - last));
    expect(seqsOf(after)).toEqual(range(last + 1, 75));
    // Across both sessions: every event exactly once, with its own body.
    expect([...seen, ...seqsOf(after)]).toEqual(range(1, 75));
    expectBodies([...persisted(before), ...persisted(after)], sent);
    expect(second.acks).toBe(1);
  }, 60_000);

  it('the seam: subscribing with afterSeq 0 in the middle of 200 concurrent sends gives exactly 1..200, in order', async () => {
    const [alice, bob, carol] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob, carol]);
    const prisma = server.deps.db.prisma;

    const firstHalf = Promise.all(range(1, 100).map((i) => send(i % 2 ? alice : bob, conversationId, `m-${i}`)));
    await eventually(() => expect(prisma.conversationEvent.count({ where: { conversationId } })).resolves.toBeGreaterThanOrEqual(20));
    const sub = subscribeWs(connectWs(server, { token: carol.token }), Events, { conversationId, afterSeq: 0 });
    // The second half starts only now, so the subscription starts before seq 101 exists at the least.
    const secondHalf = Promise.all(range(101, 200).map((i) => send(i % 2 ? alice : bob, conversationId, `m-${i}`)));
    const sent = [...(await firstHalf), ...(await secondHalf)];
    expect(sent.map((m) => m.seq).sort((a, b) => a - b)).toEqual(range(1, 200));

    await eventually(() => expect(persisted(sub).length).toBeGreaterThanOrEqual(200), 60_000);
    expect(seqsOf(sub)).toEqual(range(1, 200));
    expectBodies(persisted(sub), sent);
    expect(sub.errors).toEqual([]);
  }, 120_000);

  it('without afterSeq: only live events, nothing from before', async () => {
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    for (let i = 1; i <= 3; i++) await send(alice, conversationId, `old-${i}`);

    const sub = subscribeWs(connectWs(server, { token: bob.token }), Events, { conversationId });
    await waitLive(alice, conversationId, [sub]);
    const sent = [await send(alice, conversationId, 'new-1'), await send(alice, conversationId, 'new-2')];
    await eventually(() => expect(persisted(sub).length).toBeGreaterThanOrEqual(2));
    expect(seqsOf(sub)).toEqual([4, 5]);
    expectBodies(persisted(sub), sent);
  });
});

describe('subscription lifetime', () => {
  it('unsubscribing a quiet subscription, or closing its socket, removes its bus subscription', async () => {
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const topic = topics.conversation(app.appId, conversationId);
    const inboxTopic = topics.inbox(app.appId, bob.id);
    const bus = spyOnBus(server.deps.bus);
    try {
      const a: WsClient = connectWs(server, { token: bob.token });
      const b: WsClient = connectWs(server, { token: bob.token });
      const replaying = subscribeWs(a, Events, { conversationId, afterSeq: 0 });
      const live = subscribeWs(a, Events, { conversationId });
      const inbox = subscribeWs(a, Inbox, {});
      const other = subscribeWs(b, Events, { conversationId });
      // All four are waiting for their next event (the typing indicator went through each).
      await waitLive(alice, conversationId, [replaying, live, other]);
      await eventually(async () => {
        await ok(server.graphqlUrl, Typing, { conversationId }, { token: alice.token });
        expect(inbox.data.length).toBeGreaterThan(0);
      });
      expect([bus.count(topic), bus.count(inboxTopic)]).toEqual([3, 1]);

      replaying.unsubscribe();
      live.unsubscribe();
      inbox.unsubscribe();
      await eventually(() => expect([bus.count(topic), bus.count(inboxTopic)]).toEqual([1, 0]));
      // The socket is still up; the other socket's subscription still delivers.
      await send(alice, conversationId, 'after');
      await eventually(() => expect(seqsOf(other)).toEqual([1]));
      expect([a.closed, a.acks]).toEqual([undefined, 1]);
      expect([seqsOf(replaying), seqsOf(live), inbox.data.filter((d) => d.inboxEvents.seq != null)]).toEqual([[], [], []]);

      // Ended before it started: each subscribe is followed at once by its complete.
      const raw = await rawConnect(server, { token: bob.token });
      try {
        const [made, madeInbox] = [bus.made(topic), bus.made(inboxTopic)];
        raw.subscribe('replaying', Events, { conversationId, afterSeq: 0 });
        raw.subscribe('live', Events, { conversationId });
        raw.subscribe('inbox', Inbox, {});
        for (const id of ['replaying', 'live', 'inbox']) raw.socket.send(JSON.stringify({ id, type: 'complete' }));
        await eventually(() => expect([bus.made(topic), bus.made(inboxTopic)]).toEqual([made + 2, madeInbox + 1]));
        await eventually(() => expect([bus.count(topic), bus.count(inboxTopic)]).toEqual([1, 0]));
      } finally {
        raw.socket.close();
      }

      // Closing a socket ends what runs on it.
      await b.dispose();
      await eventually(() => expect(bus.count(topic)).toBe(0));
    } finally {
      bus.restore();
    }
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, rawConnect, subscribeWs, type Closed, type WsSubscription } from '../helpers/ws.ts';

const Events = graphql(`
  subscription RealtimeLiveLimitsEvents($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) {
      __typename
      seq
      ... on MessageCreated { message { seq body } }
    }
  }
`);
const Send = graphql(`
  mutation RealtimeLiveLimitsSend($input: SendMessageInput!) {
    sendMessage(input: $input) { seq }
  }
`);
const Revoke = graphql(`
  mutation RealtimeLiveLimitsRevoke($userId: ID!) {
    revokeUserSessions(userId: $userId)
  }
`);
const UpdateTenant = graphql(`
  mutation RealtimeLiveLimitsUpdateTenant($id: ID!, $input: UpdateTenantInput!) {
    updateTenant(id: $id, input: $input) { limits { maxSocketsPerUser } }
  }
`);
const Presence = graphql(`
  query RealtimeLiveLimitsPresence($userIds: [ID!]!) {
    presence(userIds: $userIds) { userId online lastSeenAt }
  }
`);

type EventData = { conversationEvents: { seq?: number | null } };

let server: TestServer;
let app: SeededApp;

beforeAll(async () => {
  server = await startServer({
    WS_MAX_PENDING_EVENTS: '20',
    WS_MAX_BUFFERED_BYTES: '4096',
    WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '2',
    MAX_MESSAGE_BYTES: '65536',
  });
  app = await seedApp(server);
});
afterEach(() => disposeAllWs());
afterAll(() => server?.close());

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const seqs = (data: EventData[]) => data.map((d) => d.conversationEvents.seq);
const send = async (on: TestServer, user: SeededUser, conversationId: string, body: string) =>
  (await ok(on.graphqlUrl, Send, { input: { conversationId, body } }, { token: user.token })).sendMessage.seq;
const received = (subs: WsSubscription<EventData>[], count: number) =>
  eventually(() => subs.forEach((s) => expect(s.data.length).toBeGreaterThanOrEqual(count)));

describe('slow consumers', () => {
  it('a socket that stops reading is closed with 4008; a reading subscriber gets all 300 in order; the slow one resumes by afterSeq', async () => {
    const [u, slow, reader] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const conversationId = await seedGroup(server, u, [slow, reader]);
    await send(server, u, conversationId, 'first');

    const raw = await rawConnect(server, { token: slow.token });
    raw.subscribe('s', Events, { conversationId, afterSeq: 0 });
    await eventually(() => expect(seqs(raw.nexts('s', Events))).toEqual([1]));
    const normal = subscribeWs(connectWs(server, { token: reader.token }), Events, { conversationId, afterSeq: 1 });
    raw.socket.pause(); // stops reading from the network

    // ~12 MB: once the kernel's socket buffers (some 4 MB on loopback) are full, the server's
    // send to it stalls and its subscription falls more than WS_MAX_PENDING_EVENTS behind.
    const body = 'x'.repeat(40 * 1024);
    for (let i = 2; i <= 301; i++) await send(server, u, conversationId, `${i}:${body}`);
    await received([normal], 300);
    expect(seqs(normal.data)).toEqual(range(2, 301));
    expect(normal.data.every((d) => d.conversationEvents.__typename === 'MessageCreated')).toBe(true);
    expect([normal.errors, normal.ended]).toEqual([[], false]);

    let cut: Closed | undefined;
    void raw.closed.then((closed) => (cut = closed));
    raw.socket.resume(); // it reads what was queued for it, then the server's close frame
    await eventually(() => expect(cut?.code).toBe(4008), 30_000);
    const got = seqs(raw.nexts('s', Events));
    const last = got.at(-1)!;
    expect(got).toEqual(range(1, last)); // what it got before the cut: in order, no gap
    expect(last).toBeLessThan(301);

    const resumed = subscribeWs(connectWs(server, { token: slow.token }), Events, { conversationId, afterSeq: last });
    await received([resumed], 301 - last);
    expect(seqs(resumed.data)).toEqual(range(last + 1, 301));
    expect(resumed.errors).toEqual([]);
  }, 120_000);
});

describe('sessions and limits', () => {
  it('revokeUserSessions closes the user\'s open sockets with 4401, and the old token is refused with 4401', async () => {
    const [u, other] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, other, [u]);
    await send(server, other, conversationId, 'hello');
    const first = connectWs(server, { token: u.token });
    const second = connectWs(server, { token: u.token });
    const bystander = connectWs(server, { token: other.token });
    const sub = subscribeWs(first, Events, { conversationId, afterSeq: 0 });
    await Promise.all([first.connected, second.connected, bystander.connected]);
    await received([sub], 1);

    expect(await ok(server.graphqlUrl, Revoke, { userId: u.id }, { apiKey: app.apiKey })).toEqual({ revokeUserSessions: true });
    await eventually(() => expect([first.closed?.code, second.closed?.code]).toEqual([4401, 4401]));
    expect(sub.closed?.code).toBe(4401);

    const retry = connectWs(server, { token: u.token });
    await eventually(() => expect(retry.closed?.code).toBe(4401));
    expect(retry.acks).toBe(0);

    // Another user's socket was left alone.
    const still = subscribeWs(bystander, Events, { conversationId, afterSeq: 0 });
    await received([still], 1);
    expect([bystander.closed, bystander.acks]).toEqual([undefined, 1]);
  });

  it('WS_MAX_SUBSCRIPTIONS_PER_SOCKET=2: a third subscription on a socket is refused with RATE_LIMITED; the first two keep working', async () => {
    const [u, v] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, u, [v]);
    await send(server, u, conversationId, 'one');
    const ws = connectWs(server, { token: v.token });
    const subs = [subscribeWs(ws, Events, { conversationId, afterSeq: 0 }), subscribeWs(ws, Events, { conversationId, afterSeq: 0 })];
    await received(subs, 1);

    const third = subscribeWs(ws, Events, { conversationId, afterSeq: 0 });
    await eventually(() => expect(third.ended).toBe(true));
    expect(third.errors.map((e) => e.extensions?.code)).toEqual(['RATE_LIMITED']);
    expect(third.errors[0]?.extensions?.retryAfterSeconds).toBe(1);
    expect(third.data).toEqual([]);

    await send(server, u, conversationId, 'two');
    await received(subs, 2);
    subs.forEach((s) => expect([seqs(s.data), s.errors, s.ended]).toEqual([[1, 2], [], false]));
    expect([ws.closed, ws.acks]).toEqual([undefined, 1]);
  });

  it('the tenant\'s maxSocketsPerUser=2: a third socket of the same user is closed with 4029; the first two keep working', async () => {
    const own = await seedApp(server); // its own tenant, whose limit is lowered
    const input = { limits: { maxSocketsPerUser: 2 } };
    const { updateTenant } = await ok(server.graphqlUrl, UpdateTenant, { id: own.tenantId, input }, { token: server.adminToken });
    expect(updateTenant.limits.maxSocketsPerUser).toBe(2);
    const [u, v] = (await seedUsers(server, own, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, u, [v]);
    const sockets = [connectWs(server, { token: v.token }), connectWs(server, { token: v.token })];
    await Promise.all(sockets.map((s) => s.connected));
    const subs = sockets.map((s) => subscribeWs(s, Events, { conversationId, afterSeq: 0 }));

    const third = connectWs(server, { token: v.token });
    await eventually(() => expect(third.closed?.code).toBe(4029));
    expect(third.acks).toBe(0);
    const otherUser = connectWs(server, { token: u.token }); // the limit is per user
    await otherUser.connected;

    await send(server, u, conversationId, 'still here');
    await received(subs, 1);
    subs.forEach((s) => expect([seqs(s.data), s.errors, s.ended]).toEqual([[1], [], false]));
    expect(sockets.map((s) => [s.closed, s.acks])).toEqual([[undefined, 1], [undefined, 1]]);
  });
});

describe('keep-alive and shutdown', () => {
  it('WS_KEEPALIVE_MS=1000: a socket that answers pings stays, one that cannot is terminated; closing the server closes sockets with 1012', async () => {
    const own = await startServer({ WS_KEEPALIVE_MS: '1000' });
    let closed = false;
    try {
      const ownApp = await seedApp(own);
      const [u, v] = (await seedUsers(own, ownApp, 2)) as [SeededUser, SeededUser];
      const presenceOf = async (user: SeededUser) =>
        (await ok(own.graphqlUrl, Presence, { userIds: [user.id] }, { apiKey: ownApp.apiKey })).presence[0];

      const answering = await rawConnect(own, { token: u.token });
      let pings = 0;
      answering.socket.on('ping', () => (pings += 1));
      const mute = await rawConnect(own, { token: v.token });
      expect((await presenceOf(v))?.online).toBe(true);
      mute.socket.pause(); // it can no longer read the pings, so it never answers them

      // Terminated by the server: its user goes offline (its only socket is gone).
      await eventually(() => expect(presenceOf(v)).resolves.toMatchObject({ online: false, lastSeenAt: expect.any(String) }));
      mute.socket.resume();
      expect((await mute.closed).code).toBe(1006); // no close frame: the connection was cut
      // Three pings answered: more than 3 s of liveness checks passed, and it is still connected.
      await eventually(() => expect(pings).toBeGreaterThanOrEqual(3));
      expect(answering.socket.readyState).toBe(WebSocket.OPEN);
      expect((await presenceOf(u))?.online).toBe(true);

      const client = connectWs(own, { token: v.token });
      const conversationId = await seedGroup(own, u, [v]);
      const sub = subscribeWs(client, Events, { conversationId, afterSeq: 0 });
      await send(own, u, conversationId, 'before shutdown');
      await received([sub], 1);

      closed = true;
      await own.close();
      expect((await answering.closed).code).toBe(1012);
      await eventually(() => expect(client.closed?.code).toBe(1012));
      expect(sub.closed?.code).toBe(1012);
    } finally {
      if (!closed) await own.close();
    }
  }, 60_000);
});

import type { ResultOf } from '@graphql-typed-document-node/core';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../../src/events/event-map.ts';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUser, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, spyOnBus, subscribeWs, type WsClient, type WsCredential, type WsSubscription } from '../helpers/ws.ts';

const Events = graphql(`
  subscription RtAccessEvents($conversationId: ID!, $afterSeq: Int, $asUserId: ID) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq, asUserId: $asUserId) {
      __typename
      type
      conversationId
      seq
      ... on MessageCreated { message { id seq body status sender { id } } }
      ... on MessageUpdated { message { id seq body status sender { id } } }
      ... on MessageDeleted { message { id seq body status } }
      ... on MemberJoined { member { role user { id externalId } } }
      ... on MemberLeft { userId }
    }
  }
`);
const Inbox = graphql(`
  subscription RtAccessInbox {
    inboxEvents { __typename conversationId seq }
  }
`);
const Send = graphql(`
  mutation RtAccessSend($input: SendMessageInput!) {
    sendMessage(input: $input) { id seq }
  }
`);
const Edit = graphql(`
  mutation RtAccessEdit($id: ID!, $body: String!) {
    editMessage(id: $id, body: $body) { id }
  }
`);
const Delete = graphql(`
  mutation RtAccessDelete($id: ID!) {
    deleteMessage(id: $id) { id }
  }
`);
const AddMembers = graphql(`
  mutation RtAccessAddMembers($conversationId: ID!, $userIds: [ID!]!, $role: MemberRole) {
    addMembers(conversationId: $conversationId, userIds: $userIds, role: $role) { id }
  }
`);
const RemoveMember = graphql(`
  mutation RtAccessRemoveMember($conversationId: ID!, $userId: ID!) {
    removeMember(conversationId: $conversationId, userId: $userId) { id }
  }
`);
const Leave = graphql(`
  mutation RtAccessLeave($conversationId: ID!) {
    leaveConversation(conversationId: $conversationId)
  }
`);
const Typing = graphql(`
  mutation RtAccessTyping($conversationId: ID!) {
    sendTyping(conversationId: $conversationId, typing: false)
  }
`);
const RevokeApiKey = graphql(`
  mutation RtAccessRevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) { id }
  }
`);
const UpdateTenant = graphql(`
  mutation RtAccessUpdateTenant($id: ID!, $input: UpdateTenantInput!) {
    updateTenant(id: $id, input: $input) { id status }
  }
`);

type Data = { __typename?: string; seq?: number | null };

let server: TestServer;
let app: SeededApp;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
});
afterEach(() => disposeAllWs());
afterAll(() => server?.close());

const send = (user: SeededUser, conversationId: string, body: string) =>
  ok(server.graphqlUrl, Send, { input: { conversationId, body } }, { token: user.token }).then((r) => r.sendMessage);

const eventsOf = (sub: WsSubscription<ResultOf<typeof Events>>) => sub.data.map((d) => d.conversationEvents);
const persisted = <E extends Data>(events: E[]) => events.filter((e) => e.seq != null);
/** Ended by the server's `complete`: no error, and not by the socket closing. */
const completed = (sub: WsSubscription<unknown>) => sub.ended && sub.errors.length === 0 && sub.closed === undefined;

/** Sends typing indicators until each event list shows one: the streams behind them are live. */
async function waitLive(typist: SeededUser, conversationId: string, lists: (() => Data[])[]) {
  const typings = (list: () => Data[]) => list().filter((e) => e.__typename === 'Typing').length;
  const before = lists.map(typings);
  await eventually(async () => {
    await ok(server.graphqlUrl, Typing, { conversationId }, { token: typist.token });
    lists.forEach((list, i) => expect(typings(list)).toBeGreaterThan(before[i]!));
  });
}

/** The error codes a subscription ended with, once it has ended (and it carried no data). */
async function refusal(sub: WsSubscription<unknown>) {
  await eventually(() => expect(sub.ended).toBe(true));
  expect(sub.data).toEqual([]);
  return sub.errors.map((e) => e.extensions?.code);
}

/** The socket is still the one first acknowledged, and a valid subscription on it gets events. */
async function expectUsable(ws: WsClient, member: SeededUser, conversationId: string) {
  const sub = subscribeWs(ws, Events, { conversationId, afterSeq: 0 });
  const { seq } = await send(member, conversationId, 'still usable');
  await eventually(() => expect(persisted(eventsOf(sub)).map((e) => e.seq)).toContain(seq));
  expect([ws.acks, ws.closed, sub.errors]).toEqual([1, undefined, []]);
}

describe('event types', () => {
  it('created, updated, deleted, member joined and left arrive as their own types with their own seq, live and replayed', async () => {
    const [alice, bob, carol, dave] = (await seedUsers(server, app, 4)) as [SeededUser, SeededUser, SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const live = subscribeWs(connectWs(server, { token: bob.token }), Events, { conversationId });
    await waitLive(alice, conversationId, [() => eventsOf(live)]);

    const b = { token: bob.token };
    const a = { token: alice.token };
    const { id } = await send(bob, conversationId, 'hello');
    await ok(server.graphqlUrl, Edit, { id, body: 'hello!' }, b);
    await ok(server.graphqlUrl, Delete, { id }, b);
    await ok(server.graphqlUrl, AddMembers, { conversationId, userIds: [carol.id, dave.id], role: 'ADMIN' }, a); // one seq each
    await ok(server.graphqlUrl, RemoveMember, { conversationId, userId: carol.id }, a);

    const common = { conversationId };
    const expected = [
      { __typename: 'MessageCreated', type: 'conversation.message.created', ...common, seq: 1, message: { id, seq: 1, body: 'hello', status: 'SENT', sender: { id: bob.id } } },
      { __typename: 'MessageUpdated', type: 'conversation.message.updated', ...common, seq: 2, message: { id, seq: 1, body: 'hello!', status: 'EDITED', sender: { id: bob.id } } },
      { __typename: 'MessageDeleted', type: 'conversation.message.deleted', ...common, seq: 3, message: { id, seq: 1, body: '', status: 'DELETED' } },
      { __typename: 'MemberJoined', type: 'conversation.member.joined', ...common, seq: 4, member: { role: 'ADMIN', user: { id: carol.id, externalId: carol.externalId } } },
      { __typename: 'MemberJoined', type: 'conversation.member.joined', ...common, seq: 5, member: { role: 'ADMIN', user: { id: dave.id, externalId: dave.externalId } } },
      { __typename: 'MemberLeft', type: 'conversation.member.left', ...common, seq: 6, userId: carol.id },
    ];
    await eventually(() => expect(persisted(eventsOf(live))).toHaveLength(6));
    expect(persisted(eventsOf(live))).toEqual(expected);

    // Replayed from the log (payloads without the users the live events carried): the same.
    const replayed = subscribeWs(connectWs(server, { token: alice.token }), Events, { conversationId, afterSeq: 0 });
    await eventually(() => expect(persisted(eventsOf(replayed))).toHaveLength(6));
    expect(persisted(eventsOf(replayed))).toEqual(expected);
    const log = await server.deps.db.prisma.conversationEvent.findMany({ where: { conversationId }, orderBy: { seq: 'asc' } });
    expect(log.map((e) => [e.seq, e.type])).toEqual(expected.map((e) => [e.seq, e.type]));
  });
});

describe('losing membership', () => {
  it('a removed member gets their own MemberLeft, then the subscription completes; nothing more reaches them', async () => {
    const [alice, bob, carol] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob, carol]);
    const elsewhere = await seedGroup(server, carol, [alice]);
    const topic = topics.conversation(app.appId, conversationId);
    const bus = spyOnBus(server.deps.bus);
    try {
      const ws = connectWs(server, { token: carol.token });
      const sub = subscribeWs(ws, Events, { conversationId, afterSeq: 0 });
      const inbox = subscribeWs(ws, Inbox, {});
      const asApp = subscribeWs(connectWs(server, { apiKey: app.apiKey }), Events, { conversationId, afterSeq: 0, asUserId: carol.id });
      const watcher = subscribeWs(connectWs(server, { token: alice.token }), Events, { conversationId, afterSeq: 0 });
      await waitLive(bob, conversationId, [() => eventsOf(sub), () => inbox.data.map((d) => d.inboxEvents), () => eventsOf(asApp), () => eventsOf(watcher)]);
      await send(bob, conversationId, 'before');
      await eventually(() => expect(persisted(eventsOf(sub)).map((e) => e.seq)).toEqual([1]));
      expect(bus.count(topic)).toBe(3);

      await ok(server.graphqlUrl, RemoveMember, { conversationId, userId: carol.id }, { token: alice.token });
      for (const ended of [sub, asApp]) {
        await eventually(() => expect(ended.ended).toBe(true));
        expect(completed(ended)).toBe(true);
        expect(persisted(eventsOf(ended)).map((e) => [e.seq, e.__typename, e.__typename === 'MemberLeft' && e.userId])).toEqual([
          [1, 'MessageCreated', false],
          [2, 'MemberLeft', carol.id],
        ]);
      }
      // Server side, only the watcher's stream is left on the conversation's topic.
      await eventually(() => expect(bus.count(topic)).toBe(1));

      // Later sends reach the members, not carol, not even in her inbox. A message in a
      // conversation she is still in arrives after them, so by then she would have them.
      await send(bob, conversationId, 'after');
      await eventually(() => expect(persisted(eventsOf(watcher)).map((e) => e.seq)).toEqual([1, 2, 3]));
      const { seq } = await send(alice, elsewhere, 'marker');
      await eventually(() => expect(inbox.data.map((d) => d.inboxEvents).filter((e) => e.conversationId === elsewhere && e.seq === seq)).toHaveLength(1));
      const fromConversation = persisted(inbox.data.map((d) => d.inboxEvents)).filter((e) => e.conversationId === conversationId);
      expect(fromConversation.map((e) => [e.seq, e.__typename])).toEqual([
        [1, 'MessageCreated'],
        [2, 'MemberLeft'],
      ]);
      expect([persisted(eventsOf(sub)).length, persisted(eventsOf(asApp)).length]).toEqual([2, 2]);

      // Subscribing again is NOT_FOUND for that subscription alone: the socket carries on.
      expect(await refusal(subscribeWs(ws, Events, { conversationId, afterSeq: 0 }))).toEqual(['NOT_FOUND']);
      await expectUsable(ws, alice, elsewhere);
    } finally {
      bus.restore();
    }
  });

  it('leaving completes the leaver’s subscription after their MemberLeft; the others carry on', async () => {
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const bobs = subscribeWs(connectWs(server, { token: bob.token }), Events, { conversationId, afterSeq: 0 });
    const alices = subscribeWs(connectWs(server, { token: alice.token }), Events, { conversationId, afterSeq: 0 });
    await send(alice, conversationId, 'hi');
    await eventually(() => expect(persisted(eventsOf(bobs))).toHaveLength(1));
    await ok(server.graphqlUrl, Leave, { conversationId }, { token: bob.token });
    await eventually(() => expect(completed(bobs)).toBe(true));
    expect(persisted(eventsOf(bobs)).map((e) => [e.seq, e.__typename])).toEqual([
      [1, 'MessageCreated'],
      [2, 'MemberLeft'],
    ]);
    await send(alice, conversationId, 'still here');
    await eventually(() => expect(persisted(eventsOf(alices)).map((e) => e.seq)).toEqual([1, 2, 3]));
    expect(alices.ended).toBe(false);
  });
});

describe('authorization', () => {
  it('a user of another app, a non-member, or an app server acting as one gets NOT_FOUND for that subscription only', async () => {
    const [alice, bob, dave] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const davesOwn = await seedGroup(server, dave, [alice]);
    const otherApp = await seedApp(server);
    const [eve, frank] = (await seedUsers(server, otherApp, 2)) as [SeededUser, SeededUser];
    const evesOwn = await seedGroup(server, eve, [frank]);

    const cases: [WsCredential, string | undefined, SeededUser, string][] = [
      [{ token: eve.token }, undefined, eve, evesOwn], // another app's user
      [{ token: dave.token }, undefined, dave, davesOwn], // same app, not a member
      [{ apiKey: otherApp.apiKey }, eve.id, eve, evesOwn], // another app's server, as its own user
      [{ apiKey: app.apiKey }, dave.id, dave, davesOwn], // this app's server, as a non-member
      [{ apiKey: app.apiKey }, eve.id, dave, davesOwn], // this app's server, as another app's user
    ];
    for (const [cred, asUserId, member, own] of cases) {
      const ws = connectWs(server, cred);
      expect(await refusal(subscribeWs(ws, Events, { conversationId, afterSeq: 0, asUserId }))).toEqual(['NOT_FOUND']);
      if ('apiKey' in cred) {
        const sub = subscribeWs(ws, Events, { conversationId: own, afterSeq: 0, asUserId: member.id });
        const { seq } = await send(member, own, 'mine');
        await eventually(() => expect(persisted(eventsOf(sub)).map((e) => e.seq)).toContain(seq));
        expect([ws.acks, ws.closed]).toEqual([1, undefined]);
      } else {
        await expectUsable(ws, member, own);
      }
      await ws.dispose();
    }
  });

  it('a bad, garbage, expired or missing credential, or a revoked API key, closes the socket with 4401', async () => {
    const owner = await seedApp(server);
    const user = await seedUser(server, owner);
    const claims = decodeJwt(user.token);
    const expired = await server.deps.tokens.signUserToken(
      { userId: user.id, appId: owner.appId, tenantId: owner.tenantId, sessionId: String(claims.sid) },
      new Date(Date.now() - 60_000),
    );
    const revoked = await seedApp(server);
    await ok(server.graphqlUrl, RevokeApiKey, { id: revoked.apiKeyId }, { token: server.adminToken });
    const [keyId] = owner.apiKey.split('.');

    const refused: WsCredential[] = [
      { token: `${user.token}x` }, // bad signature
      { token: 'garbage' },
      { token: expired },
      { params: undefined }, // connection_init without a payload
      { params: {} },
      { params: { authorization: `Basic ${user.token}` } },
      { params: { authorization: `Bearer ${user.token}`, apiKey: owner.apiKey } },
      { apiKey: `${keyId}.sk_wrong` },
      { apiKey: revoked.apiKey },
    ];
    for (const cred of refused) {
      const ws = connectWs(server, cred);
      const sub = subscribeWs(ws, Events, { conversationId: 'cnv_none', afterSeq: 0 });
      await eventually(() => expect(ws.closed).toBeDefined());
      expect([ws.closed?.code, ws.acks], JSON.stringify(cred)).toEqual([4401, 0]);
      await eventually(() => expect(sub.closed?.code).toBe(4401));
    }
    // The same user's good token still connects.
    const good = connectWs(server, { token: user.token });
    await good.connected;
    expect([good.acks, good.closed]).toEqual([1, undefined]);
  });

  it("a SUSPENDED tenant's user token and API key close the socket with 4403", async () => {
    const suspended = await seedApp(server);
    const user = await seedUser(server, suspended);
    await ok(server.graphqlUrl, UpdateTenant, { id: suspended.tenantId, input: { status: 'SUSPENDED' } }, { token: server.adminToken });
    for (const cred of [{ token: user.token }, { apiKey: suspended.apiKey }]) {
      const ws = connectWs(server, cred);
      await eventually(() => expect(ws.closed).toBeDefined());
      expect([ws.closed?.code, ws.acks]).toEqual([4403, 0]);
    }
  });
});

describe('argument validation', () => {
  it('afterSeq -1 or a malformed conversationId is BAD_USER_INPUT for that subscription only', async () => {
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const ws = connectWs(server, { token: bob.token });
    const issues = (sub: WsSubscription<unknown>) => sub.errors.map((e) => e.extensions?.issues);
    const negative = subscribeWs(ws, Events, { conversationId, afterSeq: -1 });
    expect(await refusal(negative)).toEqual(['BAD_USER_INPUT']);
    expect(issues(negative)).toEqual([[{ path: 'afterSeq', message: expect.any(String) }]]);
    for (const malformed of ['not an id!', '', 'x'.repeat(65), "cnv_1' OR '1'='1"]) {
      const sub = subscribeWs(ws, Events, { conversationId: malformed, afterSeq: 0 });
      expect(await refusal(sub)).toEqual(['BAD_USER_INPUT']);
      expect(issues(sub)).toEqual([[{ path: 'conversationId', message: expect.any(String) }]]);
    }
    await expectUsable(ws, alice, conversationId);
  });
});

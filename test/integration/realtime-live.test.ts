import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { errorCode, ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs, type WsSubscription } from '../helpers/ws.ts';

graphql(`
  fragment RealtimeLiveEvent on ConversationEvent {
    __typename
    type
    conversationId
    seq
    ... on Typing { userId typing }
    ... on ReadReceipt { userId lastReadSeq }
    ... on MessageCreated { message { seq body } }
    ... on MemberJoined { member { userId role } }
    ... on MemberLeft { userId }
  }
`);
const Events = graphql(`
  subscription RealtimeLiveEvents($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) { ...RealtimeLiveEvent }
  }
`);
const Inbox = graphql(`
  subscription RealtimeLiveInbox {
    inboxEvents { ...RealtimeLiveEvent }
  }
`);
const PresenceUpdated = graphql(`
  subscription RealtimeLivePresenceUpdated($userIds: [ID!]!) {
    presenceUpdated(userIds: $userIds) { userId online lastSeenAt }
  }
`);
const Presence = graphql(`
  query RealtimeLivePresence($userIds: [ID!]!) {
    presence(userIds: $userIds) { userId online lastSeenAt }
  }
`);
const Send = graphql(`
  mutation RealtimeLiveSend($input: SendMessageInput!) {
    sendMessage(input: $input) { seq }
  }
`);
const Typing = graphql(`
  mutation RealtimeLiveTyping($conversationId: ID!, $typing: Boolean!) {
    sendTyping(conversationId: $conversationId, typing: $typing)
  }
`);
const MarkRead = graphql(`
  mutation RealtimeLiveMarkRead($conversationId: ID!, $seq: Int!) {
    markRead(conversationId: $conversationId, seq: $seq) { lastReadSeq }
  }
`);
const AddMembers = graphql(`
  mutation RealtimeLiveAddMembers($conversationId: ID!, $userIds: [ID!]!, $role: MemberRole) {
    addMembers(conversationId: $conversationId, userIds: $userIds, role: $role) { id }
  }
`);
const RemoveMember = graphql(`
  mutation RealtimeLiveRemoveMember($conversationId: ID!, $userId: ID!) {
    removeMember(conversationId: $conversationId, userId: $userId) { id }
  }
`);

type PresenceEvent = { presenceUpdated: { userId: string; online: boolean; lastSeenAt?: string | null } };

let server: TestServer;
let app: SeededApp;

beforeAll(async () => {
  server = await startServer({ TYPING_TTL_MS: '600' });
  app = await seedApp(server);
});
afterEach(() => disposeAllWs());
afterAll(() => server?.close());

const send = async (user: SeededUser, conversationId: string, body: string) =>
  (await ok(server.graphqlUrl, Send, { input: { conversationId, body } }, { token: user.token })).sendMessage.seq;
const typing = (user: SeededUser, conversationId: string, value: boolean) =>
  ok(server.graphqlUrl, Typing, { conversationId, typing: value }, { token: user.token });
const presence = async (viewer: SeededUser, userIds: string[]) =>
  (await ok(server.graphqlUrl, Presence, { userIds }, { token: viewer.token })).presence;

/**
 * Waits until every subscription has received something caused by `poke` (called again
 * until it has): from then on each stream is live, so whatever happens next reaches it.
 * Also a barrier: once a poke made after X arrived, X's events (if any) arrived before it.
 */
async function pokeUntilSeen(subs: WsSubscription<unknown>[], poke: () => Promise<unknown>) {
  const before = subs.map((s) => s.data.length);
  await eventually(async () => {
    if (subs.every((s, i) => s.data.length > before[i]!)) return;
    await poke();
    throw new Error('not seen yet');
  });
}

/** Connects and disconnects a user: a presence change for whoever may see them. */
async function toggle(user: SeededUser) {
  const ws = connectWs(server, { token: user.token });
  await ws.connected;
  await ws.dispose();
}

describe('presence over sockets', () => {
  it('online with the first of two sockets, still online with one, offline with lastSeenAt after the last; an outsider sees nothing', async () => {
    const [u, v, outsider, probe] = (await seedUsers(server, app, 4)) as [SeededUser, SeededUser, SeededUser, SeededUser];
    await seedGroup(server, v, [u, probe]);
    await seedGroup(server, outsider, [probe]); // the outsider shares a conversation with the probe, none with U

    const watch = subscribeWs(connectWs(server, { token: v.token }), PresenceUpdated, { userIds: [u.id, probe.id] });
    const peek = subscribeWs(connectWs(server, { token: outsider.token }), PresenceUpdated, { userIds: [u.id, probe.id] });
    const ofU = (sub: WsSubscription<PresenceEvent>) => sub.data.map((d) => d.presenceUpdated).filter((p) => p.userId === u.id);
    await pokeUntilSeen([watch, peek], () => toggle(probe));
    expect(await presence(v, [u.id])).toEqual([{ userId: u.id, online: false, lastSeenAt: null }]);

    const first = connectWs(server, { token: u.token });
    await first.connected;
    await eventually(() => expect(ofU(watch)).toEqual([{ userId: u.id, online: true, lastSeenAt: null }]));
    expect(await presence(v, [u.id])).toEqual([{ userId: u.id, online: true, lastSeenAt: null }]);

    const second = connectWs(server, { token: u.token });
    await second.connected;
    await first.dispose();
    await eventually(() => expect(first.closed).toBeDefined());
    expect((await presence(v, [u.id]))[0]?.online).toBe(true);

    await second.dispose();
    await eventually(() => expect(ofU(watch)).toHaveLength(2));
    const offline = ofU(watch)[1]!;
    expect(offline).toMatchObject({ userId: u.id, online: false });
    expect(Number.isNaN(Date.parse(offline.lastSeenAt ?? ''))).toBe(false);
    expect(await presence(v, [u.id])).toEqual([{ userId: u.id, online: false, lastSeenAt: offline.lastSeenAt }]);

    // U comes back; a later probe toggle reaching both proves the outsider's stream is past it.
    const again = connectWs(server, { token: u.token });
    await again.connected;
    await pokeUntilSeen([watch, peek], () => toggle(probe));
    expect(ofU(watch).map((p) => p.online)).toEqual([true, false, true]); // one offline: when the last socket closed
    expect(ofU(peek)).toEqual([]);
    expect(peek.errors).toEqual([]);
    expect(await presence(outsider, [u.id, probe.id])).toEqual([expect.objectContaining({ userId: probe.id })]);
  });
});

describe('typing and read receipts', () => {
  it('typing true reaches the others and lapses by itself; typing false is sent at once; a READER may not type', async () => {
    const [v, u, w, reader] = (await seedUsers(server, app, 4)) as [SeededUser, SeededUser, SeededUser, SeededUser];
    const conversationId = await seedGroup(server, v, [u, w]);
    await ok(server.graphqlUrl, AddMembers, { conversationId, userIds: [reader.id], role: 'READER' }, { token: v.token });
    const sub = subscribeWs(connectWs(server, { token: v.token }), Events, { conversationId });
    await pokeUntilSeen([sub], () => typing(w, conversationId, false));
    const typings = () => sub.data.map((d) => d.conversationEvents).flatMap((e) => (e.__typename === 'Typing' ? [e] : []));
    const of = (user: SeededUser) => typings().filter((e) => e.userId === user.id).map((e) => e.typing);

    expect(await typing(u, conversationId, true)).toEqual({ sendTyping: true });
    await eventually(() => expect(of(u)).toEqual([true]));
    expect(typings().find((e) => e.userId === u.id)).toEqual({
      __typename: 'Typing', type: 'conversation.typing', conversationId, seq: null, userId: u.id, typing: true,
    });
    await eventually(() => expect(of(u)).toEqual([true, false])); // nobody sent it: the server's expiry did

    // U stops at once: U's false comes before W's true (sent after it), and U's expiry was
    // cancelled: it would have fired before W's, which we wait for.
    const mark = typings().length;
    await typing(u, conversationId, true);
    await typing(u, conversationId, false);
    await typing(w, conversationId, true);
    await eventually(() => expect(of(w).slice(-2)).toEqual([true, false]));
    await pokeUntilSeen([sub], () => typing(w, conversationId, false));
    const next = typings().slice(mark, mark + 4).map((e) => [e.userId, e.typing]);
    expect(next).toEqual([[u.id, true], [u.id, false], [w.id, true], [w.id, false]]);
    expect(of(u)).toEqual([true, false, true, false]);

    expect(await errorCode(server.graphqlUrl, Typing, { conversationId, typing: true }, { token: reader.token })).toBe('FORBIDDEN');
    await pokeUntilSeen([sub], () => typing(w, conversationId, false));
    expect(of(reader)).toEqual([]);
    expect(sub.data.every((d) => d.conversationEvents.__typename === 'Typing')).toBe(true);
  });

  it('markRead sends a ReadReceipt with the reader and their lastReadSeq', async () => {
    const [v, u] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, v, [u]);
    const sub = subscribeWs(connectWs(server, { token: v.token }), Events, { conversationId, afterSeq: 0 });
    await send(v, conversationId, 'one');
    await send(v, conversationId, 'two');
    await eventually(() => expect(sub.data.map((d) => d.conversationEvents.seq)).toEqual([1, 2]));

    expect((await ok(server.graphqlUrl, MarkRead, { conversationId, seq: 2 }, { token: u.token })).markRead).toEqual({ lastReadSeq: 2 });
    await eventually(() => expect(sub.data).toHaveLength(3));
    expect(sub.data[2]!.conversationEvents).toEqual({
      __typename: 'ReadReceipt', type: 'conversation.read', conversationId, seq: null, userId: u.id, lastReadSeq: 2,
    });
  });
});

describe('inboxEvents', () => {
  it('events of every conversation the user is in, one they are added to while connected, and none of one they were removed from', async () => {
    const [v, a, b, c] = (await seedUsers(server, app, 4)) as [SeededUser, SeededUser, SeededUser, SeededUser];
    const convA = await seedGroup(server, a, [v]);
    const convB = await seedGroup(server, b, [v]);
    const convC = await seedGroup(server, c, []);
    const inbox = subscribeWs(connectWs(server, { token: v.token }), Inbox, {});
    await pokeUntilSeen([inbox], () => typing(a, convA, false));
    const persisted = () => inbox.data.map((d) => d.inboxEvents).filter((e) => e.seq !== null);
    const summary = () =>
      persisted().map((e) => [
        e.conversationId,
        e.__typename,
        e.__typename === 'MessageCreated' ? e.message.body : e.__typename === 'MemberJoined' ? e.member.userId : e.__typename === 'MemberLeft' ? e.userId : null,
      ]);

    await send(a, convA, 'in A');
    await send(b, convB, 'in B');
    await eventually(() => expect(summary()).toHaveLength(2));
    expect(summary()).toEqual(expect.arrayContaining([[convA, 'MessageCreated', 'in A'], [convB, 'MessageCreated', 'in B']]));

    await ok(server.graphqlUrl, AddMembers, { conversationId: convC, userIds: [v.id] }, { token: c.token });
    await send(c, convC, 'in C');
    await eventually(() => expect(summary()).toHaveLength(4));
    expect(summary().slice(2)).toEqual([[convC, 'MemberJoined', v.id], [convC, 'MessageCreated', 'in C']]);
    expect(persisted()[2]).toMatchObject({ type: 'conversation.member.joined', seq: 1 });

    await ok(server.graphqlUrl, RemoveMember, { conversationId: convB, userId: v.id }, { token: b.token });
    await eventually(() => expect(summary()).toHaveLength(5));
    expect(summary()[4]).toEqual([convB, 'MemberLeft', v.id]);
    await send(b, convB, 'after V left');
    await send(a, convA, 'control');
    await eventually(() => expect(summary()).toHaveLength(6));
    expect(summary()[5]).toEqual([convA, 'MessageCreated', 'control']);
    await pokeUntilSeen([inbox], () => typing(a, convA, false));
    expect(inbox.data.map((d) => d.inboxEvents).filter((e) => e.conversationId === convB).map((e) => e.__typename)).toEqual([
      'MessageCreated',
      'MemberLeft',
    ]);
    expect(inbox.errors).toEqual([]);
  });
});

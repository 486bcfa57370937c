import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { errorCode, ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUser, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const Create = graphql(`
  mutation ConversationsCreate($input: CreateConversationInput!) {
    createConversation(input: $input) { id kind title metadata lastSeq members { userId role } }
  }
`);
const Get = graphql(`
  query ConversationsGet($id: ID!) {
    conversation(id: $id) {
      id kind title metadata lastSeq
      members { userId role joinedAt lastReadSeq lastDeliveredSeq user { id externalId } }
    }
  }
`);
const List = graphql(`
  query ConversationsList($first: Int, $after: String, $last: Int, $before: String) {
    conversations(first: $first, after: $after, last: $last, before: $before) {
      edges { cursor node { id } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`);
const Messages = graphql(`
  query ConversationsMessages($conversationId: ID!) {
    messages(conversationId: $conversationId, first: 10) { edges { node { id } } }
  }
`);
const Send = graphql(`
  mutation ConversationsSend($input: SendMessageInput!) {
    sendMessage(input: $input) { id seq }
  }
`);
const AddMembers = graphql(`
  mutation ConversationsAddMembers($conversationId: ID!, $userIds: [ID!]!) {
    addMembers(conversationId: $conversationId, userIds: $userIds) { id }
  }
`);
const RemoveMember = graphql(`
  mutation ConversationsRemoveMember($conversationId: ID!, $userId: ID!) {
    removeMember(conversationId: $conversationId, userId: $userId) { id }
  }
`);
const Leave = graphql(`
  mutation ConversationsLeave($conversationId: ID!) {
    leaveConversation(conversationId: $conversationId)
  }
`);

let server: TestServer;
let app: SeededApp;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
});
afterAll(() => server?.close());

const as = (u: SeededUser) => ({ token: u.token });
const countConversations = (appId: string) => server.deps.db.prisma.conversation.count({ where: { appId } });
const byRole = (members: { userId: string; role: string }[]) => [...members].map((m) => [m.userId, m.role]).sort();

/** The ids of the caller's conversations, read page by page through `first`/`after`. */
async function walkForward(user: SeededUser, pageSize: number) {
  const ids: string[] = [];
  let after: string | null | undefined;
  for (let pages = 0; pages < 50; pages++) {
    const page = (await ok(server.graphqlUrl, List, { first: pageSize, after }, as(user))).conversations;
    ids.push(...page.edges.map((e) => e.node.id));
    if (!page.pageInfo.hasNextPage) return ids;
    after = page.pageInfo.endCursor;
  }
  throw new Error('paging never ended');
}

/** Spreads the conversations' last-event times an hour apart, the first one newest. */
async function ageConversations(idsNewestFirst: string[]) {
  const now = Date.now();
  for (const [i, id] of idsNewestFirst.entries()) {
    await server.deps.db.prisma.conversation.update({ where: { id }, data: { lastEventAt: new Date(now - (i + 1) * 3_600_000) } });
  }
}

describe('createConversation GROUP', () => {
  it('makes the caller OWNER and memberIds MEMBERs; the caller may be listed; title and metadata round-trip', async () => {
    const [owner, bob, carol] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const metadata = { topic: 'launch', nested: { n: 1, tags: ['a', 'b'] } };
    const created = (
      await ok(server.graphqlUrl, Create, { input: { kind: 'GROUP', memberIds: [owner.id, bob.id, carol.id, bob.id], title: 'Launch', metadata } }, as(owner))
    ).createConversation;
    expect(created).toMatchObject({ kind: 'GROUP', title: 'Launch', metadata, lastSeq: 0 });
    const expected = [[owner.id, 'OWNER'], [bob.id, 'MEMBER'], [carol.id, 'MEMBER']].sort();
    expect(byRole(created.members)).toEqual(expected);
    expect(await server.deps.db.prisma.membership.count({ where: { conversationId: created.id } })).toBe(3);

    const read = (await ok(server.graphqlUrl, Get, { id: created.id }, as(carol))).conversation;
    expect(read).toMatchObject({ id: created.id, kind: 'GROUP', title: 'Launch', metadata });
    expect(byRole(read?.members ?? [])).toEqual(expected);
  });

  it.each([
    ['an unknown user id', () => Promise.resolve('usr_doesnotexist')],
    ['a user of another app', async () => (await seedUser(server, await seedApp(server))).id],
  ])('NOT_FOUND for %s in memberIds, and no conversation is created', async (_name, otherId) => {
    const [owner, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const stranger = await otherId();
    const before = await countConversations(app.appId);
    const input = { kind: 'GROUP' as const, memberIds: [bob.id, stranger], title: 'x' };
    expect(await errorCode(server.graphqlUrl, Create, { input }, as(owner))).toBe('NOT_FOUND');
    expect(await countConversations(app.appId)).toBe(before);
  });
});

describe('createConversation DIRECT', () => {
  it.each([
    ['no other user', (_self: SeededUser, _others: SeededUser[]) => []],
    ['only the caller', (self: SeededUser) => [self.id]],
    ['two other users', (_self: SeededUser, others: SeededUser[]) => others.map((u) => u.id)],
  ])('BAD_USER_INPUT with %s, and nothing is created', async (_name, memberIds) => {
    const [self, ...others] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const before = await countConversations(app.appId);
    const input = { kind: 'DIRECT' as const, memberIds: memberIds(self, others) };
    expect(await errorCode(server.graphqlUrl, Create, { input }, as(self))).toBe('BAD_USER_INPUT');
    expect(await countConversations(app.appId)).toBe(before);
  });

  it('is created once per pair: again from either side returns the same conversation', async () => {
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const first = (await ok(server.graphqlUrl, Create, { input: { kind: 'DIRECT', memberIds: [bob.id] } }, as(alice))).createConversation;
    expect(first.kind).toBe('DIRECT');
    expect(byRole(first.members)).toEqual([[alice.id, 'OWNER'], [bob.id, 'MEMBER']].sort());
    const again = (await ok(server.graphqlUrl, Create, { input: { kind: 'DIRECT', memberIds: [bob.id] } }, as(alice))).createConversation;
    const reverse = (await ok(server.graphqlUrl, Create, { input: { kind: 'DIRECT', memberIds: [alice.id] } }, as(bob))).createConversation;
    expect([again.id, reverse.id]).toEqual([first.id, first.id]);
    const directKey = [alice.id, bob.id].sort().join(':');
    expect(await server.deps.db.prisma.conversation.count({ where: { appId: app.appId, directKey } })).toBe(1);
    expect(await server.deps.db.prisma.membership.count({ where: { conversationId: first.id } })).toBe(2);
  });

  it('10 concurrent creations between one pair, from both sides, make one conversation', async () => {
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        const [caller, other] = i % 2 === 0 ? [alice, bob] : [bob, alice];
        return ok(server.graphqlUrl, Create, { input: { kind: 'DIRECT', memberIds: [other.id] } }, as(caller));
      }),
    );
    const ids = new Set(results.map((r) => r.createConversation.id));
    expect(ids.size).toBe(1);
    const directKey = [alice.id, bob.id].sort().join(':');
    expect(await server.deps.db.prisma.conversation.count({ where: { appId: app.appId, directKey } })).toBe(1);
    expect(await server.deps.db.prisma.membership.count({ where: { conversationId: [...ids][0]! } })).toBe(2);
  });

  it('has fixed members: addMembers, removeMember and leaveConversation are FORBIDDEN and change nothing', async () => {
    const [alice, bob, carol] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const { id } = (await ok(server.graphqlUrl, Create, { input: { kind: 'DIRECT', memberIds: [bob.id] } }, as(alice))).createConversation;
    expect(await errorCode(server.graphqlUrl, AddMembers, { conversationId: id, userIds: [carol.id] }, as(alice))).toBe('FORBIDDEN');
    expect(await errorCode(server.graphqlUrl, RemoveMember, { conversationId: id, userId: bob.id }, as(alice))).toBe('FORBIDDEN');
    expect(await errorCode(server.graphqlUrl, RemoveMember, { conversationId: id, userId: bob.id }, as(bob))).toBe('FORBIDDEN');
    expect(await errorCode(server.graphqlUrl, Leave, { conversationId: id }, as(alice))).toBe('FORBIDDEN');
    expect(await errorCode(server.graphqlUrl, Leave, { conversationId: id }, as(bob))).toBe('FORBIDDEN');
    const members = await server.deps.db.prisma.membership.findMany({ where: { conversationId: id } });
    expect(byRole(members)).toEqual([[alice.id, 'OWNER'], [bob.id, 'MEMBER']].sort());
    expect(await server.deps.db.prisma.conversationEvent.count({ where: { conversationId: id } })).toBe(0);
  });
});

describe('conversation(id)', () => {
  it('is NOT_FOUND (never FORBIDDEN) for a user who is not a member, of this app or another', async () => {
    const [owner, bob, outsider] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const foreigner = await seedUser(server, await seedApp(server));
    const id = await seedGroup(server, owner, [bob]);
    for (const user of [outsider, foreigner]) {
      expect(await errorCode(server.graphqlUrl, Get, { id }, as(user))).toBe('NOT_FOUND');
      expect(await errorCode(server.graphqlUrl, Messages, { conversationId: id }, as(user))).toBe('NOT_FOUND');
    }
    expect(await errorCode(server.graphqlUrl, Get, { id: 'cnv_doesnotexist' }, as(owner))).toBe('NOT_FOUND');
  });

  it('lists members with role, joinedAt, read/delivered markers and the user', async () => {
    const [owner, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const id = await seedGroup(server, owner, [bob]);
    for (const body of ['one', 'two']) await ok(server.graphqlUrl, Send, { input: { conversationId: id, body } }, as(owner));
    // Distinct markers, so that a swapped field shows.
    await server.deps.db.prisma.membership.update({
      where: { conversationId_userId: { conversationId: id, userId: bob.id } },
      data: { lastReadSeq: 1, lastDeliveredSeq: 2 },
    });
    const conversation = (await ok(server.graphqlUrl, Get, { id }, as(bob))).conversation;
    const members = [...(conversation?.members ?? [])].sort((a, b) => a.userId.localeCompare(b.userId));
    const rows = await server.deps.db.prisma.membership.findMany({ where: { conversationId: id }, orderBy: { userId: 'asc' } });
    expect(members).toEqual(
      rows.map((row) => {
        const user = row.userId === owner.id ? owner : bob;
        return {
          userId: row.userId,
          role: row.userId === owner.id ? 'OWNER' : 'MEMBER',
          joinedAt: row.joinedAt.toISOString(),
          lastReadSeq: row.userId === owner.id ? 0 : 1,
          lastDeliveredSeq: row.userId === owner.id ? 0 : 2,
          user: { id: user.id, externalId: user.externalId },
        };
      }),
    );
  });
});

describe('conversations(first, after)', () => {
  it("lists only the caller's conversations, most recent event first; a new message moves one to the front", async () => {
    const [me, bob, carol] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const mine = [await seedGroup(server, me, [bob]), await seedGroup(server, bob, [me]), await seedGroup(server, carol, [me])];
    await seedGroup(server, bob, [carol]); // not mine
    await ageConversations(mine);
    const list = async () => (await ok(server.graphqlUrl, List, { first: 100 }, as(me))).conversations.edges.map((e) => e.node.id);
    expect(await list()).toEqual(mine);

    const oldest = mine[2]!;
    await ok(server.graphqlUrl, Send, { input: { conversationId: oldest, body: 'bump' } }, as(carol));
    expect(await list()).toEqual([oldest, mine[0], mine[1]]);
  });

  it('pages with first/after visit each conversation exactly once; last/before page backwards', async () => {
    const [me, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const mine: string[] = [];
    for (let i = 0; i < 7; i++) mine.push(await seedGroup(server, me, [bob]));
    mine.reverse();
    await ageConversations(mine);

    expect(await walkForward(me, 3)).toEqual(mine);
    expect(await walkForward(me, 1)).toEqual(mine);
    const first = (await ok(server.graphqlUrl, List, { first: 7 }, as(me))).conversations;
    expect(first.pageInfo.hasNextPage).toBe(false);

    const last = (await ok(server.graphqlUrl, List, { last: 3 }, as(me))).conversations;
    expect(last.edges.map((e) => e.node.id)).toEqual(mine.slice(4));
    expect(last.pageInfo.hasPreviousPage).toBe(true);
    const before = (await ok(server.graphqlUrl, List, { last: 3, before: last.pageInfo.startCursor }, as(me))).conversations;
    expect(before.edges.map((e) => e.node.id)).toEqual(mine.slice(1, 4));
    const rest = (await ok(server.graphqlUrl, List, { last: 3, before: before.pageInfo.startCursor }, as(me))).conversations;
    expect(rest.edges.map((e) => e.node.id)).toEqual(mine.slice(0, 1));
    expect(rest.pageInfo.hasPreviousPage).toBe(false);
  });

  const json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  it.each([
    ['a cursor that is not base64 JSON', { first: 2, after: 'abc' }],
    ['a cursor of JSON with the wrong shape', { first: 2, after: json({ id: 5 }) }],
    ['a cursor with a timestamp that is not a date', { first: 2, after: json({ t: 'yesterday', id: 'cnv_x' }) }],
    ['a cursor of JSON null', { last: 2, before: json(null) }],
    ['a cursor of a message seq', { first: 2, after: json(3) }],
    ['first: 101', { first: 101 }],
    ['first: -1', { first: -1 }],
    ['last: 101', { last: 101 }],
  ])('refuses %s with BAD_USER_INPUT', async (_name, args) => {
    const [me, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    await seedGroup(server, me, [bob]);
    expect(await errorCode(server.graphqlUrl, List, args, as(me))).toBe('BAD_USER_INPUT');
  });
});

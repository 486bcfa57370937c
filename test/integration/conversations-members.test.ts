import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { errorCode, ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUser, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const Get = graphql(`
  query ConversationsMembersGet($id: ID!) {
    conversation(id: $id) { id lastSeq members { userId role } }
  }
`);
const Messages = graphql(`
  query ConversationsMembersMessages($conversationId: ID!) {
    messages(conversationId: $conversationId, first: 50) { edges { node { id body sender { id } } } }
  }
`);
const Send = graphql(`
  mutation ConversationsMembersSend($input: SendMessageInput!) {
    sendMessage(input: $input) { id seq }
  }
`);
const AddMembers = graphql(`
  mutation ConversationsMembersAdd($conversationId: ID!, $userIds: [ID!]!, $role: MemberRole) {
    addMembers(conversationId: $conversationId, userIds: $userIds, role: $role) { id lastSeq members { userId role } }
  }
`);
const RemoveMember = graphql(`
  mutation ConversationsMembersRemove($conversationId: ID!, $userId: ID!) {
    removeMember(conversationId: $conversationId, userId: $userId) { id lastSeq members { userId } }
  }
`);
const Leave = graphql(`
  mutation ConversationsMembersLeave($conversationId: ID!) {
    leaveConversation(conversationId: $conversationId)
  }
`);
const Presence = graphql(`
  query ConversationsMembersPresence($userIds: [ID!]!, $asUserId: ID) {
    presence(userIds: $userIds, asUserId: $asUserId) { userId online lastSeenAt }
  }
`);
const Typing = graphql(`
  mutation ConversationsMembersTyping($conversationId: ID!, $typing: Boolean!) {
    sendTyping(conversationId: $conversationId, typing: $typing)
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
const events = async (conversationId: string) =>
  (await server.deps.db.prisma.conversationEvent.findMany({ where: { conversationId }, orderBy: { seq: 'asc' } })).map((e) => ({
    seq: e.seq,
    type: e.type,
    payload: e.payload,
  }));
const lastSeqOf = async (id: string) => (await server.deps.db.prisma.conversation.findUniqueOrThrow({ where: { id } })).lastSeq;
const joined = (seq: number, userId: string) => ({
  seq,
  type: 'conversation.member.joined',
  payload: { member: expect.objectContaining({ conversationId: expect.any(String), userId, role: 'MEMBER' }) },
});
const left = (seq: number, userId: string) => ({ seq, type: 'conversation.member.left', payload: { userId } });

describe('addMembers', () => {
  it('emits one member.joined event per new member with the next seq; existing members are left alone', async () => {
    const [owner, bob, carol, dave] = (await seedUsers(server, app, 4)) as [SeededUser, SeededUser, SeededUser, SeededUser];
    const id = await seedGroup(server, owner, [bob]);
    await ok(server.graphqlUrl, Send, { input: { conversationId: id, body: 'before' } }, as(owner));

    const added = (await ok(server.graphqlUrl, AddMembers, { conversationId: id, userIds: [carol.id, dave.id] }, as(owner))).addMembers;
    expect(added.lastSeq).toBe(3);
    expect(added.members.map((m) => m.userId).sort()).toEqual([owner.id, bob.id, carol.id, dave.id].sort());
    const log = await events(id);
    expect(log.map((e) => [e.seq, e.type])[0]).toEqual([1, 'conversation.message.created']);
    expect(log.slice(1)).toEqual([joined(2, carol.id), joined(3, dave.id)]);

    // Re-adding members (and the caller) changes nothing and emits nothing.
    const again = (await ok(server.graphqlUrl, AddMembers, { conversationId: id, userIds: [bob.id, carol.id, owner.id] }, as(owner))).addMembers;
    expect(again.lastSeq).toBe(3);
    expect(await events(id)).toHaveLength(3);
    const roles = await server.deps.db.prisma.membership.findMany({ where: { conversationId: id }, select: { userId: true, role: true } });
    expect(roles.find((m) => m.userId === owner.id)?.role).toBe('OWNER');
  });

  it('adds only the new user of a mixed list, with seq lastSeq + 1', async () => {
    const [owner, bob, carol] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const id = await seedGroup(server, owner, [bob]);
    const added = (await ok(server.graphqlUrl, AddMembers, { conversationId: id, userIds: [bob.id, carol.id, carol.id] }, as(owner))).addMembers;
    expect(added.lastSeq).toBe(1);
    expect(await events(id)).toEqual([joined(1, carol.id)]);
  });

  it('NOT_FOUND for an unknown user; nobody is added and no event is written', async () => {
    const [owner, bob, carol] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const id = await seedGroup(server, owner, [bob]);
    expect(await errorCode(server.graphqlUrl, AddMembers, { conversationId: id, userIds: [carol.id, 'usr_doesnotexist'] }, as(owner))).toBe('NOT_FOUND');
    expect(await server.deps.db.prisma.membership.count({ where: { conversationId: id } })).toBe(2);
    expect(await events(id)).toEqual([]);
  });
});

describe('removeMember and leaveConversation', () => {
  it('emit member.left with the next seq', async () => {
    const [owner, bob, carol] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const id = await seedGroup(server, owner, [bob, carol]);
    const removed = (await ok(server.graphqlUrl, RemoveMember, { conversationId: id, userId: bob.id }, as(owner))).removeMember;
    expect(removed.lastSeq).toBe(1);
    expect(removed.members.map((m) => m.userId).sort()).toEqual([owner.id, carol.id].sort());
    expect((await ok(server.graphqlUrl, Leave, { conversationId: id }, as(carol))).leaveConversation).toBe(true);
    expect(await events(id)).toEqual([left(1, bob.id), left(2, carol.id)]);
    expect(await lastSeqOf(id)).toBe(2);
    expect(await server.deps.db.prisma.membership.findMany({ where: { conversationId: id }, select: { userId: true } })).toEqual([{ userId: owner.id }]);
  });

  it.each([
    ['removed by the OWNER', (id: string, owner: SeededUser, bob: SeededUser) => ok(server.graphqlUrl, RemoveMember, { conversationId: id, userId: bob.id }, as(owner))],
    ['leaving', (id: string, _owner: SeededUser, bob: SeededUser) => ok(server.graphqlUrl, Leave, { conversationId: id }, as(bob))],
  ])('a member %s gets NOT_FOUND for the conversation, its messages and sendMessage; their messages remain', async (_name, removeBob) => {
    const [owner, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const id = await seedGroup(server, owner, [bob]);
    const sent = (await ok(server.graphqlUrl, Send, { input: { conversationId: id, body: 'from bob' } }, as(bob))).sendMessage;
    await removeBob(id, owner, bob);

    expect(await errorCode(server.graphqlUrl, Get, { id }, as(bob))).toBe('NOT_FOUND');
    expect(await errorCode(server.graphqlUrl, Messages, { conversationId: id }, as(bob))).toBe('NOT_FOUND');
    expect(await errorCode(server.graphqlUrl, Send, { input: { conversationId: id, body: 'still here?' } }, as(bob))).toBe('NOT_FOUND');
    expect(await lastSeqOf(id)).toBe(2);

    const remaining = (await ok(server.graphqlUrl, Messages, { conversationId: id }, as(owner))).messages.edges.map((e) => e.node);
    expect(remaining).toEqual([{ id: sent.id, body: 'from bob', sender: { id: bob.id } }]);
  });
});

describe('presence(userIds)', () => {
  it('an end user sees themselves and users they share a conversation with, all offline; others are left out', async () => {
    const [me, friend, coMember, stranger] = (await seedUsers(server, app, 4)) as [SeededUser, SeededUser, SeededUser, SeededUser];
    const foreigner = await seedUser(server, await seedApp(server));
    await seedGroup(server, me, [friend]);
    await seedGroup(server, coMember, [me]);
    await seedGroup(server, stranger, [friend]); // shares nothing with me
    const ids = [me.id, friend.id, coMember.id, stranger.id, foreigner.id, 'usr_doesnotexist', friend.id];
    const presence = (await ok(server.graphqlUrl, Presence, { userIds: ids }, as(me))).presence;
    const sorted = [...presence].sort((a, b) => a.userId.localeCompare(b.userId));
    expect(sorted).toEqual([me.id, friend.id, coMember.id].sort().map((userId) => ({ userId, online: false, lastSeenAt: null })));
  });

  it('an app server sees any user of its app, and not those of another app', async () => {
    const [a, b] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const foreigner = await seedUser(server, await seedApp(server));
    const ids = [a.id, b.id, foreigner.id, 'usr_doesnotexist'];
    const presence = (await ok(server.graphqlUrl, Presence, { userIds: ids }, { apiKey: app.apiKey })).presence;
    const sorted = [...presence].sort((x, y) => x.userId.localeCompare(y.userId));
    expect(sorted).toEqual([a.id, b.id].sort().map((userId) => ({ userId, online: false, lastSeenAt: null })));
    // Acting as a user, an app server sees what that user sees.
    const asA = (await ok(server.graphqlUrl, Presence, { userIds: ids, asUserId: a.id }, { apiKey: app.apiKey })).presence;
    expect(asA.map((p) => p.userId)).toEqual([a.id]);
  });

  it.each([
    ['an end user', (u: SeededUser) => ({ token: u.token })],
    ['an app server', () => ({ apiKey: app.apiKey })],
  ])('more than 200 ids is BAD_USER_INPUT for %s', async (_name, cred) => {
    const me = await seedUser(server, app);
    const ids = Array.from({ length: 201 }, (_, i) => `usr_${i}`);
    expect(await errorCode(server.graphqlUrl, Presence, { userIds: ids }, cred(me))).toBe('BAD_USER_INPUT');
    expect((await ok(server.graphqlUrl, Presence, { userIds: ids.slice(0, 200) }, cred(me))).presence).toEqual([]);
  });
});

describe('sendTyping', () => {
  it('is true for a MEMBER, FORBIDDEN for a READER, NOT_FOUND for a non-member; nothing is stored', async () => {
    const [owner, member, reader, outsider] = (await seedUsers(server, app, 4)) as [SeededUser, SeededUser, SeededUser, SeededUser];
    const id = await seedGroup(server, owner, [member]);
    await ok(server.graphqlUrl, AddMembers, { conversationId: id, userIds: [reader.id], role: 'READER' }, as(owner));
    const seq = await lastSeqOf(id);
    expect((await ok(server.graphqlUrl, Typing, { conversationId: id, typing: true }, as(member))).sendTyping).toBe(true);
    expect((await ok(server.graphqlUrl, Typing, { conversationId: id, typing: false }, as(owner))).sendTyping).toBe(true);
    expect(await errorCode(server.graphqlUrl, Typing, { conversationId: id, typing: true }, as(reader))).toBe('FORBIDDEN');
    expect(await errorCode(server.graphqlUrl, Typing, { conversationId: id, typing: true }, as(outsider))).toBe('NOT_FOUND');
    expect(await lastSeqOf(id)).toBe(seq);
    expect(await events(id)).toHaveLength(seq);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { errorCode, execute, ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const Send = graphql(`
  mutation MessagesSend($input: SendMessageInput!) {
    sendMessage(input: $input) { id seq body status sender { id } }
  }
`);
const Edit = graphql(`
  mutation MessagesEdit($id: ID!, $body: String!) {
    editMessage(id: $id, body: $body) { id seq body status editedAt }
  }
`);
const Delete = graphql(`
  mutation MessagesDelete($id: ID!) {
    deleteMessage(id: $id) { id seq body status deletedAt }
  }
`);
const Page = graphql(`
  query MessagesPage($conversationId: ID!, $first: Int, $after: String, $last: Int, $before: String) {
    messages(conversationId: $conversationId, first: $first, after: $after, last: $last, before: $before) {
      edges { cursor node { seq body } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`);
const Conversation = graphql(`
  query MessagesConversation($id: ID!) {
    conversation(id: $id) { id lastSeq unreadCount members { userId lastReadSeq lastDeliveredSeq } }
  }
`);
const MarkRead = graphql(`
  mutation MessagesMarkRead($conversationId: ID!, $seq: Int!) {
    markRead(conversationId: $conversationId, seq: $seq) { lastReadSeq lastDeliveredSeq }
  }
`);
const MarkDelivered = graphql(`
  mutation MessagesMarkDelivered($conversationId: ID!, $seq: Int!) {
    markDelivered(conversationId: $conversationId, seq: $seq) { lastReadSeq lastDeliveredSeq }
  }
`);

let server: TestServer;
let app: SeededApp;
let alice: SeededUser, bob: SeededUser;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
  [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
});
afterAll(() => server?.close());

describe('messages', () => {
  it('send assigns seq 1..N, edit and delete each take the next seq', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const a = { token: alice.token };
    const m1 = (await ok(server.graphqlUrl, Send, { input: { conversationId, body: 'one' } }, a)).sendMessage;
    const m2 = (await ok(server.graphqlUrl, Send, { input: { conversationId, body: 'two' } }, a)).sendMessage;
    expect([m1.seq, m2.seq]).toEqual([1, 2]);
    expect(m1.sender.id).toBe(alice.id);

    const edited = (await ok(server.graphqlUrl, Edit, { id: m1.id, body: 'one!' }, a)).editMessage;
    expect(edited).toMatchObject({ seq: 1, body: 'one!', status: 'EDITED' });
    const deleted = (await ok(server.graphqlUrl, Delete, { id: m2.id }, a)).deleteMessage;
    expect(deleted).toMatchObject({ seq: 2, body: '', status: 'DELETED' });

    const conv = (await ok(server.graphqlUrl, Conversation, { id: conversationId }, a)).conversation;
    expect(conv?.lastSeq).toBe(4);
    const events = await server.deps.db.prisma.conversationEvent.findMany({ where: { conversationId }, orderBy: { seq: 'asc' } });
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'conversation.message.created'],
      [2, 'conversation.message.created'],
      [3, 'conversation.message.updated'],
      [4, 'conversation.message.deleted'],
    ]);
    // Bob may not edit Alice's message; a deleted message cannot be edited.
    expect(await errorCode(server.graphqlUrl, Edit, { id: m1.id, body: 'x' }, { token: bob.token })).toBe('FORBIDDEN');
    expect(await errorCode(server.graphqlUrl, Edit, { id: m2.id, body: 'x' }, a)).toBe('CONFLICT');
  });

  it('pages forwards and backwards by seq', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    for (let i = 1; i <= 7; i++) await ok(server.graphqlUrl, Send, { input: { conversationId, body: `m${i}` } }, { token: alice.token });
    const b = { token: bob.token };
    const p1 = (await ok(server.graphqlUrl, Page, { conversationId, first: 3 }, b)).messages;
    expect(p1.edges.map((e) => e.node.seq)).toEqual([1, 2, 3]);
    expect(p1.pageInfo.hasNextPage).toBe(true);
    const p2 = (await ok(server.graphqlUrl, Page, { conversationId, first: 3, after: p1.pageInfo.endCursor }, b)).messages;
    expect(p2.edges.map((e) => e.node.seq)).toEqual([4, 5, 6]);
    const last = (await ok(server.graphqlUrl, Page, { conversationId, last: 2 }, b)).messages;
    expect(last.edges.map((e) => e.node.seq)).toEqual([6, 7]);
    expect(last.pageInfo.hasPreviousPage).toBe(true);
    const before = (await ok(server.graphqlUrl, Page, { conversationId, last: 2, before: last.pageInfo.startCursor }, b)).messages;
    expect(before.edges.map((e) => e.node.seq)).toEqual([4, 5]);
  });

  it('unreadCount counts others’ undeleted messages after lastReadSeq; markers only move forward', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    for (let i = 1; i <= 3; i++) await ok(server.graphqlUrl, Send, { input: { conversationId, body: `m${i}` } }, { token: alice.token });
    await ok(server.graphqlUrl, Send, { input: { conversationId, body: 'mine' } }, { token: bob.token });
    const b = { token: bob.token };
    expect((await ok(server.graphqlUrl, Conversation, { id: conversationId }, b)).conversation?.unreadCount).toBe(3);
    expect((await ok(server.graphqlUrl, MarkDelivered, { conversationId, seq: 3 }, b)).markDelivered).toEqual({ lastReadSeq: 0, lastDeliveredSeq: 3 });
    expect((await ok(server.graphqlUrl, MarkRead, { conversationId, seq: 2 }, b)).markRead).toEqual({ lastReadSeq: 2, lastDeliveredSeq: 3 });
    expect((await ok(server.graphqlUrl, MarkRead, { conversationId, seq: 1 }, b)).markRead.lastReadSeq).toBe(2);
    expect((await ok(server.graphqlUrl, Conversation, { id: conversationId }, b)).conversation?.unreadCount).toBe(1);
    expect(await errorCode(server.graphqlUrl, MarkRead, { conversationId, seq: 99 }, b)).toBe('BAD_USER_INPUT');
  });

  it('10 concurrent senders produce seq 1..N with no gap or duplicate', async () => {
    const senders = await seedUsers(server, app, 10);
    const conversationId = await seedGroup(server, alice, senders);
    const perSender = 5;
    const results = await Promise.all(
      senders.flatMap((s) =>
        Array.from({ length: perSender }, (_, i) => ok(server.graphqlUrl, Send, { input: { conversationId, body: `${s.id}-${i}` } }, { token: s.token })),
      ),
    );
    const seqs = results.map((r) => r.sendMessage.seq).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 10 * perSender }, (_, i) => i + 1));
  });

  it('20 concurrent sends with one idempotencyKey make one message and one event', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const input = { conversationId, body: 'once', idempotencyKey: 'same-key' };
    const results = await Promise.all(Array.from({ length: 20 }, () => ok(server.graphqlUrl, Send, { input }, { token: alice.token })));
    expect(new Set(results.map((r) => r.sendMessage.id)).size).toBe(1);
    expect(await server.deps.db.prisma.message.count({ where: { conversationId } })).toBe(1);
    expect(await server.deps.db.prisma.conversationEvent.count({ where: { conversationId } })).toBe(1);
    // The same key from another user is that user's own key.
    const bobs = await ok(server.graphqlUrl, Send, { input }, { token: bob.token });
    expect(bobs.sendMessage.id).not.toBe(results[0]!.sendMessage.id);
  });

  it('a body over MAX_MESSAGE_BYTES is PAYLOAD_TOO_LARGE and stores nothing', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const res = await execute(server.graphqlUrl, Send, { input: { conversationId, body: 'é'.repeat(8 * 1024 + 1) } }, { token: alice.token });
    expect(res.errors?.[0]?.extensions.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await server.deps.db.prisma.message.count({ where: { conversationId } })).toBe(0);
  });
});

describe('idempotency keys', () => {
  it('expire after 24 h: the sweeper drops old keys, and an old key no longer returns the original', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    const input = { conversationId, body: 'first', idempotencyKey: 'old-key' };
    const first = (await ok(server.graphqlUrl, Send, { input }, { token: alice.token })).sendMessage;
    const fresh = (await ok(server.graphqlUrl, Send, { input: { ...input, idempotencyKey: 'fresh-key' } }, { token: alice.token })).sendMessage;
    const prisma = server.deps.db.prisma;
    await prisma.idempotencyKey.updateMany({ where: { conversationId, key: 'old-key' }, data: { createdAt: new Date(Date.now() - 25 * 3600_000) } });

    // Past the window, the same key is a new message (the expired key is taken over).
    const again = (await ok(server.graphqlUrl, Send, { input }, { token: alice.token })).sendMessage;
    expect(again.id).not.toBe(first.id);
    expect(again.seq).toBe(3);

    await prisma.idempotencyKey.updateMany({ where: { conversationId, key: 'old-key' }, data: { createdAt: new Date(Date.now() - 25 * 3600_000) } });
    await server.node.worker!.sweepIdempotencyKeys();
    expect((await prisma.idempotencyKey.findMany({ where: { conversationId } })).map((k) => k.key)).toEqual(['fresh-key']);
    // The fresh key still returns its original.
    const retried = (await ok(server.graphqlUrl, Send, { input: { ...input, idempotencyKey: 'fresh-key' } }, { token: alice.token })).sendMessage;
    expect(retried.id).toBe(fresh.id);
  });
});

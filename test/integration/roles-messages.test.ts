import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute, ok, type GqlError } from '../helpers/client.ts';
import { acting, cast, expectRefused, lastEvent, setRole, snapshot, type Cast, type Name, type Outcome, type Snapshot, type Via } from '../helpers/roles.ts';
import { seedApp, type SeededApp } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * Who may read and write messages, one row per rule (roles.ts, message.service.ts): MEMBER
 * reads and writes, READER reads only; a sender edits and deletes their own messages;
 * OWNER/ADMIN delete (never edit) anyone's. Every row runs on a fresh cast with one message
 * from `author` in it; refused rows also prove the data is exactly as it was.
 */

const Send = graphql(`
  mutation RolesSend($input: SendMessageInput!, $asUserId: ID) {
    sendMessage(input: $input, asUserId: $asUserId) { id body status sender { id } }
  }
`);
const Edit = graphql(`
  mutation RolesEdit($id: ID!, $body: String!, $asUserId: ID) {
    editMessage(id: $id, body: $body, asUserId: $asUserId) { id body status }
  }
`);
const Delete = graphql(`
  mutation RolesDelete($id: ID!, $asUserId: ID) {
    deleteMessage(id: $id, asUserId: $asUserId) { id body status deletedAt }
  }
`);
const Typing = graphql(`
  mutation RolesTyping($conversationId: ID!, $asUserId: ID) {
    sendTyping(conversationId: $conversationId, typing: true, asUserId: $asUserId)
  }
`);
const Read = graphql(`
  query RolesMessages($conversationId: ID!, $asUserId: ID) {
    messages(conversationId: $conversationId, first: 10, asUserId: $asUserId) { edges { node { id body } } }
  }
`);
const MarkRead = graphql(`
  mutation RolesMarkRead($conversationId: ID!, $seq: Int!, $asUserId: ID) {
    markRead(conversationId: $conversationId, seq: $seq, asUserId: $asUserId) { lastReadSeq lastDeliveredSeq }
  }
`);
const MarkDelivered = graphql(`
  mutation RolesMarkDelivered($conversationId: ID!, $seq: Int!, $asUserId: ID) {
    markDelivered(conversationId: $conversationId, seq: $seq, asUserId: $asUserId) { lastReadSeq lastDeliveredSeq }
  }
`);

type Op = 'send' | 'edit' | 'delete' | 'typing' | 'read' | 'markRead' | 'markDelivered';
/** title, actor, how they call, operation, outcome, author of the message the row acts on. */
type Row = [string, Name, Via, Op, Outcome, Name?];

let server: TestServer;
let app: SeededApp;
beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
});
afterAll(() => server?.close());

/** A message from `author`; a READER is made a MEMBER for the moment it takes to send one. */
async function messageFrom(c: Cast, author: Name) {
  const reader = (await snapshot(server, c.conversationId)).members.find((m) => m.userId === c.users[author].id)?.role === 'READER';
  if (reader) await setRole(server, c, author, 'MEMBER');
  const input = { conversationId: c.conversationId, body: `from ${author}` };
  const { sendMessage } = await ok(server.graphqlUrl, Send, { input }, { token: c.users[author].token });
  if (reader) await setRole(server, c, author, 'READER');
  return sendMessage.id;
}

function run(c: Cast, actor: Name, via: Via, op: Op, messageId: string, seq: number): Promise<{ data?: unknown; errors?: GqlError[] | undefined }> {
  const { cred, asUserId } = acting(c, actor, via);
  const { conversationId } = c;
  const url = server.graphqlUrl;
  switch (op) {
    case 'send':
      return execute(url, Send, { input: { conversationId, body: 'new' }, asUserId }, cred);
    case 'edit':
      return execute(url, Edit, { id: messageId, body: 'edited', asUserId }, cred);
    case 'delete':
      return execute(url, Delete, { id: messageId, asUserId }, cred);
    case 'typing':
      return execute(url, Typing, { conversationId, asUserId }, cred);
    case 'read':
      return execute(url, Read, { conversationId, asUserId }, cred);
    case 'markRead':
      return execute(url, MarkRead, { conversationId, seq, asUserId }, cred);
    case 'markDelivered':
      return execute(url, MarkDelivered, { conversationId, seq, asUserId }, cred);
  }
}

/** What a successful row changed, and that nothing else moved. */
async function expectDone(c: Cast, actor: Name, op: Op, messageId: string, before: Snapshot, data: unknown) {
  const after = await snapshot(server, c.conversationId);
  const actorId = c.users[actor].id;
  const event = await lastEvent(server, c.conversationId);
  const row = async (id: string) => server.deps.db.prisma.message.findUniqueOrThrow({ where: { id } });
  const appended = (type: string) => {
    expect([after.lastSeq, after.events]).toEqual([before.lastSeq + 1, before.events + 1]);
    expect(event).toMatchObject({ seq: after.lastSeq, type });
  };
  const member = after.members.find((m) => m.userId === actorId)!;
  switch (op) {
    case 'send': {
      appended('conversation.message.created');
      expect(data).toMatchObject({ sendMessage: { body: 'new', status: 'SENT', sender: { id: actorId } } });
      const sent = await row((data as { sendMessage: { id: string } }).sendMessage.id);
      expect({ seq: sent.seq, senderId: sent.senderId }).toEqual({ seq: after.lastSeq, senderId: actorId });
      return;
    }
    case 'edit':
      appended('conversation.message.updated');
      expect(data).toEqual({ editMessage: { id: messageId, body: 'edited', status: 'EDITED' } });
      expect(await row(messageId)).toMatchObject({ body: 'edited', status: 'EDITED' });
      return;
    case 'delete':
      appended('conversation.message.deleted');
      expect(data).toMatchObject({ deleteMessage: { id: messageId, body: '', status: 'DELETED' } });
      expect(await row(messageId)).toMatchObject({ body: '', status: 'DELETED' });
      return;
    case 'typing':
      expect(data).toEqual({ sendTyping: true });
      break;
    case 'read':
      expect(data).toEqual({ messages: { edges: [{ node: { id: messageId, body: expect.stringMatching(/^from /) } }] } });
      break;
    case 'markRead':
      expect(data).toEqual({ markRead: { lastReadSeq: after.lastSeq, lastDeliveredSeq: after.lastSeq } });
      expect(member).toMatchObject({ lastReadSeq: after.lastSeq, lastDeliveredSeq: after.lastSeq });
      return expect(withoutMember(after, actorId)).toEqual(withoutMember(before, actorId));
    case 'markDelivered':
      expect(data).toEqual({ markDelivered: { lastReadSeq: 0, lastDeliveredSeq: after.lastSeq } });
      expect(member).toMatchObject({ lastReadSeq: 0, lastDeliveredSeq: after.lastSeq });
      return expect(withoutMember(after, actorId)).toEqual(withoutMember(before, actorId));
  }
  // Reads and typing store nothing.
  expect(after).toEqual(before);
}

/** A snapshot minus one member's row: markers move that row only. */
const withoutMember = (s: Snapshot, userId: string) => ({ ...s, members: s.members.filter((m) => m.userId !== userId) });

async function check([, actor, via, op, outcome, author = 'member2']: Row) {
  const c = await cast(server, app);
  const messageId = await messageFrom(c, author);
  const before = await snapshot(server, c.conversationId);
  const res = await run(c, actor, via, op, messageId, before.lastSeq);
  if (outcome !== 'ok') return expectRefused(server, c, before, res, outcome);
  expect(res.errors).toBeUndefined();
  await expectDone(c, actor, op, messageId, before, res.data);
}

describe('MEMBER reads and writes; READER reads only', () => {
  it.each<Row>([
    ['OWNER sends', 'owner', 'token', 'send', 'ok'],
    ['ADMIN sends', 'admin', 'token', 'send', 'ok'],
    ['MEMBER sends', 'member', 'token', 'send', 'ok'],
    ['MEMBER sends (app server as user)', 'member', 'app', 'send', 'ok'],
    ['READER cannot send', 'reader', 'token', 'send', 'FORBIDDEN'],
    ['READER cannot send (app server as user)', 'reader', 'app', 'send', 'FORBIDDEN'],
    ['READER cannot edit their own message', 'reader', 'token', 'edit', 'FORBIDDEN', 'reader'],
    ['READER cannot edit their own message (app server as user)', 'reader', 'app', 'edit', 'FORBIDDEN', 'reader'],
    ['READER cannot delete their own message', 'reader', 'token', 'delete', 'FORBIDDEN', 'reader'],
    ['READER cannot delete their own message (app server as user)', 'reader', 'app', 'delete', 'FORBIDDEN', 'reader'],
    ['MEMBER sends typing', 'member', 'token', 'typing', 'ok'],
    ['MEMBER sends typing (app server as user)', 'member', 'app', 'typing', 'ok'],
    ['READER cannot send typing', 'reader', 'token', 'typing', 'FORBIDDEN'],
    ['READER cannot send typing (app server as user)', 'reader', 'app', 'typing', 'FORBIDDEN'],
    ['MEMBER reads messages', 'member', 'token', 'read', 'ok'],
    ['READER reads messages', 'reader', 'token', 'read', 'ok'],
    ['READER reads messages (app server as user)', 'reader', 'app', 'read', 'ok'],
    ['READER marks read', 'reader', 'token', 'markRead', 'ok'],
    ['READER marks read (app server as user)', 'reader', 'app', 'markRead', 'ok'],
    ['READER marks delivered', 'reader', 'token', 'markDelivered', 'ok'],
    ['READER marks delivered (app server as user)', 'reader', 'app', 'markDelivered', 'ok'],
  ])('%s', async (...row) => check(row));
});

describe('editing and deleting messages', () => {
  it.each<Row>([
    ['MEMBER edits their own message', 'member', 'token', 'edit', 'ok', 'member'],
    ['MEMBER edits their own message (app server as user)', 'member', 'app', 'edit', 'ok', 'member'],
    ['MEMBER deletes their own message', 'member', 'token', 'delete', 'ok', 'member'],
    ['MEMBER deletes their own message (app server as user)', 'member', 'app', 'delete', 'ok', 'member'],
    ['ADMIN edits their own message', 'admin', 'token', 'edit', 'ok', 'admin'],
    ['MEMBER cannot edit another MEMBER’s message', 'member', 'token', 'edit', 'FORBIDDEN', 'member2'],
    ['MEMBER cannot delete another MEMBER’s message', 'member', 'token', 'delete', 'FORBIDDEN', 'member2'],
    ['MEMBER cannot delete an OWNER’s message (app server as user)', 'member', 'app', 'delete', 'FORBIDDEN', 'owner'],
    ['READER cannot delete a MEMBER’s message', 'reader', 'token', 'delete', 'FORBIDDEN', 'member2'],
    ['OWNER cannot edit a MEMBER’s message', 'owner', 'token', 'edit', 'FORBIDDEN', 'member2'],
    ['OWNER cannot edit an ADMIN’s message (app server as user)', 'owner', 'app', 'edit', 'FORBIDDEN', 'admin'],
    ['ADMIN cannot edit a MEMBER’s message', 'admin', 'token', 'edit', 'FORBIDDEN', 'member2'],
    ['OWNER deletes a MEMBER’s message', 'owner', 'token', 'delete', 'ok', 'member2'],
    ['OWNER deletes an ADMIN’s message (app server as user)', 'owner', 'app', 'delete', 'ok', 'admin'],
    ['ADMIN deletes a MEMBER’s message', 'admin', 'token', 'delete', 'ok', 'member2'],
    ['ADMIN deletes an OWNER’s message', 'admin', 'app', 'delete', 'ok', 'owner'],
    ['ADMIN deletes a READER’s message', 'admin', 'token', 'delete', 'ok', 'reader'],
  ])('%s', async (...row) => check(row));

  it.each<[string, Name, Via]>([
    ['the sender', 'member2', 'token'],
    ['an OWNER', 'owner', 'token'],
    ['an ADMIN (app server as user)', 'admin', 'app'],
  ])('deleting twice, by %s, returns the deleted message and adds no event', async (_name, actor, via) => {
    const c = await cast(server, app);
    const messageId = await messageFrom(c, 'member2');
    const first = await run(c, actor, via, 'delete', messageId, 0);
    expect(first.errors).toBeUndefined();
    const before = await snapshot(server, c.conversationId);
    const again = await run(c, actor, via, 'delete', messageId, 0);
    expect(again).toMatchObject({ errors: undefined, data: first.data });
    expect(again.data).toMatchObject({ deleteMessage: { id: messageId, body: '', status: 'DELETED' } });
    expect(await snapshot(server, c.conversationId)).toEqual(before);
  });

  it('concurrent deletes and edits of one message: one delete event, the message is never revived', async () => {
    const c = await cast(server, app);
    const messageId = await messageFrom(c, 'member2');
    const before = await snapshot(server, c.conversationId);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        i % 2 === 0 ? run(c, 'owner', 'token', 'delete', messageId, 0) : run(c, 'member2', 'token', 'edit', messageId, 0),
      ),
    );
    // Every delete succeeds; an edit lands before the first delete or is a CONFLICT.
    const edits = results.filter((_, i) => i % 2 === 1);
    expect(results.filter((_, i) => i % 2 === 0).every((r) => r.errors === undefined)).toBe(true);
    for (const r of edits) if (r.errors) expect(r.errors.map((e) => e.extensions.code)).toEqual(['CONFLICT']);
    const landed = edits.filter((r) => r.errors === undefined).length;

    const after = await snapshot(server, c.conversationId);
    const log = await server.deps.db.prisma.conversationEvent.findMany({ where: { conversationId: c.conversationId }, orderBy: { seq: 'asc' } });
    expect(log.map((e) => e.seq)).toEqual(Array.from({ length: after.lastSeq }, (_, i) => i + 1));
    expect(log.slice(before.lastSeq).map((e) => e.type)).toEqual([
      ...Array.from({ length: landed }, () => 'conversation.message.updated'),
      'conversation.message.deleted',
    ]);
    expect(after.messages.find((m) => m.id === messageId)).toMatchObject({ body: '', status: 'DELETED' });
  });
});

describe('a user of the app who is not a member', () => {
  it.each<Row>([
    ['cannot send', 'newcomer', 'token', 'send', 'NOT_FOUND'],
    ['cannot edit', 'newcomer', 'app', 'edit', 'NOT_FOUND'],
    ['cannot delete', 'newcomer', 'token', 'delete', 'NOT_FOUND'],
    ['cannot send typing', 'newcomer', 'token', 'typing', 'NOT_FOUND'],
    ['cannot read messages', 'newcomer', 'app', 'read', 'NOT_FOUND'],
    ['cannot mark read', 'newcomer', 'token', 'markRead', 'NOT_FOUND'],
    ['cannot mark delivered', 'newcomer', 'token', 'markDelivered', 'NOT_FOUND'],
  ])('%s: NOT_FOUND, and nothing changes', async (...row) => check(row));
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import type { MemberRole } from '../generated/graphql.ts';
import { execute, type GqlError } from '../helpers/client.ts';
import { acting, cast, expectRefused, lastEvent, setRole, snapshot, type Cast, type Name, type Outcome, type Via } from '../helpers/roles.ts';
import { seedApp, seedGroup, type SeededApp } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * Member and role management, one row per rule (src/modules/conversation/roles.ts). Every
 * row runs on a fresh cast; refused rows also prove the data is exactly as it was.
 */

const AddMembers = graphql(`
  mutation RolesAddMembers($conversationId: ID!, $userIds: [ID!]!, $role: MemberRole, $asUserId: ID) {
    addMembers(conversationId: $conversationId, userIds: $userIds, role: $role, asUserId: $asUserId) { id lastSeq }
  }
`);
const RemoveMember = graphql(`
  mutation RolesRemoveMember($conversationId: ID!, $userId: ID!, $asUserId: ID) {
    removeMember(conversationId: $conversationId, userId: $userId, asUserId: $asUserId) { id lastSeq }
  }
`);
const Leave = graphql(`
  mutation RolesLeave($conversationId: ID!, $asUserId: ID) {
    leaveConversation(conversationId: $conversationId, asUserId: $asUserId)
  }
`);
const UpdateRole = graphql(`
  mutation RolesUpdateMemberRole($conversationId: ID!, $userId: ID!, $role: MemberRole!, $asUserId: ID) {
    updateMemberRole(conversationId: $conversationId, userId: $userId, role: $role, asUserId: $asUserId) { userId role }
  }
`);

type Op =
  | { op: 'add'; target: Name; role: MemberRole }
  | { op: 'remove'; target: Name }
  | { op: 'leave' }
  | { op: 'setRole'; target: Name; role: MemberRole };

/** Set-ups a few rows need before the snapshot is taken. */
const setups = {
  none: async () => {},
  /** owner2 becomes a second OWNER. */
  coOwner: (c: Cast) => setRole(server, c, 'owner2', 'OWNER'),
  /** The owner is alone in a conversation of their own. */
  alone: async (c: Cast) => {
    c.conversationId = await seedGroup(server, c.users.owner, []);
  },
};
type Setup = keyof typeof setups;
type Row = [string, Name, Via, Op, Outcome, Setup?];

let server: TestServer;
let app: SeededApp;
beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
});
afterAll(() => server?.close());

function run(c: Cast, actor: Name, via: Via, op: Op): Promise<{ errors?: GqlError[] | undefined }> {
  const { cred, asUserId } = acting(c, actor, via);
  const conversationId = c.conversationId;
  const url = server.graphqlUrl;
  switch (op.op) {
    case 'add':
      return execute(url, AddMembers, { conversationId, userIds: [c.users[op.target].id], role: op.role, asUserId }, cred);
    case 'remove':
      return execute(url, RemoveMember, { conversationId, userId: c.users[op.target].id, asUserId }, cred);
    case 'leave':
      return execute(url, Leave, { conversationId, asUserId }, cred);
    case 'setRole':
      return execute(url, UpdateRole, { conversationId, userId: c.users[op.target].id, role: op.role, asUserId }, cred);
  }
}

/** What a successful row changed: the member it touched, and the one event it appended (if any). */
async function expectDone(c: Cast, actor: Name, op: Op, before: Awaited<ReturnType<typeof snapshot>>) {
  const after = await snapshot(server, c.conversationId);
  const target = c.users[op.op === 'leave' ? actor : op.target].id;
  const role = after.members.find((m) => m.userId === target)?.role ?? null;
  const event = await lastEvent(server, c.conversationId);
  if (op.op === 'setRole') {
    expect(role).toBe(op.role);
    expect([after.lastSeq, after.events]).toEqual([before.lastSeq, before.events]);
    return;
  }
  expect([after.lastSeq, after.events]).toEqual([before.lastSeq + 1, before.events + 1]);
  if (op.op === 'add') {
    expect(role).toBe(op.role);
    expect(event).toMatchObject({ seq: after.lastSeq, type: 'conversation.member.joined', payload: { member: { userId: target, role: op.role } } });
  } else {
    expect(role).toBeNull();
    expect(event).toMatchObject({ seq: after.lastSeq, type: 'conversation.member.left', payload: { userId: target } });
  }
  // Nobody else's membership moved.
  const untouched = (s: typeof before) => s.members.filter((m) => m.userId !== target);
  expect(untouched(after)).toEqual(untouched(before));
}

async function check([, actor, via, op, outcome, setup = 'none']: Row) {
  const c = await cast(server, app);
  await setups[setup](c);
  const before = await snapshot(server, c.conversationId);
  const res = await run(c, actor, via, op);
  if (outcome !== 'ok') return expectRefused(server, c, before, res, outcome);
  expect(res.errors).toBeUndefined();
  await expectDone(c, actor, op, before);
}

describe('who manages members and roles', () => {
  it.each<Row>([
    ['OWNER adds a member', 'owner', 'token', { op: 'add', target: 'newcomer', role: 'MEMBER' }, 'ok'],
    ['ADMIN adds a member', 'admin', 'app', { op: 'add', target: 'newcomer', role: 'MEMBER' }, 'ok'],
    ['MEMBER cannot add members', 'member', 'token', { op: 'add', target: 'newcomer', role: 'MEMBER' }, 'FORBIDDEN'],
    ['MEMBER cannot add members (app server as user)', 'member', 'app', { op: 'add', target: 'newcomer', role: 'READER' }, 'FORBIDDEN'],
    ['READER cannot add members', 'reader', 'token', { op: 'add', target: 'newcomer', role: 'MEMBER' }, 'FORBIDDEN'],
    ['OWNER removes a MEMBER', 'owner', 'app', { op: 'remove', target: 'member2' }, 'ok'],
    ['ADMIN removes a MEMBER', 'admin', 'token', { op: 'remove', target: 'member2' }, 'ok'],
    ['MEMBER cannot remove another MEMBER', 'member', 'token', { op: 'remove', target: 'member2' }, 'FORBIDDEN'],
    ['MEMBER cannot remove a READER (app server as user)', 'member', 'app', { op: 'remove', target: 'reader' }, 'FORBIDDEN'],
    ['READER cannot remove a MEMBER', 'reader', 'token', { op: 'remove', target: 'member2' }, 'FORBIDDEN'],
    ['OWNER changes a role', 'owner', 'token', { op: 'setRole', target: 'member2', role: 'READER' }, 'ok'],
    ['ADMIN changes a role', 'admin', 'app', { op: 'setRole', target: 'member2', role: 'READER' }, 'ok'],
    ['MEMBER cannot change a role', 'member', 'token', { op: 'setRole', target: 'member2', role: 'READER' }, 'FORBIDDEN'],
    ['MEMBER cannot promote themselves', 'member', 'app', { op: 'setRole', target: 'member', role: 'ADMIN' }, 'FORBIDDEN'],
    ['READER cannot change a role', 'reader', 'token', { op: 'setRole', target: 'member2', role: 'READER' }, 'FORBIDDEN'],
    ['READER cannot promote themselves', 'reader', 'token', { op: 'setRole', target: 'reader', role: 'MEMBER' }, 'FORBIDDEN'],
  ])('%s', async (...row) => check(row));
});

describe('what an ADMIN may do, and an OWNER beyond it', () => {
  it.each<Row>([
    ['ADMIN adds as READER', 'admin', 'token', { op: 'add', target: 'newcomer', role: 'READER' }, 'ok'],
    ['ADMIN adds as ADMIN', 'admin', 'token', { op: 'add', target: 'newcomer', role: 'ADMIN' }, 'ok'],
    ['ADMIN cannot add as OWNER', 'admin', 'token', { op: 'add', target: 'newcomer', role: 'OWNER' }, 'FORBIDDEN'],
    ['ADMIN cannot add as OWNER (app server as user)', 'admin', 'app', { op: 'add', target: 'newcomer', role: 'OWNER' }, 'FORBIDDEN'],
    ['OWNER adds as OWNER', 'owner', 'app', { op: 'add', target: 'newcomer', role: 'OWNER' }, 'ok'],
    ['OWNER adds as ADMIN', 'owner', 'token', { op: 'add', target: 'newcomer', role: 'ADMIN' }, 'ok'],
    ['ADMIN removes a READER', 'admin', 'token', { op: 'remove', target: 'reader' }, 'ok'],
    ['ADMIN cannot remove another ADMIN', 'admin', 'token', { op: 'remove', target: 'admin2' }, 'FORBIDDEN'],
    ['ADMIN cannot remove an OWNER', 'admin', 'app', { op: 'remove', target: 'owner' }, 'FORBIDDEN'],
    ['OWNER removes an ADMIN', 'owner', 'token', { op: 'remove', target: 'admin' }, 'ok'],
    ['OWNER removes another OWNER', 'owner', 'token', { op: 'remove', target: 'owner2' }, 'ok', 'coOwner'],
    ['ADMIN grants ADMIN to a MEMBER', 'admin', 'token', { op: 'setRole', target: 'member', role: 'ADMIN' }, 'ok'],
    ['ADMIN makes a READER a MEMBER', 'admin', 'token', { op: 'setRole', target: 'reader', role: 'MEMBER' }, 'ok'],
    ['ADMIN cannot promote a MEMBER to OWNER', 'admin', 'token', { op: 'setRole', target: 'member', role: 'OWNER' }, 'FORBIDDEN'],
    ['ADMIN cannot promote themselves to OWNER', 'admin', 'app', { op: 'setRole', target: 'admin', role: 'OWNER' }, 'FORBIDDEN'],
    ['ADMIN cannot change another ADMIN', 'admin', 'token', { op: 'setRole', target: 'admin2', role: 'MEMBER' }, 'FORBIDDEN'],
    ['ADMIN cannot change an OWNER', 'admin', 'token', { op: 'setRole', target: 'owner', role: 'ADMIN' }, 'FORBIDDEN'],
    ['ADMIN may step down to MEMBER', 'admin', 'token', { op: 'setRole', target: 'admin', role: 'MEMBER' }, 'ok'],
    ['OWNER promotes a MEMBER to OWNER', 'owner', 'token', { op: 'setRole', target: 'member', role: 'OWNER' }, 'ok'],
    ['OWNER demotes an ADMIN to READER', 'owner', 'app', { op: 'setRole', target: 'admin', role: 'READER' }, 'ok'],
    ['OWNER demotes another OWNER', 'owner', 'token', { op: 'setRole', target: 'owner2', role: 'MEMBER' }, 'ok', 'coOwner'],
  ])('%s', async (...row) => check(row));
});

describe('leaving, and the last OWNER', () => {
  it.each<Row>([
    ['MEMBER leaves', 'member', 'token', { op: 'leave' }, 'ok'],
    ['READER leaves', 'reader', 'app', { op: 'leave' }, 'ok'],
    ['ADMIN leaves', 'admin', 'token', { op: 'leave' }, 'ok'],
    ['MEMBER removes themselves', 'member', 'app', { op: 'remove', target: 'member' }, 'ok'],
    ['READER removes themselves', 'reader', 'token', { op: 'remove', target: 'reader' }, 'ok'],
    ['ADMIN removes themselves', 'admin', 'token', { op: 'remove', target: 'admin' }, 'ok'],
    ['the last OWNER cannot leave while others remain', 'owner', 'token', { op: 'leave' }, 'CONFLICT'],
    ['the last OWNER cannot leave (app server as user)', 'owner', 'app', { op: 'leave' }, 'CONFLICT'],
    ['the last OWNER cannot remove themselves', 'owner', 'token', { op: 'remove', target: 'owner' }, 'CONFLICT'],
    ['the only OWNER cannot step down to ADMIN', 'owner', 'token', { op: 'setRole', target: 'owner', role: 'ADMIN' }, 'CONFLICT'],
    ['the only OWNER cannot step down (app server as user)', 'owner', 'app', { op: 'setRole', target: 'owner', role: 'READER' }, 'CONFLICT'],
    ['an OWNER with another OWNER leaves', 'owner', 'token', { op: 'leave' }, 'ok', 'coOwner'],
    ['an OWNER with another OWNER steps down', 'owner', 'token', { op: 'setRole', target: 'owner', role: 'ADMIN' }, 'ok', 'coOwner'],
    ['the other OWNER removes the first', 'owner2', 'app', { op: 'remove', target: 'owner' }, 'ok', 'coOwner'],
    ['a sole OWNER with nobody else leaves', 'owner', 'token', { op: 'leave' }, 'ok', 'alone'],
  ])('%s', async (...row) => check(row));

  it('the last OWNER leaves after making another member OWNER, who then manages the conversation', async () => {
    const c = await cast(server, app);
    const before = await snapshot(server, c.conversationId);
    await expectRefused(server, c, before, await run(c, 'owner', 'token', { op: 'leave' }), 'CONFLICT');
    expect((await run(c, 'owner', 'token', { op: 'setRole', target: 'member', role: 'OWNER' })).errors).toBeUndefined();
    expect((await run(c, 'owner', 'token', { op: 'leave' })).errors).toBeUndefined();
    const after = await snapshot(server, c.conversationId);
    expect(after.members.filter((m) => m.role === 'OWNER').map((m) => m.userId)).toEqual([c.users.member.id]);
    expect((await run(c, 'member', 'token', { op: 'add', target: 'newcomer', role: 'ADMIN' })).errors).toBeUndefined();
  });
});

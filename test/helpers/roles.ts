import { expect } from 'vitest';
import { graphql } from '../generated/index.ts';
import type { MemberRole } from '../generated/graphql.ts';
import { ok, type Credential, type GqlError } from './client.ts';
import { seedGroup, seedUsers, type SeededApp, type SeededUser } from './seed.ts';
import type { TestServer } from './server.ts';

const SetRole = graphql(`
  mutation RolesCastSetRole($conversationId: ID!, $userId: ID!, $role: MemberRole!) {
    updateMemberRole(conversationId: $conversationId, userId: $userId, role: $role) { role }
  }
`);
const AddAs = graphql(`
  mutation RolesCastAdd($conversationId: ID!, $userIds: [ID!]!, $role: MemberRole!) {
    addMembers(conversationId: $conversationId, userIds: $userIds, role: $role) { id }
  }
`);

/** The people of a role test: one of each role, spares to act on, and a user of the app who is not a member. */
export const castNames = ['owner', 'owner2', 'admin', 'admin2', 'member', 'member2', 'reader', 'newcomer'] as const;
export type Name = (typeof castNames)[number];
export type Cast = { app: SeededApp; users: Record<Name, SeededUser>; conversationId: string };

/**
 * Fresh users of `app` in a new GROUP conversation with every role in it (owner2 starts as
 * a MEMBER until a test makes them OWNER). Joining takes seqs 1-3, so lastSeq starts at 3.
 */
export async function cast(server: TestServer, app: SeededApp): Promise<Cast> {
  const seeded = await seedUsers(server, app, castNames.length);
  const users = Object.fromEntries(castNames.map((name, i) => [name, seeded[i]!])) as Record<Name, SeededUser>;
  const conversationId = await seedGroup(server, users.owner, [users.owner2, users.member, users.member2]);
  const owner = { token: users.owner.token };
  await ok(server.graphqlUrl, AddAs, { conversationId, userIds: [users.admin.id, users.admin2.id], role: 'ADMIN' }, owner);
  await ok(server.graphqlUrl, AddAs, { conversationId, userIds: [users.reader.id], role: 'READER' }, owner);
  return { app, users, conversationId };
}

/** Makes `name` have `role`, through the OWNER, as a test's setup. */
export async function setRole(server: TestServer, c: Cast, name: Name, role: MemberRole) {
  await ok(server.graphqlUrl, SetRole, { conversationId: c.conversationId, userId: c.users[name].id, role }, { token: c.users.owner.token });
}

/** How a row calls: with the user's own token, or as their app's server acting through asUserId. */
export type Via = 'token' | 'app';
export function acting(c: Cast, name: Name, via: Via): { cred: Credential; asUserId?: string } {
  const user = c.users[name];
  return via === 'token' ? { cred: { token: user.token } } : { cred: { apiKey: c.app.apiKey }, asUserId: user.id };
}

/** Everything a refused operation must leave as it was. */
export async function snapshot(server: TestServer, conversationId: string) {
  const { prisma } = server.deps.db;
  const conversation = await prisma.conversation.findUniqueOrThrow({ where: { id: conversationId } });
  return {
    lastSeq: conversation.lastSeq,
    lastEventAt: conversation.lastEventAt.toISOString(),
    events: await prisma.conversationEvent.count({ where: { conversationId } }),
    members: await prisma.membership.findMany({
      where: { conversationId },
      orderBy: { userId: 'asc' },
      select: { userId: true, role: true, lastReadSeq: true, lastDeliveredSeq: true },
    }),
    messages: await prisma.message.findMany({
      where: { conversationId },
      orderBy: { seq: 'asc' },
      select: { id: true, seq: true, body: true, status: true, editedAt: true, deletedAt: true },
    }),
  };
}
export type Snapshot = Awaited<ReturnType<typeof snapshot>>;

/** The outcome a row expects: success, or one error code and the data left exactly as it was. */
export type Outcome = 'ok' | 'FORBIDDEN' | 'NOT_FOUND' | 'CONFLICT';

export async function expectRefused(server: TestServer, c: Cast, before: Snapshot, res: { errors?: GqlError[] | undefined }, code: Outcome) {
  expect(res.errors?.map((e) => e.extensions.code)).toEqual([code]);
  expect(await snapshot(server, c.conversationId)).toEqual(before);
}

/** The last event of the conversation, to check the one a successful write appended. */
export async function lastEvent(server: TestServer, conversationId: string) {
  return server.deps.db.prisma.conversationEvent.findFirst({ where: { conversationId }, orderBy: { seq: 'desc' } });
}

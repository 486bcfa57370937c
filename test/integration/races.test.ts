import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationStore } from '../../src/modules/conversation/conversation.store.ts';
import { LIMIT_NAMES } from '../../src/modules/tenant/plans.ts';
import { graphql } from '../generated/index.ts';
import { errorCode, execute, ok } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// Requests that race each other, or a change that lands between a check and a write: each
// ends in success or a contract error, never INTERNAL, and no write is lost.

const Upsert = graphql(`
  mutation RacesUpsertUser($input: UpsertUserInput!) { upsertUser(input: $input) { id externalId displayName metadata } }
`);
const Send = graphql(`mutation RacesSend($input: SendMessageInput!) { sendMessage(input: $input) { id seq } }`);
const MarkRead = graphql(`
  mutation RacesMarkRead($conversationId: ID!, $seq: Int!) { markRead(conversationId: $conversationId, seq: $seq) { userId lastReadSeq } }
`);
const MarkDelivered = graphql(`
  mutation RacesMarkDelivered($conversationId: ID!, $seq: Int!) {
    markDelivered(conversationId: $conversationId, seq: $seq) { userId lastDeliveredSeq }
  }
`);
const Remove = graphql(`
  mutation RacesRemoveMember($conversationId: ID!, $userId: ID!) { removeMember(conversationId: $conversationId, userId: $userId) { id } }
`);
const UpdateTenant = graphql(`
  mutation RacesUpdateTenant($id: ID!, $input: UpdateTenantInput!) {
    updateTenant(id: $id, input: $input) { id plan limits { requestsPerMinute } }
  }
`);

let server: TestServer;
let app: SeededApp;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
});
afterAll(() => server?.close());

/**
 * Replaces one conversation-store function while `fn` runs: the services call the store
 * through this object, so a wrapper can make a race land at an exact point.
 */
async function intercept<K extends keyof ConversationStore>(name: K, wrap: (original: ConversationStore[K]) => ConversationStore[K], fn: () => Promise<void>) {
  const store = server.deps.services.stores.conversations;
  const original = store[name];
  store[name] = wrap(original.bind(store) as ConversationStore[K]);
  try {
    await fn();
  } finally {
    store[name] = original;
  }
}

describe('upsertUser', () => {
  it('30 concurrent upserts of one new externalId all succeed with the same user, stored once', async () => {
    const externalId = `racer-${Date.now()}`;
    const results = await Promise.all(
      Array.from({ length: 30 }, () => execute(server.graphqlUrl, Upsert, { input: { externalId } }, { apiKey: app.apiKey })),
    );
    expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);
    const ids = new Set(results.map((r) => r.data!.upsertUser.id));
    expect(ids.size).toBe(1);
    const rows = await server.deps.db.prisma.user.findMany({ where: { appId: app.appId, externalId } });
    expect(rows.map((r) => r.id)).toEqual([...ids]);
  });

  it('an update leaves absent fields as they are; null clears displayName', async () => {
    const cred = { apiKey: app.apiKey };
    const externalId = `keeper-${Date.now()}`;
    const created = await ok(server.graphqlUrl, Upsert, { input: { externalId, displayName: 'Kept', metadata: { a: 1 } } }, cred);
    const same = await ok(server.graphqlUrl, Upsert, { input: { externalId } }, cred);
    expect(same.upsertUser).toEqual(created.upsertUser);
    const renamed = await ok(server.graphqlUrl, Upsert, { input: { externalId, displayName: 'New' } }, cred);
    expect(renamed.upsertUser).toEqual({ ...created.upsertUser, displayName: 'New' });
    const remeta = await ok(server.graphqlUrl, Upsert, { input: { externalId, metadata: { b: [2] } } }, cred);
    expect(remeta.upsertUser).toEqual({ ...created.upsertUser, displayName: 'New', metadata: { b: [2] } });
    const cleared = await ok(server.graphqlUrl, Upsert, { input: { externalId, displayName: null } }, cred);
    expect(cleared.upsertUser).toEqual({ ...created.upsertUser, displayName: null, metadata: { b: [2] } });
  });
});

describe('markRead / markDelivered', () => {
  let alice: SeededUser, bob: SeededUser;
  beforeAll(async () => {
    [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
  });

  type Marks = { conversationId: string; seq: number };
  it.each([
    ['markRead', (v: Marks, token: string) => errorCode(server.graphqlUrl, MarkRead, v, { token })],
    ['markDelivered', (v: Marks, token: string) => errorCode(server.graphqlUrl, MarkDelivered, v, { token })],
  ] as const)('%s by a member removed between the access check and the write → NOT_FOUND, no membership comes back', async (_op, mark) => {
    const conversationId = await seedGroup(server, alice, [bob]);
    await ok(server.graphqlUrl, Send, { input: { conversationId, body: 'hi' } }, { token: alice.token });
    // The removal commits after markRead found bob a member, just before it moves his markers.
    await intercept(
      'advanceMarkers',
      (advance) => async (...args) => {
        await ok(server.graphqlUrl, Remove, { conversationId, userId: bob.id }, { token: alice.token });
        return advance(...args);
      },
      async () => {
        expect(await mark({ conversationId, seq: 1 }, bob.token)).toBe('NOT_FOUND');
      },
    );
    expect(await server.deps.db.prisma.membership.count({ where: { conversationId, userId: bob.id } })).toBe(0);
  });

  it('a read receipt that fails to publish does not fail markRead: the marker is stored', async () => {
    const conversationId = await seedGroup(server, alice, [bob]);
    await ok(server.graphqlUrl, Send, { input: { conversationId, body: 'hi' } }, { token: alice.token });
    // Publishing reads the members to fan out to: make that fail.
    await intercept(
      'memberIds',
      () => () => Promise.reject(new Error('bus down')),
      async () => {
        const res = await ok(server.graphqlUrl, MarkRead, { conversationId, seq: 1 }, { token: bob.token });
        expect(res.markRead).toEqual({ userId: bob.id, lastReadSeq: 1 });
      },
    );
    const member = await server.deps.db.prisma.membership.findFirstOrThrow({ where: { conversationId, userId: bob.id } });
    expect(member).toMatchObject({ lastReadSeq: 1, lastDeliveredSeq: 1 });
  });
});

describe('updateTenant', () => {
  it('6 concurrent updates, each setting a different limit → all 6 overrides are kept', async () => {
    const { tenantId } = await seedApp(server, { plan: 'FREE' });
    const admin = { token: server.adminToken };
    const value = (i: number) => 1000 + i;
    const results = await Promise.all(
      LIMIT_NAMES.map((name, i) => execute(server.graphqlUrl, UpdateTenant, { id: tenantId, input: { limits: { [name]: value(i) } } }, admin)),
    );
    expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);
    const tenant = await server.deps.db.prisma.tenant.findUniqueOrThrow({ where: { id: tenantId } });
    expect(tenant.limits).toEqual(Object.fromEntries(LIMIT_NAMES.map((name, i) => [name, value(i)])));

    // And concurrently: half return to the plan default, a plan change, the rest change again.
    const second = await Promise.all([
      ...LIMIT_NAMES.map((name, i) =>
        execute(server.graphqlUrl, UpdateTenant, { id: tenantId, input: { limits: { [name]: i % 2 === 0 ? null : value(i) + 1 } } }, admin),
      ),
      execute(server.graphqlUrl, UpdateTenant, { id: tenantId, input: { plan: 'PRO' } }, admin),
    ]);
    expect(second.flatMap((r) => r.errors ?? [])).toEqual([]);
    const after = await server.deps.db.prisma.tenant.findUniqueOrThrow({ where: { id: tenantId } });
    expect(after.plan).toBe('PRO');
    expect(after.limits).toEqual(Object.fromEntries(LIMIT_NAMES.flatMap((name, i) => (i % 2 === 0 ? [] : [[name, value(i) + 1]]))));
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute, ok, type GqlError, type GqlResponse } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUser, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// Plan limits (issue 5, item 5): maxApps per tenant, maxUsersPerApp, maxMembersPerConversation
// from the tenant's effective limits, lowered here with the operator's updateTenant(limits);
// message size and attachments per message. Over a limit: FORBIDDEN naming the limit, with
// extensions { limit, max }, and nothing written.

const CreateTenant = graphql(`mutation PlanCreateTenant($input: CreateTenantInput!) { createTenant(input: $input) { id } }`);
const UpdateLimits = graphql(`
  mutation PlanUpdateLimits($id: ID!, $limits: TenantLimitsInput!) {
    updateTenant(id: $id, input: { limits: $limits }) { id limits { maxApps maxUsersPerApp maxMembersPerConversation } }
  }
`);
const CreateApp = graphql(`mutation PlanCreateApp($input: CreateAppInput!) { createApp(input: $input) { id tenantId name } }`);
const CreateKey = graphql(`mutation PlanCreateKey($appId: ID!) { createApiKey(appId: $appId) { key } }`);
const Upsert = graphql(`
  mutation PlanUpsertUser($input: UpsertUserInput!) { upsertUser(input: $input) { id externalId displayName } }
`);
const CreateConversation = graphql(`
  mutation PlanCreateConversation($input: CreateConversationInput!) { createConversation(input: $input) { id members { userId } } }
`);
const AddMembers = graphql(`
  mutation PlanAddMembers($conversationId: ID!, $userIds: [ID!]!) {
    addMembers(conversationId: $conversationId, userIds: $userIds) { id lastSeq members { userId } }
  }
`);
const AddMembersAs = graphql(`
  mutation PlanAddMembersAs($conversationId: ID!, $userIds: [ID!]!, $asUserId: ID) {
    addMembers(conversationId: $conversationId, userIds: $userIds, asUserId: $asUserId) { id }
  }
`);
const RemoveMember = graphql(`
  mutation PlanRemoveMember($conversationId: ID!, $userId: ID!) {
    removeMember(conversationId: $conversationId, userId: $userId) { id members { userId } }
  }
`);
const Send = graphql(`mutation PlanSend($input: SendMessageInput!) { sendMessage(input: $input) { id seq attachments { url } } }`);

let server: TestServer;
let admin: { token: string };

beforeAll(async () => {
  server = await startServer();
  admin = { token: server.adminToken };
});
afterAll(() => server?.close());

const db = () => server.deps.db.prisma;
const setLimits = (tenantId: string, limits: Record<string, number | null>) =>
  ok(server.graphqlUrl, UpdateLimits, { id: tenantId, limits }, admin);
const as = (u: SeededUser) => ({ token: u.token });

/** The one error of a refused request: FORBIDDEN naming the limit, with { limit, max }. */
function expectOverLimit(res: GqlResponse<unknown>, limit: string, max: number): GqlError {
  expect(res.errors?.map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
  const error = res.errors![0]!;
  expect(error.extensions).toMatchObject({ code: 'FORBIDDEN', limit, max, requestId: expect.any(String) });
  expect(error.message).toContain(limit);
  expect(error.message).toContain(String(max));
  expect(res.status).toBe(200);
  return error;
}

describe('maxApps', () => {
  const newTenant = async (plan: 'FREE' | 'PRO' = 'PRO') =>
    (await ok(server.graphqlUrl, CreateTenant, { input: { name: `plan-${Math.random().toString(36).slice(2)}`, plan } }, admin)).createTenant.id;
  const createApp = (tenantId: string, name: string) => execute(server.graphqlUrl, CreateApp, { input: { tenantId, name } }, admin);
  const appCount = (tenantId: string) => db().app.count({ where: { tenantId } });

  it('the app that reaches the limit is created, the next is refused and stored nowhere; raising the limit lets creation go on', async () => {
    const tenantId = await newTenant();
    await setLimits(tenantId, { maxApps: 2 });
    expect((await ok(server.graphqlUrl, CreateApp, { input: { tenantId, name: 'one' } }, admin)).createApp.tenantId).toBe(tenantId);
    expect((await ok(server.graphqlUrl, CreateApp, { input: { tenantId, name: 'two' } }, admin)).createApp.tenantId).toBe(tenantId);

    const refused = await createApp(tenantId, 'three');
    expectOverLimit(refused, 'maxApps', 2);
    expect(refused.data?.createApp ?? null).toBeNull();
    expect(await appCount(tenantId)).toBe(2);
    expect(await db().app.count({ where: { tenantId, name: 'three' } })).toBe(0);

    await setLimits(tenantId, { maxApps: 3 });
    expect((await ok(server.graphqlUrl, CreateApp, { input: { tenantId, name: 'three' } }, admin)).createApp.name).toBe('three');
    expectOverLimit(await createApp(tenantId, 'four'), 'maxApps', 3);
    expect(await appCount(tenantId)).toBe(3);
  });

  it("the plan's own maxApps applies when nothing overrides it (FREE: 2), and again after an override is set back to null", async () => {
    const tenantId = await newTenant('FREE');
    await ok(server.graphqlUrl, CreateApp, { input: { tenantId, name: 'a' } }, admin);
    await ok(server.graphqlUrl, CreateApp, { input: { tenantId, name: 'b' } }, admin);
    expectOverLimit(await createApp(tenantId, 'c'), 'maxApps', 2);
    await setLimits(tenantId, { maxApps: 3 });
    await ok(server.graphqlUrl, CreateApp, { input: { tenantId, name: 'c' } }, admin);
    await setLimits(tenantId, { maxApps: null });
    expectOverLimit(await createApp(tenantId, 'd'), 'maxApps', 2);
    expect(await appCount(tenantId)).toBe(3);
  });

  it('8 concurrent createApp with maxApps 3 create exactly 3 apps; the other 5 are refused', async () => {
    const tenantId = await newTenant();
    await setLimits(tenantId, { maxApps: 3 });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => createApp(tenantId, `concurrent-${i}`)));
    const created = results.filter((r) => r.data?.createApp);
    expect(created).toHaveLength(3);
    for (const r of results.filter((r) => r.errors)) expectOverLimit(r, 'maxApps', 3);
    expect(await appCount(tenantId)).toBe(3);
    expect((await db().app.findMany({ where: { tenantId } })).map((a) => a.id).sort()).toEqual(created.map((r) => r.data!.createApp.id).sort());
  });

  it("one tenant's limit does not count another tenant's apps", async () => {
    const full = await newTenant();
    const other = await newTenant();
    await setLimits(full, { maxApps: 1 });
    await setLimits(other, { maxApps: 1 });
    await ok(server.graphqlUrl, CreateApp, { input: { tenantId: full, name: 'only' } }, admin);
    expect((await ok(server.graphqlUrl, CreateApp, { input: { tenantId: other, name: 'only' } }, admin)).createApp.tenantId).toBe(other);
  });
});

describe('maxUsersPerApp', () => {
  const upsert = (app: SeededApp, externalId: string, displayName?: string) =>
    execute(server.graphqlUrl, Upsert, { input: { externalId, ...(displayName !== undefined ? { displayName } : {}) } }, { apiKey: app.apiKey });
  const userCount = (app: SeededApp) => db().user.count({ where: { appId: app.appId } });

  it('the user that reaches the limit is created, the next is refused; existing users still upsert; raising the limit lets creation go on', async () => {
    const app = await seedApp(server);
    await setLimits(app.tenantId, { maxUsersPerApp: 3 });
    const ids: string[] = [];
    for (const externalId of ['u1', 'u2', 'u3']) {
      const res = await upsert(app, externalId, externalId);
      expect(res.errors).toBeUndefined();
      ids.push(res.data!.upsertUser.id);
    }

    const refused = await upsert(app, 'u4', 'Fourth');
    expectOverLimit(refused, 'maxUsersPerApp', 3);
    expect(await userCount(app)).toBe(3);
    expect(await db().user.count({ where: { appId: app.appId, externalId: 'u4' } })).toBe(0);

    // At the limit, an upsert of an existing externalId creates nothing and is not refused.
    const renamed = await upsert(app, 'u2', 'Second, renamed');
    expect(renamed.errors).toBeUndefined();
    expect(renamed.data!.upsertUser).toEqual({ id: ids[1], externalId: 'u2', displayName: 'Second, renamed' });
    const untouched = await upsert(app, 'u3');
    expect(untouched.errors).toBeUndefined();
    expect(untouched.data!.upsertUser).toEqual({ id: ids[2], externalId: 'u3', displayName: 'u3' });
    expect(await userCount(app)).toBe(3);

    await setLimits(app.tenantId, { maxUsersPerApp: 4 });
    const fourth = await upsert(app, 'u4', 'Fourth');
    expect(fourth.errors).toBeUndefined();
    expect(fourth.data!.upsertUser).toMatchObject({ externalId: 'u4', displayName: 'Fourth' });
    expectOverLimit(await upsert(app, 'u5'), 'maxUsersPerApp', 4);
    expect(await userCount(app)).toBe(4);
  });

  it('8 concurrent upserts of new users with maxUsersPerApp 3 create exactly 3', async () => {
    const app = await seedApp(server);
    await setLimits(app.tenantId, { maxUsersPerApp: 3 });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => upsert(app, `concurrent-${i}`)));
    const created = results.filter((r) => r.data?.upsertUser);
    expect(created).toHaveLength(3);
    for (const r of results.filter((r) => r.errors)) expectOverLimit(r, 'maxUsersPerApp', 3);
    expect(await userCount(app)).toBe(3);
  });

  it('concurrent upserts of one new externalId with room for one more all get the one user', async () => {
    const app = await seedApp(server);
    await setLimits(app.tenantId, { maxUsersPerApp: 2 });
    expect((await upsert(app, 'first')).errors).toBeUndefined();
    const results = await Promise.all(Array.from({ length: 6 }, () => upsert(app, 'same')));
    for (const r of results) expect(r.errors).toBeUndefined();
    expect(new Set(results.map((r) => r.data!.upsertUser.id)).size).toBe(1);
    expect(await userCount(app)).toBe(2);
    // The app is now full: "same" still upserts, a new one does not.
    expect((await upsert(app, 'same', 'again')).errors).toBeUndefined();
    expectOverLimit(await upsert(app, 'another'), 'maxUsersPerApp', 2);
  });

  it('the limit is per app: another app of the same tenant has its own count', async () => {
    const app = await seedApp(server);
    await setLimits(app.tenantId, { maxUsersPerApp: 1 });
    expect((await upsert(app, 'one')).errors).toBeUndefined();
    expectOverLimit(await upsert(app, 'two'), 'maxUsersPerApp', 1);

    const second = (await ok(server.graphqlUrl, CreateApp, { input: { tenantId: app.tenantId, name: 'second' } }, admin)).createApp;
    const key = (await ok(server.graphqlUrl, CreateKey, { appId: second.id }, admin)).createApiKey.key;
    const other: SeededApp = { ...app, appId: second.id, apiKey: key };
    expect((await upsert(other, 'one')).errors).toBeUndefined();
    expectOverLimit(await upsert(other, 'two'), 'maxUsersPerApp', 1);
    expect(await userCount(app)).toBe(1);
    expect(await userCount(other)).toBe(1);
  });
});

describe('maxMembersPerConversation', () => {
  const members = async (conversationId: string) =>
    (await db().membership.findMany({ where: { conversationId } })).map((m) => m.userId).sort();
  const eventCount = (conversationId: string) => db().conversationEvent.count({ where: { conversationId } });

  it('createConversation with the caller and memberIds over the limit is refused and stores nothing; at the limit it is created', async () => {
    const app = await seedApp(server);
    await setLimits(app.tenantId, { maxMembersPerConversation: 3 });
    const [alice, bob, carol, dave] = (await seedUsers(server, app, 4)) as [SeededUser, SeededUser, SeededUser, SeededUser];
    const conversations = () => db().conversation.count({ where: { appId: app.appId } });

    const refused = await execute(server.graphqlUrl, CreateConversation, { input: { kind: 'GROUP', memberIds: [bob.id, carol.id, dave.id] } }, as(alice));
    expectOverLimit(refused, 'maxMembersPerConversation', 3);
    expect(await conversations()).toBe(0);
    expect(await db().membership.count({ where: { appId: app.appId } })).toBe(0);

    // The caller listed too and repeated ids count once: three members, the limit.
    const created = await ok(
      server.graphqlUrl,
      CreateConversation,
      { input: { kind: 'GROUP', memberIds: [alice.id, bob.id, carol.id, bob.id] } },
      as(alice),
    );
    expect(created.createConversation.members.map((m) => m.userId).sort()).toEqual([alice.id, bob.id, carol.id].sort());
    expect(await conversations()).toBe(1);
  });

  it('addMembers past the limit is refused with nothing added (all or none); removing or raising makes room', async () => {
    const app = await seedApp(server);
    await setLimits(app.tenantId, { maxMembersPerConversation: 3 });
    const [alice, bob, carol, dave, erin] = (await seedUsers(server, app, 5)) as [SeededUser, SeededUser, SeededUser, SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const add = (userIds: string[]) => execute(server.graphqlUrl, AddMembers, { conversationId, userIds }, as(alice));

    // Two would make four: neither is added.
    const before = await eventCount(conversationId);
    expectOverLimit(await add([carol.id, dave.id]), 'maxMembersPerConversation', 3);
    expect(await members(conversationId)).toEqual([alice.id, bob.id].sort());
    expect(await eventCount(conversationId)).toBe(before);

    // One reaches the limit; one more is refused; a member already in adds nothing and passes.
    expect((await add([carol.id])).errors).toBeUndefined();
    expectOverLimit(await add([dave.id]), 'maxMembersPerConversation', 3);
    expect((await add([bob.id, carol.id])).errors).toBeUndefined();
    expect(await members(conversationId)).toEqual([alice.id, bob.id, carol.id].sort());

    // A removal makes room for one.
    await ok(server.graphqlUrl, RemoveMember, { conversationId, userId: carol.id }, as(alice));
    expectOverLimit(await add([dave.id, erin.id]), 'maxMembersPerConversation', 3);
    expect((await add([dave.id])).errors).toBeUndefined();
    expect(await members(conversationId)).toEqual([alice.id, bob.id, dave.id].sort());

    // So does raising the limit.
    await setLimits(app.tenantId, { maxMembersPerConversation: 5 });
    const grown = await add([carol.id, erin.id]);
    expect(grown.errors).toBeUndefined();
    expect(grown.data!.addMembers.members).toHaveLength(5);
  });

  it('concurrent addMembers cannot overshoot: 6 single additions with room for 2 add exactly 2, seqs stay gapless', async () => {
    const app = await seedApp(server);
    await setLimits(app.tenantId, { maxMembersPerConversation: 4 });
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const others = await seedUsers(server, app, 6);
    const conversationId = await seedGroup(server, alice, [bob]);

    const results = await Promise.all(
      others.map((u) => execute(server.graphqlUrl, AddMembers, { conversationId, userIds: [u.id] }, as(alice))),
    );
    expect(results.filter((r) => r.data?.addMembers)).toHaveLength(2);
    for (const r of results.filter((r) => r.errors)) expectOverLimit(r, 'maxMembersPerConversation', 4);
    expect(await members(conversationId)).toHaveLength(4);
    const seqs = (await db().conversationEvent.findMany({ where: { conversationId }, orderBy: { seq: 'asc' } })).map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it('a new DIRECT conversation is two members: refused under a limit of 1, while an existing one is still returned', async () => {
    const app = await seedApp(server);
    const [alice, bob, carol] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const direct = (other: SeededUser) =>
      execute(server.graphqlUrl, CreateConversation, { input: { kind: 'DIRECT', memberIds: [other.id] } }, as(alice));
    const first = (await direct(bob)).data!.createConversation.id;
    await setLimits(app.tenantId, { maxMembersPerConversation: 1 });
    expect((await direct(bob)).data?.createConversation.id).toBe(first);
    expectOverLimit(await direct(carol), 'maxMembersPerConversation', 1);
    expect(await db().conversation.count({ where: { appId: app.appId } })).toBe(1);
  });

  it('an app server acting as a user is held to the same limit', async () => {
    const app = await seedApp(server);
    await setLimits(app.tenantId, { maxMembersPerConversation: 2 });
    const [alice, bob, carol] = (await seedUsers(server, app, 3)) as [SeededUser, SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const res = await execute(server.graphqlUrl, AddMembersAs, { conversationId, userIds: [carol.id], asUserId: alice.id }, { apiKey: app.apiKey });
    expectOverLimit(res, 'maxMembersPerConversation', 2);
    expect(await members(conversationId)).toEqual([alice.id, bob.id].sort());
  });
});

describe('message size and attachments per message', () => {
  let alice: SeededUser;
  let conversationId: string;
  beforeAll(async () => {
    const app = await seedApp(server);
    alice = await seedUser(server, app);
    conversationId = await seedGroup(server, alice, [await seedUser(server, app)]);
  });
  const messageCount = () => db().message.count({ where: { conversationId } });

  it('a body of exactly MAX_MESSAGE_BYTES is sent; one byte more is PAYLOAD_TOO_LARGE and stores nothing', async () => {
    const max = server.deps.config.maxMessageBytes;
    const exact = `${'€'.repeat(Math.floor(max / 3))}${'a'.repeat(max % 3)}`; // three bytes each in UTF-8
    expect(Buffer.byteLength(exact)).toBe(max);
    expect((await ok(server.graphqlUrl, Send, { input: { conversationId, body: exact } }, as(alice))).sendMessage.seq).toBeGreaterThan(0);
    const count = await messageCount();
    const res = await execute(server.graphqlUrl, Send, { input: { conversationId, body: `${exact}a` } }, as(alice));
    expect(res.errors?.map((e) => e.extensions.code)).toEqual(['PAYLOAD_TOO_LARGE']);
    expect(await messageCount()).toBe(count);
  });

  it('10 attachments are sent; 11 are BAD_USER_INPUT naming input.attachments and store nothing', async () => {
    const attachments = (n: number) => Array.from({ length: n }, (_, i) => ({ url: `https://files.example.com/${i}` }));
    const sent = await ok(server.graphqlUrl, Send, { input: { conversationId, body: 'ten', attachments: attachments(10) } }, as(alice));
    expect(sent.sendMessage.attachments).toHaveLength(10);
    const count = await messageCount();
    const res = await execute(server.graphqlUrl, Send, { input: { conversationId, body: 'eleven', attachments: attachments(11) } }, as(alice));
    expect(res.errors?.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors![0]!.extensions.issues).toEqual([{ path: 'input.attachments', message: expect.any(String) }]);
    expect(await messageCount()).toBe(count);
  });
});

describe("a tenant's own maxMessageBytes and maxAttachmentsPerMessage", () => {
  const Limits = graphql(`
    mutation PlanContentLimits($id: ID!, $limits: TenantLimitsInput!) {
      updateTenant(id: $id, input: { limits: $limits }) { limits { maxMessageBytes maxAttachmentsPerMessage } }
    }
  `);
  const Edit = graphql(`mutation PlanEdit($id: ID!, $body: String!) { editMessage(id: $id, body: $body) { id body } }`);
  const attachments = (n: number) => Array.from({ length: n }, (_, i) => ({ url: `https://files.example.com/${i}` }));
  const codes = (res: GqlResponse<unknown>) => res.errors?.map((e) => e.extensions.code);

  it('FREE allows 10 attachments; an override raises it up to the API cap; a lower limit spares the attachments of messages already sent', async () => {
    const app = await seedApp(server, { plan: 'FREE' });
    const alice = await seedUser(server, app);
    const conversationId = await seedGroup(server, alice, [await seedUser(server, app)]);
    const send = (n: number) => execute(server.graphqlUrl, Send, { input: { conversationId, body: `n=${n}`, attachments: attachments(n) } }, as(alice));

    expect((await send(10)).data?.sendMessage?.attachments).toHaveLength(10);
    const eleven = await send(11);
    expect(codes(eleven)).toEqual(['BAD_USER_INPUT']);
    expect(eleven.errors![0]!.extensions.issues).toEqual([{ path: 'input.attachments', message: 'At most 10 attachments' }]);

    const { updateTenant } = await ok(server.graphqlUrl, Limits, { id: app.tenantId, limits: { maxAttachmentsPerMessage: 30 } }, admin);
    expect(updateTenant.limits.maxAttachmentsPerMessage).toBe(30);
    const thirty = await send(30);
    expect(thirty.data?.sendMessage?.attachments).toHaveLength(30);
    expect(codes(await send(31))).toEqual(['BAD_USER_INPUT']);
    // The API's own cap stands whatever the tenant's limit.
    await ok(server.graphqlUrl, Limits, { id: app.tenantId, limits: { maxAttachmentsPerMessage: 1000 } }, admin);
    expect(codes(await send(101))).toEqual(['BAD_USER_INPUT']);

    await ok(server.graphqlUrl, Limits, { id: app.tenantId, limits: { maxAttachmentsPerMessage: 1 } }, admin);
    const edited = await ok(server.graphqlUrl, Edit, { id: thirty.data!.sendMessage.id, body: 'still thirty' }, as(alice));
    expect(edited.editMessage.body).toBe('still thirty');
    expect(codes(await send(2))).toEqual(['BAD_USER_INPUT']);
  });

  it('maxMessageBytes lowers the size for one tenant (send and edit), and is never above MAX_MESSAGE_BYTES', async () => {
    const app = await seedApp(server);
    const alice = await seedUser(server, app);
    const conversationId = await seedGroup(server, alice, [await seedUser(server, app)]);
    const other = await seedApp(server);
    const bob = await seedUser(server, other);
    const bobsConversation = await seedGroup(server, bob, [await seedUser(server, other)]);
    const send = (user: SeededUser, cid: string, body: string) => execute(server.graphqlUrl, Send, { input: { conversationId: cid, body } }, as(user));

    const keyed = { conversationId, body: 'k'.repeat(200), idempotencyKey: `before-the-change-${Math.random()}` };
    const original = (await ok(server.graphqlUrl, Send, { input: keyed }, as(alice))).sendMessage;

    const { updateTenant } = await ok(server.graphqlUrl, Limits, { id: app.tenantId, limits: { maxMessageBytes: 100 } }, admin);
    expect(updateTenant.limits.maxMessageBytes).toBe(100);
    // A retry of a send that was made returns the original, whatever the limits say now.
    expect((await ok(server.graphqlUrl, Send, { input: keyed }, as(alice))).sendMessage.id).toBe(original.id);
    const sent = await send(alice, conversationId, 'a'.repeat(100));
    expect(sent.data?.sendMessage?.seq).toBeGreaterThan(0);
    const count = await db().message.count({ where: { conversationId } });
    expect(codes(await send(alice, conversationId, 'a'.repeat(101)))).toEqual(['PAYLOAD_TOO_LARGE']);
    expect(codes(await execute(server.graphqlUrl, Edit, { id: sent.data!.sendMessage.id, body: 'b'.repeat(101) }, as(alice)))).toEqual(['PAYLOAD_TOO_LARGE']);
    expect(await db().message.count({ where: { conversationId } })).toBe(count);
    // Another tenant keeps the deployment's size.
    expect((await send(bob, bobsConversation, 'a'.repeat(101))).data?.sendMessage?.seq).toBeGreaterThan(0);

    const max = server.deps.config.maxMessageBytes;
    const raised = await ok(server.graphqlUrl, Limits, { id: app.tenantId, limits: { maxMessageBytes: max * 4 } }, admin);
    expect(raised.updateTenant.limits.maxMessageBytes).toBe(max);
    expect(codes(await send(alice, conversationId, 'a'.repeat(max + 1)))).toEqual(['PAYLOAD_TOO_LARGE']);
    const reset = await ok(server.graphqlUrl, Limits, { id: app.tenantId, limits: { maxMessageBytes: null } }, admin);
    expect(reset.updateTenant.limits.maxMessageBytes).toBe(max);
    expect((await send(alice, conversationId, 'a'.repeat(max))).data?.sendMessage?.seq).toBeGreaterThan(0);
  });
});

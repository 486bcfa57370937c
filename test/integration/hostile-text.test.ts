import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute, ok, type Credential, type GqlError, type GqlResponse } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// Text PostgreSQL cannot hold: a NUL (neither text nor jsonb takes one) or an unpaired UTF-16
// surrogate (no UTF-8 for it: jsonb refuses it, text would get U+FFFD in its place). And
// forged page cursors whose values SQL would choke on. Each is BAD_USER_INPUT naming the
// field, never INTERNAL, and nothing is stored.

const Send = graphql(`
  mutation HostileTextSend($input: SendMessageInput!) { sendMessage(input: $input) { id body metadata attachments { url name mimeType } } }
`);
const Edit = graphql(`mutation HostileTextEdit($id: ID!, $body: String!) { editMessage(id: $id, body: $body) { id body } }`);
const Create = graphql(`
  mutation HostileTextCreateConversation($input: CreateConversationInput!) { createConversation(input: $input) { id title metadata } }
`);
const Upsert = graphql(`
  mutation HostileTextUpsertUser($input: UpsertUserInput!) { upsertUser(input: $input) { id externalId displayName metadata } }
`);
const CreateTenant = graphql(`mutation HostileTextCreateTenant($input: CreateTenantInput!) { createTenant(input: $input) { id name } }`);
const CreateApp = graphql(`mutation HostileTextCreateApp($input: CreateAppInput!) { createApp(input: $input) { id name } }`);
const Messages = graphql(`
  query HostileTextMessages($conversationId: ID!, $after: String, $before: String) {
    messages(conversationId: $conversationId, after: $after, before: $before) { edges { node { seq } } }
  }
`);
const Users = graphql(`query HostileTextUsers($after: String, $before: String) { users(after: $after, before: $before) { edges { node { id } } } }`);
const Conversations = graphql(`
  query HostileTextConversations($after: String, $before: String) { conversations(after: $after, before: $before) { edges { node { id } } } }
`);
const Tenants = graphql(`
  query HostileTextTenants($after: String, $before: String) { tenants(after: $after, before: $before) { edges { node { id } } } }
`);

let server: TestServer;
let app: SeededApp;
let alice: SeededUser, bob: SeededUser;
let conversationId: string, messageId: string;
let asAlice: Credential, asApp: Credential, asAdmin: Credential;
/** Names of tenants and apps this file tries to create start with it, so none can hide. */
const PREFIX = `hostile-text-${Date.now()}`;

/** What the hostile requests must leave as it was. */
async function snapshot() {
  const p = server.deps.db.prisma;
  return {
    users: await p.user.findMany({ where: { appId: app.appId }, orderBy: { id: 'asc' } }),
    conversations: await p.conversation.count({ where: { appId: app.appId } }),
    seeded: await p.conversation.findUnique({ where: { id: conversationId }, include: { members: true, messages: true, events: true } }),
    tenants: await p.tenant.count({ where: { name: { startsWith: PREFIX } } }),
    apps: await p.app.count({ where: { tenantId: app.tenantId } }),
  };
}
let before: Awaited<ReturnType<typeof snapshot>>;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
  [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
  asAlice = { token: alice.token };
  asApp = { apiKey: app.apiKey };
  asAdmin = { token: server.adminToken };
  conversationId = await seedGroup(server, alice, [bob]);
  messageId = (await ok(server.graphqlUrl, Send, { input: { conversationId, body: 'original' } }, asAlice)).sendMessage.id;
  before = await snapshot();
});
afterAll(() => server?.close());

/** The one error of a response: BAD_USER_INPUT with one issue naming `path`. */
function expectBadInput(res: GqlResponse<unknown>, path: string) {
  const errors: GqlError[] | undefined = res.errors;
  expect(errors?.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
  expect(errors![0]!.extensions.issues).toEqual([{ path, message: expect.any(String) }]);
}

const BAD_TEXT: [string, string][] = [
  ['a NUL', 'a\u0000b'],
  ['a lone high surrogate', 'a\ud800b'],
  ['a lone low surrogate', '\udc00'],
];

describe('free text PostgreSQL cannot store → BAD_USER_INPUT naming the field', () => {
  const url = () => server.graphqlUrl;
  const send = (input: Record<string, unknown>) =>
    execute(url(), Send, { input: { conversationId, body: 'hello', ...input } }, asAlice);
  const fields: { field: string; path: string; call: (text: string) => Promise<GqlResponse<unknown>> }[] = [
    { field: 'sendMessage body', path: 'input.body', call: (text) => send({ body: text }) },
    { field: 'editMessage body', path: 'body', call: (text) => execute(url(), Edit, { id: messageId, body: text }, asAlice) },
    { field: 'idempotencyKey', path: 'input.idempotencyKey', call: (text) => send({ idempotencyKey: text }) },
    { field: 'attachment url', path: 'input.attachments.0.url', call: (text) => send({ attachments: [{ url: `https://files.example.com/${text}` }] }) },
    { field: 'attachment name', path: 'input.attachments.0.name', call: (text) => send({ attachments: [{ url: 'https://f.example.com/1', name: text }] }) },
    {
      field: 'attachment mimeType',
      path: 'input.attachments.0.mimeType',
      call: (text) => send({ attachments: [{ url: 'https://f.example.com/1', mimeType: text }] }),
    },
    {
      field: 'conversation title',
      path: 'input.title',
      call: (text) => execute(url(), Create, { input: { kind: 'GROUP', memberIds: [bob.id], title: text } }, asAlice),
    },
    { field: 'externalId', path: 'input.externalId', call: (text) => execute(url(), Upsert, { input: { externalId: text } }, asApp) },
    {
      field: 'displayName',
      path: 'input.displayName',
      call: (text) => execute(url(), Upsert, { input: { externalId: alice.externalId, displayName: text } }, asApp),
    },
    { field: 'tenant name', path: 'input.name', call: (text) => execute(url(), CreateTenant, { input: { name: `${PREFIX}${text}` } }, asAdmin) },
    { field: 'app name', path: 'input.name', call: (text) => execute(url(), CreateApp, { input: { tenantId: app.tenantId, name: text } }, asAdmin) },
  ];
  const rows = fields.flatMap((f) => BAD_TEXT.map(([what, text]) => ({ ...f, what, text })));

  it.each(rows)('$field with $what → BAD_USER_INPUT naming $path', async ({ call, text, path }) => {
    expectBadInput(await call(text), path);
  });

  const badMetadata: [string, Record<string, unknown>][] = [
    ['a NUL in a key', { 'a\u0000': 1 }],
    ['a NUL in a string value', { a: 'x\u0000' }],
    ['a NUL deep inside', { a: { b: [1, { c: '\u0000' }] } }],
    ['a NUL in a nested key', { a: [{ 'k\u0000': true }] }],
    ['a lone surrogate in a key', { '\ud800': 1 }],
    ['a lone surrogate in a value', { a: ['ok', '\udfff'] }],
  ];
  it.each(badMetadata)('metadata with %s → BAD_USER_INPUT for messages, conversations and users', async (_what, metadata) => {
    expectBadInput(await send({ metadata }), 'input.metadata');
    expectBadInput(await execute(url(), Create, { input: { kind: 'GROUP', memberIds: [bob.id], metadata } }, asAlice), 'input.metadata');
    expectBadInput(await execute(url(), Upsert, { input: { externalId: alice.externalId, metadata } }, asApp), 'input.metadata');
  });

  it('well-formed Unicode (emoji are surrogate pairs, U+FFFD, other scripts) is stored and read back as sent', async () => {
    const scratch = await seedGroup(server, alice, [bob]);
    const text = '💬 ünïcødé ✓ 漢字 \ufffd \u0001';
    const metadata = { [text]: text, nested: [{ [`k${text}`]: [text] }] };
    const sent = await ok(url(), Send, { input: { conversationId: scratch, body: text, idempotencyKey: text, metadata } }, asAlice);
    expect(sent.sendMessage).toMatchObject({ body: text, metadata });
    const conv = await ok(url(), Create, { input: { kind: 'GROUP', memberIds: [bob.id], title: text, metadata } }, asAlice);
    expect(conv.createConversation).toMatchObject({ title: text, metadata });
    const user = await ok(url(), Upsert, { input: { externalId: `${text}-${PREFIX}`, displayName: text, metadata } }, asApp);
    expect(user.upsertUser).toMatchObject({ externalId: `${text}-${PREFIX}`, displayName: text, metadata });
    // Written on purpose: left out of the comparison below.
    before.users = await server.deps.db.prisma.user.findMany({ where: { appId: app.appId }, orderBy: { id: 'asc' } });
    before.conversations += 2;
  });
});

describe('forged page cursors → BAD_USER_INPUT, never SQL', () => {
  const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const at = (t: string, id = 'cnv_0') => cursor({ t, id });
  const url = () => server.graphqlUrl;
  type Page = { after?: string; before?: string };
  type Case = { query: string; value: string; forged: string; run: (page: Page) => Promise<GqlResponse<unknown>> };
  const messages = (page: Page) => execute(url(), Messages, { conversationId, ...page }, asAlice);
  const users = (page: Page) => execute(url(), Users, page, asApp);
  const conversations = (page: Page) => execute(url(), Conversations, page, asAlice);
  const tenants = (page: Page) => execute(url(), Tenants, page, asAdmin);
  const times: [string, string][] = [
    ['year -200000', at('-200000-01-01T00:00:00Z')],
    ['year 200000', at('+200000-01-01T00:00:00Z')],
    ['year 0', at('0000-12-31T23:59:59Z')],
    ['a NUL in its id', at('2024-01-01T00:00:00Z', 'cnv_\u0000')],
  ];
  const cases: Case[] = [
    ...[2 ** 31, 2 ** 53 - 1, -1, 1.5].map((seq) => ({ query: 'messages', value: String(seq), forged: cursor(seq), run: messages })),
    ...['usr_\u0000', "usr_' OR 1=1 --", 'u'.repeat(65), '\ud800'].map((id) => ({
      query: 'users',
      value: JSON.stringify(id),
      forged: cursor(id),
      run: users,
    })),
    ...times.flatMap(([value, forged]) => [
      { query: 'conversations', value, forged, run: conversations },
      { query: 'tenants', value, forged, run: tenants },
    ]),
  ];
  const rows = cases.flatMap((c) => [{ ...c, side: 'after' }, { ...c, side: 'before' }]);

  it.each(rows)('$query $side a cursor of $value → BAD_USER_INPUT naming the cursor', async ({ run, side, forged }) => {
    expectBadInput(await run(side === 'after' ? { after: forged } : { before: forged }), 'cursor');
  });

  it('cursors at the edges of the valid range still page', async () => {
    for (const seq of [0, 2 ** 31 - 1]) {
      const res = await ok(url(), Messages, { conversationId, after: cursor(seq) }, asAlice);
      expect(res.messages.edges.map((e) => e.node.seq)).toEqual(seq === 0 ? [1] : []);
    }
    const oldest = at('0001-01-01T00:00:00Z'), newest = at('9999-12-31T23:59:59.999Z', 'cnv_ZZZZ');
    expect((await ok(url(), Conversations, { after: newest }, asAlice)).conversations.edges.length).toBeGreaterThan(0);
    expect((await ok(url(), Conversations, { after: oldest }, asAlice)).conversations.edges).toEqual([]);
    expect((await ok(url(), Tenants, { after: oldest }, asAdmin)).tenants.edges.length).toBeGreaterThan(0);
    expect((await ok(url(), Tenants, { before: newest }, asAdmin)).tenants.edges.length).toBeGreaterThan(0);
  });
});

describe('afterwards', () => {
  it('the data is intact: nothing hostile was stored', async () => {
    expect(await snapshot()).toEqual(before);
    const message = await server.deps.db.prisma.message.findUniqueOrThrow({ where: { id: messageId } });
    expect(message).toMatchObject({ body: 'original', status: 'SENT' });
  });
});

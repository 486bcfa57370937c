import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCUMENT_LIMITS } from '../../src/http/yoga.ts';
import { newId } from '../../src/lib/ids.ts';
import { graphql } from '../generated/index.ts';
import { authHeaders, execute, ok, type Credential, type GqlError, type GqlResponse } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// Malformed, oversized and hostile input: the right contract code, never INTERNAL, never a
// hang, no stack or SQL in the message, a requestId on every error, and the data intact.

const Conv = graphql(`query HostileConversation($id: ID!) { conversation(id: $id) { id lastSeq } }`);
const Send = graphql(`mutation HostileSend($input: SendMessageInput!) { sendMessage(input: $input) { id seq body } }`);
const Edit = graphql(`mutation HostileEdit($id: ID!, $body: String!) { editMessage(id: $id, body: $body) { id body } }`);
const Add = graphql(`
  mutation HostileAddMembers($conversationId: ID!, $userIds: [ID!]!) {
    addMembers(conversationId: $conversationId, userIds: $userIds) { id members { userId } }
  }
`);
const Create = graphql(`
  mutation HostileCreateConversation($input: CreateConversationInput!) { createConversation(input: $input) { id } }
`);
const Upsert = graphql(`mutation HostileUpsertUser($input: UpsertUserInput!) { upsertUser(input: $input) { id } }`);

let server: TestServer;
let app: SeededApp;
let alice: SeededUser, bob: SeededUser;
let conversationId: string, messageId: string;
let asAlice: Credential;
/** Rows that tests wrote on purpose, left out of the "intact" comparison. */
const deliberate = { messages: [] as string[], conversations: [] as string[] };

/** The app's data as the store holds it, to prove that hostile requests changed none of it. */
async function snapshot() {
  const p = server.deps.db.prisma;
  const { appId } = app;
  return {
    messages: await p.message.count({ where: { appId, id: { notIn: deliberate.messages } } }),
    conversations: await p.conversation.count({ where: { appId, id: { notIn: deliberate.conversations } } }),
    users: await p.user.findMany({ where: { appId }, orderBy: { id: 'asc' } }),
    seeded: await p.conversation.findUnique({ where: { id: conversationId }, include: { members: true, messages: true, events: true } }),
  };
}
let before: Awaited<ReturnType<typeof snapshot>>;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
  [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
  asAlice = { token: alice.token };
  conversationId = await seedGroup(server, alice, [bob]);
  messageId = (await ok(server.graphqlUrl, Send, { input: { conversationId, body: 'original' } }, asAlice)).sendMessage.id;
  before = await snapshot();
});
afterAll(() => server?.close());

/** Stack frames, source paths or SQL: none of it may reach a client. */
const LEAKY = /\n\s+at |\.ts:\d+|node_modules|\bSELECT\b|\bINSERT\b|\bUPDATE\b|\bWHERE\b|prisma|postgres|pglite/i;

/** The one error of a response: its code, a requestId, and a message that leaks nothing. */
function expectError(errors: GqlError[] | undefined, code: string): GqlError {
  expect(errors?.map((e) => e.extensions.code)).toEqual([code]);
  const error = errors![0]!;
  expect(error.extensions.requestId).toEqual(expect.any(String));
  expect(error.extensions.requestId.length).toBeGreaterThan(0);
  expect(error.message).not.toMatch(LEAKY);
  expect(error.message.length).toBeLessThan(500);
  return error;
}
const expectIssue = (error: GqlError, path: string) =>
  expect(error.extensions.issues).toEqual([{ path, message: expect.any(String) }]);

type Raw = { status: number; headers: Headers; body: { data?: unknown; errors?: GqlError[] } | null };
/** A request the typed documents cannot express: any body, content type or method. */
async function raw(body: string, init: { contentType?: string; method?: string; headers?: Record<string, string>; url?: string } = {}): Promise<Raw> {
  const res = await fetch(init.url ?? server.graphqlUrl, {
    method: init.method ?? 'POST',
    headers: {
      accept: 'application/graphql-response+json',
      ...(init.method === 'GET' ? {} : { 'content-type': init.contentType ?? 'application/json' }),
      ...authHeaders(asAlice),
      ...init.headers,
    },
    ...(init.method === 'GET' ? {} : { body }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Raw['body']) : null };
}
const post = (query: string, variables: unknown) => raw(JSON.stringify({ query, variables }));
const SEND = 'mutation HostileRawSend($input: SendMessageInput!) { sendMessage(input: $input) { id } }';
const CREATE = 'mutation HostileRawCreate($input: CreateConversationInput!) { createConversation(input: $input) { id } }';
/** A raw sendMessage body whose metadata is `metadata`, JSON text as given. */
const sendWithMetadata = (metadata: string) =>
  `{"query":${JSON.stringify(SEND)},"variables":{"input":{"conversationId":"${conversationId}","body":"x","metadata":${metadata}}}}`;
const messageCount = () => server.deps.db.prisma.message.count({ where: { conversationId } });

describe('malformed ids', () => {
  const badIds: [string, string][] = [
    ['a 10 kB string', 'x'.repeat(10 * 1024)],
    ['unicode', 'cnv_ünïcødé'],
    ['an emoji', '💬'],
    ['SQL', "' OR 1=1 --"],
    ['SQL with a statement', "cnv_1'; DROP TABLE message; --"],
    ['the empty string', ''],
    ['spaces', 'cnv 01 ABC'],
    ['a NUL byte', 'cnv_\u0000'],
  ];
  const ops: { op: string; path: string; call: (id: string) => Promise<GqlResponse<unknown>> }[] = [
    { op: 'conversation(id)', path: 'id', call: (id) => execute(server.graphqlUrl, Conv, { id }, asAlice) },
    {
      op: 'sendMessage conversationId',
      path: 'input.conversationId',
      call: (id) => execute(server.graphqlUrl, Send, { input: { conversationId: id, body: 'x' } }, asAlice),
    },
    { op: 'editMessage id', path: 'id', call: (id) => execute(server.graphqlUrl, Edit, { id, body: 'x' }, asAlice) },
    { op: 'addMembers userIds', path: 'userIds.0', call: (id) => execute(server.graphqlUrl, Add, { conversationId, userIds: [id] }, asAlice) },
  ];
  const rows = ops.flatMap(({ op, path, call }) => badIds.map(([what, id]) => ({ op, what, path, call, id })));

  it.each(rows)('$op with $what → BAD_USER_INPUT naming $path', async ({ call, id, path }) => {
    const error = expectError((await call(id)).errors, 'BAD_USER_INPUT');
    expectIssue(error, path);
  });

  it('well-formed ids that exist nowhere → NOT_FOUND', async () => {
    const url = server.graphqlUrl;
    expectError((await execute(url, Conv, { id: newId.conversation() }, asAlice)).errors, 'NOT_FOUND');
    expectError((await execute(url, Send, { input: { conversationId: newId.conversation(), body: 'x' } }, asAlice)).errors, 'NOT_FOUND');
    expectError((await execute(url, Edit, { id: newId.message(), body: 'x' }, asAlice)).errors, 'NOT_FOUND');
    expectError((await execute(url, Add, { conversationId, userIds: [newId.user()] }, asAlice)).errors, 'NOT_FOUND');
    expectError((await execute(url, Add, { conversationId: newId.conversation(), userIds: [bob.id] }, asAlice)).errors, 'NOT_FOUND');
  });
});

describe('oversized input', () => {
  type Overrides = Partial<{ body: string; idempotencyKey: string; metadata: Record<string, unknown>; attachments: { url: string }[] }>;
  const send = (overrides: Overrides) => execute(server.graphqlUrl, Send, { input: { conversationId, body: 'hello', ...overrides } }, asAlice);

  it('a body of MAX_MESSAGE_BYTES is accepted, one byte more is PAYLOAD_TOO_LARGE (send and edit)', async () => {
    const max = server.deps.config.maxMessageBytes;
    const scratch = await seedGroup(server, alice, [bob]);
    deliberate.conversations.push(scratch);
    const exact = 'é'.repeat(max / 2); // two bytes each in UTF-8
    const sent = await ok(server.graphqlUrl, Send, { input: { conversationId: scratch, body: exact } }, asAlice);
    deliberate.messages.push(sent.sendMessage.id);
    expect(sent.sendMessage.body).toBe(exact);
    expectError((await send({ body: `${exact}x` })).errors, 'PAYLOAD_TOO_LARGE');
    expectError((await execute(server.graphqlUrl, Edit, { id: messageId, body: `${exact}x` }, asAlice)).errors, 'PAYLOAD_TOO_LARGE');
  });

  it('a request over MAX_BODY_BYTES is HTTP 413 with a JSON PAYLOAD_TOO_LARGE error, and nothing is stored', async () => {
    const res = await send({ body: 'a'.repeat(server.deps.config.maxBodyBytes + 1) });
    expect(res.status).toBe(413);
    expectError(res.errors, 'PAYLOAD_TOO_LARGE');
    expect(await messageCount()).toBe(before.seeded!.messages.length);
  });

  it('strings over their limits → BAD_USER_INPUT naming the field', async () => {
    const url = server.graphqlUrl;
    const displayName = await execute(url, Upsert, { input: { externalId: 'long-name', displayName: 'n'.repeat(300) } }, { apiKey: app.apiKey });
    expectIssue(expectError(displayName.errors, 'BAD_USER_INPUT'), 'input.displayName');
    const externalId = await execute(url, Upsert, { input: { externalId: 'e'.repeat(10 * 1024) } }, { apiKey: app.apiKey });
    expectIssue(expectError(externalId.errors, 'BAD_USER_INPUT'), 'input.externalId');
    // Titles may be up to 500 characters (validators.ts optionalTextSchema).
    const title = await execute(url, Create, { input: { kind: 'GROUP', memberIds: [bob.id], title: 't'.repeat(501) } }, asAlice);
    expectIssue(expectError(title.errors, 'BAD_USER_INPUT'), 'input.title');
    expectIssue(expectError((await send({ idempotencyKey: 'k'.repeat(10 * 1024) })).errors, 'BAD_USER_INPUT'), 'input.idempotencyKey');
  });

  it('metadata over 8 KiB or nested deeper than 5 levels → BAD_USER_INPUT, for messages, conversations and users', async () => {
    const big = { blob: 'm'.repeat(8 * 1024) };
    const nest = (levels: number) => Array.from({ length: levels - 1 }).reduce<Record<string, unknown>>((inner) => ({ a: inner }), { leaf: 1 });
    for (const metadata of [big, nest(6)]) {
      expectIssue(expectError((await send({ metadata })).errors, 'BAD_USER_INPUT'), 'input.metadata');
      const conv = await execute(server.graphqlUrl, Create, { input: { kind: 'GROUP', memberIds: [bob.id], metadata } }, asAlice);
      expectIssue(expectError(conv.errors, 'BAD_USER_INPUT'), 'input.metadata');
      const user = await execute(server.graphqlUrl, Upsert, { input: { externalId: alice.externalId, metadata } }, { apiKey: app.apiKey });
      expectIssue(expectError(user.errors, 'BAD_USER_INPUT'), 'input.metadata');
    }
  });

  it('more than 10 attachments, or a URL that is not http(s) → BAD_USER_INPUT', async () => {
    const attachments = Array.from({ length: 11 }, (_, i) => ({ url: `https://files.example.com/${i}` }));
    expectIssue(expectError((await send({ attachments })).errors, 'BAD_USER_INPUT'), 'input.attachments');
    for (const url of ['javascript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'file:///etc/passwd', 'not a url']) {
      expectIssue(expectError((await send({ attachments: [{ url }] })).errors, 'BAD_USER_INPUT'), 'input.attachments.0.url');
    }
  });

  it('an empty or blank body without attachments → BAD_USER_INPUT', async () => {
    for (const body of ['', '   \n\t']) expectIssue(expectError((await send({ body })).errors, 'BAD_USER_INPUT'), 'body');
  });
});

describe('variables of the wrong type (GraphQL coercion errors) → HTTP 400, BAD_USER_INPUT', () => {
  // The last column is the path `extensions.issues` must name.
  const cases: [string, string, unknown, string][] = [
    ['a number for a String', SEND, { input: { conversationId: 'cnv_x', body: 123 } }, 'input.body'],
    ['a string for an Int', 'mutation HostileRawRead($seq: Int!) { markRead(conversationId: "cnv_x", seq: $seq) { lastReadSeq } }', { seq: '5' }, 'seq'],
    ['metadata as an array', SEND, { input: { conversationId: 'cnv_x', body: 'x', metadata: [1, 2] } }, 'input.metadata'],
    ['metadata as a string', SEND, { input: { conversationId: 'cnv_x', body: 'x', metadata: '{"a":1}' } }, 'input.metadata'],
    ['an unknown enum value', CREATE, { input: { kind: 'TRIPLE', memberIds: [] } }, 'input.kind'],
    ['null for a non-null input', SEND, { input: null }, 'input'],
    ['null for a non-null field', SEND, { input: { conversationId: 'cnv_x', body: null } }, 'input.body'],
    ['a missing required variable', SEND, {}, 'input'],
  ];
  it.each(cases)('%s', async (_what, query, variables, path) => {
    const res = await post(query, variables);
    expect(res.status).toBe(400);
    expect(res.body?.data).toBeUndefined(); // refused before execution
    expectIssue(expectError(res.body?.errors, 'BAD_USER_INPUT'), path);
  });
});

describe('documents and bodies of hostile shape', () => {
  /** `n` nested inline fragments around `id`: each adds a level of depth. */
  const fragments = (n: number, type: string) => `${`... on ${type} { `.repeat(n)} id ${'} '.repeat(n)}`;
  const nested = (n: number) => `query HostileDeep { me { ${fragments(n, 'User')} } }`;
  const deepSend = `mutation HostileDeepSend($input: SendMessageInput!) {
    sendMessage(input: $input) { ${fragments(DOCUMENT_LIMITS.maxDepth, 'Message')} }
  }`;
  const input = () => ({ input: { conversationId, body: 'must not be stored' } });

  it(`a document deeper than ${DOCUMENT_LIMITS.maxDepth} → BAD_USER_INPUT and not executed; at the limit it runs`, async () => {
    // me (1) + n inline fragments + id (1): depth n + 2.
    const atLimit = await post(nested(DOCUMENT_LIMITS.maxDepth - 2), {});
    expect(atLimit.body).toEqual({ data: { me: { id: alice.id } } });
    expectError((await post(nested(DOCUMENT_LIMITS.maxDepth - 1), {})).body?.errors, 'BAD_USER_INPUT');
    const res = await post(deepSend, input());
    expect(res.body?.data ?? null).toBeNull();
    expect(expectError(res.body?.errors, 'BAD_USER_INPUT').message).toMatch(/depth/i);
    expect(await messageCount()).toBe(before.seeded!.messages.length);
  });

  it(`a document of more than ${DOCUMENT_LIMITS.maxTokens} tokens → BAD_USER_INPUT and not executed`, async () => {
    const ids = 'id '.repeat(DOCUMENT_LIMITS.maxTokens + 1);
    const query = `mutation HostileTokens($input: SendMessageInput!) { sendMessage(input: $input) { ${ids} } }`;
    const res = await post(query, input());
    expect(res.body?.data ?? null).toBeNull();
    expect(expectError(res.body?.errors, 'BAD_USER_INPUT').message).toMatch(/token/i);
    expect(await messageCount()).toBe(before.seeded!.messages.length);
  });

  it(`more than ${DOCUMENT_LIMITS.maxAliases} aliases → BAD_USER_INPUT and not executed; ${DOCUMENT_LIMITS.maxAliases} run`, async () => {
    const aliases = (n: number, field: string) => Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ');
    const atLimit = await post(`query HostileAliases { ${aliases(DOCUMENT_LIMITS.maxAliases, 'me { id }')} }`, {});
    expect(Object.keys((atLimit.body?.data ?? {}) as object)).toHaveLength(DOCUMENT_LIMITS.maxAliases);
    const sends = aliases(DOCUMENT_LIMITS.maxAliases + 1, 'sendMessage(input: $input) { id }');
    const query = `mutation HostileAliasSend($input: SendMessageInput!) { ${sends} }`;
    const res = await post(query, input());
    expect(res.body?.data ?? null).toBeNull();
    expect(expectError(res.body?.errors, 'BAD_USER_INPUT').message).toMatch(/alias/i);
    expect(await messageCount()).toBe(before.seeded!.messages.length);
  });

  it('100k nested arrays in a variable → BAD_USER_INPUT (or ignored when unused); the server stays up', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const asMetadata = await raw(sendWithMetadata(`{"a":${deep}}`));
    expectIssue(expectError(asMetadata.body?.errors, 'BAD_USER_INPUT'), 'input.metadata');
    const deepObject = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    const asObject = await raw(sendWithMetadata(deepObject));
    expectIssue(expectError(asObject.body?.errors, 'BAD_USER_INPUT'), 'input.metadata');
    const asIds = await raw(`{"query":${JSON.stringify(print(Add))},"variables":{"conversationId":"${conversationId}","userIds":${deep}}}`);
    expect(asIds.status).toBe(400);
    expectError(asIds.body?.errors, 'BAD_USER_INPUT');
    // A variable the operation does not declare is parsed and ignored.
    const unused = await raw(`{"query":"query HostileUnused { __typename }","variables":{"junk":${deep}}}`);
    expect(unused.body).toEqual({ data: { __typename: 'Query' } });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(await messageCount()).toBe(before.seeded!.messages.length);
  });
});

describe('malformed HTTP', () => {
  it('an invalid JSON body → 400 BAD_USER_INPUT', async () => {
    const res = await raw('{"query": "{ me { id } }", ');
    expect(res.status).toBe(400);
    expectError(res.body?.errors, 'BAD_USER_INPUT');
  });

  it('a mutation over GET → 405, not executed', async () => {
    const query = `mutation HostileGetSend { sendMessage(input: { conversationId: "${conversationId}", body: "via GET" }) { id } }`;
    const res = await raw('', { method: 'GET', url: `${server.graphqlUrl}?query=${encodeURIComponent(query)}` });
    expect(res.status).toBe(405);
    expectError(res.body?.errors, 'BAD_USER_INPUT');
    expect(await messageCount()).toBe(before.seeded!.messages.length);
  });

  it.each(['text/plain', 'application/xml', 'application/x-www-form-urlencoded'])('content type %s → 415 with a JSON error', async (contentType) => {
    const res = await raw(JSON.stringify({ query: '{ me { id } }' }), { contentType });
    expect(res.status).toBe(415);
    expectError(res.body?.errors, 'BAD_USER_INPUT');
  });

  it.each([
    ['an empty query', { query: '' }],
    ['no query', { variables: {} }],
    ['a query that is not a string', { query: 42 }],
    ['a syntax error', { query: '{ me { id ' }],
  ])('%s → 400 BAD_USER_INPUT', async (_what, body) => {
    const res = await raw(JSON.stringify(body));
    expect(res.status).toBe(400);
    expectError(res.body?.errors, 'BAD_USER_INPUT');
  });
});

describe('request ids', () => {
  it('an incoming x-request-id is echoed in the header and used as the requestId', async () => {
    const me = JSON.stringify({ query: '{ me { id } }' });
    const failed = await raw(me, { headers: { 'x-request-id': 'my-trace-123', authorization: 'Bearer nope' } });
    expect(failed.status).toBe(401);
    expect(failed.headers.get('x-request-id')).toBe('my-trace-123');
    expect(expectError(failed.body?.errors, 'UNAUTHENTICATED').extensions.requestId).toBe('my-trace-123');
    const good = await raw(me, { headers: { 'x-request-id': 'my-trace-123' } });
    expect(good.body).toEqual({ data: { me: { id: alice.id } } });
    expect(good.headers.get('x-request-id')).toBe('my-trace-123');
  });

  it('a hostile x-request-id is replaced by a generated one', async () => {
    for (const given of ['has spaces in it', 'x'.repeat(500), '<script>']) {
      const res = await raw('{ not json', { headers: { 'x-request-id': given } });
      const requestId = expectError(res.body?.errors, 'BAD_USER_INPUT').extensions.requestId;
      expect(requestId).not.toBe(given);
      expect(res.headers.get('x-request-id')).toBe(requestId);
    }
  });
});

describe('afterwards', () => {
  it('the seeded data is intact: only the deliberate writes happened', async () => {
    const after = await snapshot();
    expect(after).toEqual(before);
    const conv = await ok(server.graphqlUrl, Conv, { id: conversationId }, asAlice);
    expect(conv.conversation?.lastSeq).toBe(before.seeded!.lastSeq);
    expect(deliberate.messages).toHaveLength(1);
  });
});

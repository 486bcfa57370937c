import { readFileSync } from 'node:fs';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { newId } from '../../src/lib/ids.ts';
import { schema } from '../../src/schema/index.ts';
import { graphql } from '../generated/index.ts';
import { execute, ok, type Credential } from '../helpers/client.ts';
import { createDatabase } from '../helpers/databases.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { seedApp, seedGroup, seedUser, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, testStore, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs, type WsCredential } from '../helpers/ws.ts';

/**
 * Who may call what: every root field of the schema (query, mutation, subscription) × every
 * kind of caller, as data, one test per cell. The same table is in docs/SECURITY.md ("Who
 * may call what"); a test below fails when the two differ, or when the schema has a field
 * the table lacks. Conversation roles (OWNER … READER) are the next level down:
 * roles.test.ts and roles-messages.test.ts.
 */

const COLUMNS = ['anonymous', 'operator', 'app server', 'app server as a user', 'end user'] as const;
type Column = (typeof COLUMNS)[number];
/**
 * ✓: allowed, and the call really succeeds on valid input; —: the field has no `asUserId`;
 * a code: the call is refused with it (4401: the socket is closed with that code).
 */
type Cell = '✓' | '—' | 'UNAUTHENTICATED' | 'FORBIDDEN' | 'BAD_USER_INPUT' | '4401';
type Row = Record<Column, Cell>;

const OPERATOR: Row = { anonymous: 'UNAUTHENTICATED', operator: '✓', 'app server': 'FORBIDDEN', 'app server as a user': '—', 'end user': 'FORBIDDEN' };
const APP_SERVER: Row = { anonymous: 'UNAUTHENTICATED', operator: 'FORBIDDEN', 'app server': '✓', 'app server as a user': '—', 'end user': 'FORBIDDEN' };
/** Webhook endpoints (to list), deliveries and dead letters: the app's, and the operator's to look into and replay. */
const APP_SERVER_OR_OPERATOR: Row = { ...APP_SERVER, operator: '✓' };
/** An app server must name the user it acts as: without asUserId it is BAD_USER_INPUT. */
const END_USER: Row = { anonymous: 'UNAUTHENTICATED', operator: 'FORBIDDEN', 'app server': 'BAD_USER_INPUT', 'app server as a user': '✓', 'end user': '✓' };
/** presence: an app server may also ask for any user of its app as itself. */
const END_USER_OR_APP: Row = { ...END_USER, 'app server': '✓' };
/** A socket without a credential is closed at connection_init; the operator's is admitted, but may subscribe to nothing. */
const SUBSCRIPTION: Row = { ...END_USER, anonymous: '4401' };
const SUBSCRIPTION_OR_APP: Row = { ...SUBSCRIPTION, 'app server': '✓' };

// ---- Documents: one per root field. -------------------------------------------------------

const Tenants = graphql(`query MatrixTenants { tenants(first: 1) { edges { node { id } } } }`);
const TenantQ = graphql(`query MatrixTenant($id: ID!) { tenant(id: $id) { id } }`);
const Apps = graphql(`query MatrixApps($tenantId: ID!) { apps(tenantId: $tenantId) { id } }`);
const CreateTenant = graphql(`mutation MatrixCreateTenant($input: CreateTenantInput!) { createTenant(input: $input) { id } }`);
const UpdateTenant = graphql(`
  mutation MatrixUpdateTenant($id: ID!, $input: UpdateTenantInput!) { updateTenant(id: $id, input: $input) { id } }
`);
const CreateApp = graphql(`mutation MatrixCreateApp($input: CreateAppInput!) { createApp(input: $input) { id } }`);
const CreateApiKey = graphql(`mutation MatrixCreateApiKey($appId: ID!) { createApiKey(appId: $appId) { apiKey { id } } }`);
const RevokeApiKey = graphql(`mutation MatrixRevokeApiKey($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`);
const SigningKeys = graphql(`query MatrixSigningKeys { signingKeys { kid } }`);
const RotateSigningKey = graphql(`mutation MatrixRotateSigningKey { rotateSigningKey { current { kid } } }`);

const Users = graphql(`query MatrixUsers { users(first: 1) { edges { node { id } } } }`);
const UpsertUser = graphql(`mutation MatrixUpsertUser($input: UpsertUserInput!) { upsertUser(input: $input) { id } }`);
const CreateUserToken = graphql(`
  mutation MatrixCreateUserToken($input: CreateUserTokenInput!) { createUserToken(input: $input) { expiresAt } }
`);
const RevokeUserSessions = graphql(`mutation MatrixRevokeUserSessions($userId: ID!) { revokeUserSessions(userId: $userId) }`);

const Me = graphql(`query MatrixMe($asUserId: ID) { me(asUserId: $asUserId) { id } }`);
const Conversation = graphql(`query MatrixConversation($id: ID!, $asUserId: ID) { conversation(id: $id, asUserId: $asUserId) { id } }`);
const Conversations = graphql(`
  query MatrixConversations($asUserId: ID) { conversations(first: 1, asUserId: $asUserId) { edges { node { id } } } }
`);
const Messages = graphql(`
  query MatrixMessages($conversationId: ID!, $asUserId: ID) {
    messages(conversationId: $conversationId, first: 1, asUserId: $asUserId) { edges { node { id } } }
  }
`);
const Presence = graphql(`
  query MatrixPresence($userIds: [ID!]!, $asUserId: ID) { presence(userIds: $userIds, asUserId: $asUserId) { userId } }
`);
const CreateConversation = graphql(`
  mutation MatrixCreateConversation($input: CreateConversationInput!, $asUserId: ID) {
    createConversation(input: $input, asUserId: $asUserId) { id }
  }
`);
const AddMembers = graphql(`
  mutation MatrixAddMembers($conversationId: ID!, $userIds: [ID!]!, $asUserId: ID) {
    addMembers(conversationId: $conversationId, userIds: $userIds, asUserId: $asUserId) { id }
  }
`);
const RemoveMember = graphql(`
  mutation MatrixRemoveMember($conversationId: ID!, $userId: ID!, $asUserId: ID) {
    removeMember(conversationId: $conversationId, userId: $userId, asUserId: $asUserId) { id }
  }
`);
const Leave = graphql(`
  mutation MatrixLeave($conversationId: ID!, $asUserId: ID) { leaveConversation(conversationId: $conversationId, asUserId: $asUserId) }
`);
const UpdateMemberRole = graphql(`
  mutation MatrixUpdateMemberRole($conversationId: ID!, $userId: ID!, $asUserId: ID) {
    updateMemberRole(conversationId: $conversationId, userId: $userId, role: READER, asUserId: $asUserId) { role }
  }
`);
const Send = graphql(`
  mutation MatrixSend($input: SendMessageInput!, $asUserId: ID) { sendMessage(input: $input, asUserId: $asUserId) { id } }
`);
const Edit = graphql(`
  mutation MatrixEdit($id: ID!, $asUserId: ID) { editMessage(id: $id, body: "edited", asUserId: $asUserId) { status } }
`);
const Delete = graphql(`mutation MatrixDelete($id: ID!, $asUserId: ID) { deleteMessage(id: $id, asUserId: $asUserId) { status } }`);
const MarkDelivered = graphql(`
  mutation MatrixMarkDelivered($conversationId: ID!, $asUserId: ID) {
    markDelivered(conversationId: $conversationId, seq: 1, asUserId: $asUserId) { lastDeliveredSeq }
  }
`);
const MarkRead = graphql(`
  mutation MatrixMarkRead($conversationId: ID!, $asUserId: ID) {
    markRead(conversationId: $conversationId, seq: 1, asUserId: $asUserId) { lastReadSeq }
  }
`);
const Typing = graphql(`
  mutation MatrixTyping($conversationId: ID!, $asUserId: ID) { sendTyping(conversationId: $conversationId, typing: false, asUserId: $asUserId) }
`);

const WebhookEndpoints = graphql(`query MatrixWebhookEndpoints($appId: ID) { webhookEndpoints(appId: $appId) { id } }`);
const WebhookEndpoint = graphql(`query MatrixWebhookEndpoint($id: ID!) { webhookEndpoint(id: $id) { id } }`);
const WebhookDeliveries = graphql(`
  query MatrixWebhookDeliveries($endpointId: ID!) { webhookDeliveries(endpointId: $endpointId, first: 1) { edges { node { id } } } }
`);
const DeadLetters = graphql(`query MatrixDeadLetters($appId: ID!) { deadLetters(appId: $appId, first: 1) { edges { node { id } } } }`);
const UsageQ = graphql(`query UsageMatrixUsage($tenantId: ID) { usage(tenantId: $tenantId) { tenantId totals { messages } } }`);
const LiveConnections = graphql(`query UsageMatrixLive { liveConnections { total } }`);
const CreateWebhookEndpoint = graphql(`
  mutation MatrixCreateWebhookEndpoint($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }
`);
const UpdateWebhookEndpoint = graphql(`
  mutation MatrixUpdateWebhookEndpoint($id: ID!, $input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $input) { id } }
`);
const DeleteWebhookEndpoint = graphql(`mutation MatrixDeleteWebhookEndpoint($id: ID!) { deleteWebhookEndpoint(id: $id) }`);
const RotateWebhookEndpointSecret = graphql(`
  mutation MatrixRotateWebhookEndpointSecret($id: ID!) { rotateWebhookEndpointSecret(id: $id) { endpoint { id } } }
`);
const ReplayDeadLetter = graphql(`mutation MatrixReplayDeadLetter($id: ID!) { replayDeadLetter(id: $id) { id } }`);
const ReplayDeadLetters = graphql(`mutation MatrixReplayDeadLetters($endpointId: ID!) { replayDeadLetters(endpointId: $endpointId) }`);
const ModerationHook = graphql(`query MatrixModerationHook { moderationHook { url } }`);
const SetModerationHook = graphql(`
  mutation MatrixSetModerationHook($input: SetModerationHookInput!) { setModerationHook(input: $input) { hook { url } } }
`);
const RemoveModerationHook = graphql(`mutation MatrixRemoveModerationHook { removeModerationHook }`);

const ConversationEvents = graphql(`
  subscription MatrixConversationEvents($conversationId: ID!, $asUserId: ID) {
    conversationEvents(conversationId: $conversationId, afterSeq: 0, asUserId: $asUserId) { type }
  }
`);
const InboxEvents = graphql(`subscription MatrixInboxEvents($asUserId: ID) { inboxEvents(asUserId: $asUserId) { type } }`);
const PresenceUpdated = graphql(`
  subscription MatrixPresenceUpdated($userIds: [ID!]!, $asUserId: ID) { presenceUpdated(userIds: $userIds, asUserId: $asUserId) { userId } }
`);

// ---- Fixtures and callers. ----------------------------------------------------------------

let server: TestServer;
/** The app every caller but the operator belongs to; `spare` is the operator's to change. */
let app: SeededApp, spare: SeededApp;
/** Alice is the end user (and the user an app server acts as); Bob shares `conv` with her. */
let alice: SeededUser, bob: SeededUser;
let conv: string;
/** An OAuth2 access token of `app`'s key (POST /v1/auth/token): it must do exactly what the key does. */
let accessToken: string;
/**
 * A local receiver that answers 200 `{"action":"allow"}` at once, never off this machine
 * (hence WEBHOOK_ALLOW_PRIVATE_TARGETS): `app`'s webhook endpoint (every event of the other
 * cells and every replayed dead letter is delivered there) and its moderation hook (asked
 * before every message of `app` is stored, it lets each one through unchanged, so the
 * message cells are not affected by it).
 */
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let endpointId: string;

let dropDatabase = async () => {};

beforeAll(async () => {
  // Rotating the signing key changes it for every server on the store: on PostgreSQL, a database of our own.
  const own = testStore() === 'postgres' ? await createDatabase(inject('adminDatabaseUrl'), 'parley_matrix') : undefined;
  if (own) dropDatabase = async () => void (await own.drop());
  receiver = await startReceiver((_n, _request, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"action":"allow"}'));
  server = await startServer({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', ...(own ? { DATABASE_URL: own.url } : {}) });
  [app, spare] = await Promise.all([seedApp(server), seedApp(server)]);
  [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
  conv = await seedGroup(server, alice, [bob]);
  await ok(server.graphqlUrl, Send, { input: { conversationId: conv, body: 'hello' } }, { token: bob.token });
  const [clientId, clientSecret] = app.apiKey.split('.') as [string, string];
  const res = await fetch(`${server.url}/v1/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
  });
  expect(res.status).toBe(200);
  accessToken = ((await res.json()) as { access_token: string }).access_token;
  endpointId = (await ok(server.graphqlUrl, CreateWebhookEndpoint, { input: { url: receiver.url } }, { apiKey: app.apiKey })).createWebhookEndpoint.endpoint.id;
  await setModerationHook();
});
afterEach(() => disposeAllWs());
afterAll(async () => {
  await server?.close();
  await receiver?.close();
  await dropDatabase();
});

/** A caller: its HTTP credential, its connection_init, and the user it acts as (app servers only). */
type Caller = { http: Credential; ws: WsCredential; asUserId: string | null };
/** Each column as the credentials that make it: an app server's cells run with its key and with its access token. */
const variants: Record<Column, { label: string; caller: () => Caller }[]> = {
  anonymous: [{ label: 'no credential', caller: () => ({ http: { none: true }, ws: { params: undefined }, asUserId: null }) }],
  operator: [{ label: 'ADMIN_TOKEN', caller: () => ({ http: { token: server.adminToken }, ws: { token: server.adminToken }, asUserId: null }) }],
  'app server': [
    { label: 'X-API-Key', caller: () => ({ http: { apiKey: app.apiKey }, ws: { apiKey: app.apiKey }, asUserId: null }) },
    { label: 'access token', caller: () => ({ http: { token: accessToken }, ws: { token: accessToken }, asUserId: null }) },
  ],
  'app server as a user': [
    { label: 'X-API-Key, asUserId', caller: () => ({ http: { apiKey: app.apiKey }, ws: { apiKey: app.apiKey }, asUserId: alice.id }) },
    { label: 'access token, asUserId', caller: () => ({ http: { token: accessToken }, ws: { token: accessToken }, asUserId: alice.id }) },
  ],
  'end user': [{ label: 'user token', caller: () => ({ http: { token: alice.token }, ws: { token: alice.token }, asUserId: null }) }],
};

/** What a call came to: its HTTP status (none over WebSocket), its error codes, and the root field's value. */
type Result = { status?: number; codes: string[]; value: unknown };
type Op = { field: string; row: Row; call: (c: Caller) => Promise<Result> };

const firstValue = (data: unknown) => (data && typeof data === 'object' ? Object.values(data)[0] : undefined);

async function http<R, V>(document: TypedDocumentNode<R, V>, variables: V, c: Caller): Promise<Result> {
  const res = await execute(server.graphqlUrl, document, variables, c.http);
  return { status: res.status, codes: res.errors?.map((e) => e.extensions.code) ?? [], value: firstValue(res.data) };
}

/**
 * Subscribes on a socket opened with the caller's credential and waits until the
 * subscription either delivers something (`poke`, repeated, makes something happen for
 * live-only streams) or ends: refused, or its socket closed (the close code is the result).
 */
function subscription<R, V extends Record<string, unknown>>(
  document: TypedDocumentNode<R, V>,
  variables: (c: Caller) => V,
  poke: () => Promise<unknown> = async () => {},
) {
  return async (c: Caller): Promise<Result> => {
    const sub = subscribeWs(connectWs(server, c.ws), document, variables(c));
    await eventually(async () => {
      if (sub.data.length > 0 || sub.ended) return;
      await poke();
      throw new Error('nothing yet');
    });
    const codes = sub.closed ? [String(sub.closed.code)] : sub.errors.map((e) => e.extensions?.code ?? e.message);
    return { codes, value: firstValue(sub.data[0]) };
  };
}

const admin = () => ({ token: server.adminToken });
const unique = () => Math.random().toString(36).slice(2, 10);
/** A message Alice sent in `conv`, fresh for each call that edits or deletes one. */
const aliceMessage = async () => (await ok(server.graphqlUrl, Send, { input: { conversationId: conv, body: 'mine' } }, { token: alice.token })).sendMessage.id;
/**
 * A fresh dead letter of `app`'s endpoint, for each call that replays one. Written to the
 * store directly: a real one takes a failing receiver and the whole retry schedule, which
 * is webhooks.test.ts's subject; here only who may replay it matters. Replayed, it goes to
 * `receiver`, which takes it.
 */
async function deadLetter() {
  const delivery = await server.deps.db.prisma.webhookDelivery.create({
    data: {
      id: newId.webhookDelivery(),
      endpointId,
      appId: app.appId,
      eventType: 'conversation.message.created',
      conversationId: conv,
      seq: 1,
      payload: { type: 'conversation.message.created', timestamp: new Date().toISOString(), data: { conversationId: conv, seq: 1 } },
      status: 'FAILED',
      attempts: 3,
      lastStatus: 503,
      failedAt: new Date(),
    },
  });
  return delivery.id;
}
/** An endpoint of `app`'s own, for each call that deletes one. */
const newEndpoint = async () =>
  (await ok(server.graphqlUrl, CreateWebhookEndpoint, { input: { url: receiver.url, events: ['conversation.member.left'] } }, { apiKey: app.apiKey }))
    .createWebhookEndpoint.endpoint.id;
/**
 * Sets `app`'s moderation hook (again: a new secret) at `receiver`, for the cells that read or
 * remove one. Fail open as well: should the receiver ever not answer, messages still go through.
 */
const setModerationHook = () =>
  ok(server.graphqlUrl, SetModerationHook, { input: { url: receiver.url, failOpen: true, timeoutMs: 2000 } }, { apiKey: app.apiKey });
/** Connects and disconnects Bob: a presence change for whoever may see him. */
async function toggleBob() {
  const ws = connectWs(server, { token: bob.token });
  await ws.connected;
  await ws.dispose();
}

// ---- The table. ---------------------------------------------------------------------------

const ops: Op[] = [
  // Operator.
  { field: 'Query.tenants', row: OPERATOR, call: (c) => http(Tenants, {}, c) },
  { field: 'Query.tenant', row: OPERATOR, call: (c) => http(TenantQ, { id: spare.tenantId }, c) },
  { field: 'Query.apps', row: OPERATOR, call: (c) => http(Apps, { tenantId: spare.tenantId }, c) },
  { field: 'Mutation.createTenant', row: OPERATOR, call: (c) => http(CreateTenant, { input: { name: `matrix-${unique()}` } }, c) },
  { field: 'Mutation.updateTenant', row: OPERATOR, call: (c) => http(UpdateTenant, { id: spare.tenantId, input: { limits: { maxApps: 20 } } }, c) },
  { field: 'Mutation.createApp', row: OPERATOR, call: (c) => http(CreateApp, { input: { tenantId: spare.tenantId, name: `matrix-${unique()}` } }, c) },
  { field: 'Mutation.createApiKey', row: OPERATOR, call: (c) => http(CreateApiKey, { appId: spare.appId }, c) },
  {
    field: 'Mutation.revokeApiKey',
    row: OPERATOR,
    call: async (c) => {
      const { createApiKey } = await ok(server.graphqlUrl, CreateApiKey, { appId: spare.appId }, admin());
      return http(RevokeApiKey, { id: createApiKey.apiKey.id }, c);
    },
  },
  { field: 'Query.signingKeys', row: OPERATOR, call: (c) => http(SigningKeys, {}, c) },
  // A routine rotation (older keys verify until their tokens expire): every credential here keeps working.
  { field: 'Mutation.rotateSigningKey', row: OPERATOR, call: (c) => http(RotateSigningKey, {}, c) },

  // App server.
  { field: 'Query.users', row: APP_SERVER, call: (c) => http(Users, {}, c) },
  { field: 'Mutation.upsertUser', row: APP_SERVER, call: (c) => http(UpsertUser, { input: { externalId: `matrix-${unique()}` } }, c) },
  { field: 'Mutation.createUserToken', row: APP_SERVER, call: (c) => http(CreateUserToken, { input: { userId: alice.id } }, c) },
  {
    field: 'Mutation.revokeUserSessions',
    row: APP_SERVER,
    // A user of its own: Alice's token must keep working for the other cells.
    call: async (c) => http(RevokeUserSessions, { userId: (await seedUser(server, app)).id }, c),
  },

  // Webhooks: the app's endpoints; their deliveries and dead letters, the operator's too.
  // The operator must name the app; an app server may (its own), or omit it (isolation.test.ts).
  { field: 'Query.webhookEndpoints', row: APP_SERVER_OR_OPERATOR, call: (c) => http(WebhookEndpoints, { appId: app.appId }, c) },
  { field: 'Query.webhookEndpoint', row: APP_SERVER, call: (c) => http(WebhookEndpoint, { id: endpointId }, c) },
  { field: 'Query.webhookDeliveries', row: APP_SERVER_OR_OPERATOR, call: (c) => http(WebhookDeliveries, { endpointId }, c) },
  { field: 'Query.deadLetters', row: APP_SERVER_OR_OPERATOR, call: (c) => http(DeadLetters, { appId: app.appId }, c) },
  // Usage: the operator names the tenant; an app server may name its own.
  { field: 'Query.usage', row: APP_SERVER_OR_OPERATOR, call: (c) => http(UsageQ, { tenantId: app.tenantId }, c) },
  { field: 'Query.liveConnections', row: OPERATOR, call: (c) => http(LiveConnections, {}, c) },
  {
    field: 'Mutation.createWebhookEndpoint',
    row: APP_SERVER,
    call: (c) => http(CreateWebhookEndpoint, { input: { url: receiver.url, events: ['conversation.member.left'] } }, c),
  },
  {
    field: 'Mutation.updateWebhookEndpoint',
    row: APP_SERVER,
    call: (c) => http(UpdateWebhookEndpoint, { id: endpointId, input: { description: `matrix-${unique()}` } }, c),
  },
  { field: 'Mutation.deleteWebhookEndpoint', row: APP_SERVER, call: async (c) => http(DeleteWebhookEndpoint, { id: await newEndpoint() }, c) },
  { field: 'Mutation.rotateWebhookEndpointSecret', row: APP_SERVER, call: (c) => http(RotateWebhookEndpointSecret, { id: endpointId }, c) },
  { field: 'Mutation.replayDeadLetter', row: APP_SERVER_OR_OPERATOR, call: async (c) => http(ReplayDeadLetter, { id: await deadLetter() }, c) },
  {
    field: 'Mutation.replayDeadLetters',
    row: APP_SERVER_OR_OPERATOR,
    // A count: at least the one dead letter written for this call (a count of 0 would not pass as ✓).
    call: async (c) => {
      await deadLetter();
      return http(ReplayDeadLetters, { endpointId }, c);
    },
  },

  // The moderation hook: the app's alone. Each call first makes sure `app` has one: the query
  // answers null without, and removing none is false; neither would pass as ✓.
  {
    field: 'Query.moderationHook',
    row: APP_SERVER,
    call: async (c) => {
      await setModerationHook();
      return http(ModerationHook, {}, c);
    },
  },
  {
    field: 'Mutation.setModerationHook',
    row: APP_SERVER,
    call: (c) => http(SetModerationHook, { input: { url: receiver.url, failOpen: true } }, c),
  },
  {
    field: 'Mutation.removeModerationHook',
    row: APP_SERVER,
    call: async (c) => {
      await setModerationHook();
      return http(RemoveModerationHook, {}, c);
    },
  },

  // End user, or an app server acting as one (Alice, a member of `conv`).
  { field: 'Query.me', row: END_USER, call: (c) => http(Me, { asUserId: c.asUserId }, c) },
  { field: 'Query.conversation', row: END_USER, call: (c) => http(Conversation, { id: conv, asUserId: c.asUserId }, c) },
  { field: 'Query.conversations', row: END_USER, call: (c) => http(Conversations, { asUserId: c.asUserId }, c) },
  { field: 'Query.messages', row: END_USER, call: (c) => http(Messages, { conversationId: conv, asUserId: c.asUserId }, c) },
  { field: 'Query.presence', row: END_USER_OR_APP, call: (c) => http(Presence, { userIds: [bob.id], asUserId: c.asUserId }, c) },
  {
    field: 'Mutation.createConversation',
    row: END_USER,
    call: (c) => http(CreateConversation, { input: { kind: 'GROUP', memberIds: [bob.id], title: 'matrix' }, asUserId: c.asUserId }, c),
  },
  {
    field: 'Mutation.addMembers',
    row: END_USER,
    call: async (c) => http(AddMembers, { conversationId: await seedGroup(server, alice, []), userIds: [bob.id], asUserId: c.asUserId }, c),
  },
  {
    field: 'Mutation.removeMember',
    row: END_USER,
    call: async (c) => http(RemoveMember, { conversationId: await seedGroup(server, alice, [bob]), userId: bob.id, asUserId: c.asUserId }, c),
  },
  {
    field: 'Mutation.leaveConversation',
    row: END_USER,
    // Bob's conversation, so that Alice (a MEMBER) may leave it.
    call: async (c) => http(Leave, { conversationId: await seedGroup(server, bob, [alice]), asUserId: c.asUserId }, c),
  },
  {
    field: 'Mutation.updateMemberRole',
    row: END_USER,
    call: async (c) => http(UpdateMemberRole, { conversationId: await seedGroup(server, alice, [bob]), userId: bob.id, asUserId: c.asUserId }, c),
  },
  { field: 'Mutation.sendMessage', row: END_USER, call: (c) => http(Send, { input: { conversationId: conv, body: 'matrix' }, asUserId: c.asUserId }, c) },
  { field: 'Mutation.editMessage', row: END_USER, call: async (c) => http(Edit, { id: await aliceMessage(), asUserId: c.asUserId }, c) },
  { field: 'Mutation.deleteMessage', row: END_USER, call: async (c) => http(Delete, { id: await aliceMessage(), asUserId: c.asUserId }, c) },
  { field: 'Mutation.markDelivered', row: END_USER, call: (c) => http(MarkDelivered, { conversationId: conv, asUserId: c.asUserId }, c) },
  { field: 'Mutation.markRead', row: END_USER, call: (c) => http(MarkRead, { conversationId: conv, asUserId: c.asUserId }, c) },
  { field: 'Mutation.sendTyping', row: END_USER, call: (c) => http(Typing, { conversationId: conv, asUserId: c.asUserId }, c) },

  // Subscriptions, over WebSocket: the connection_init credential decides.
  {
    field: 'Subscription.conversationEvents',
    row: SUBSCRIPTION,
    // afterSeq 0: the history arrives at once.
    call: subscription(ConversationEvents, (c) => ({ conversationId: conv, asUserId: c.asUserId })),
  },
  {
    field: 'Subscription.inboxEvents',
    row: SUBSCRIPTION,
    call: subscription(InboxEvents, (c) => ({ asUserId: c.asUserId }), () => ok(server.graphqlUrl, Typing, { conversationId: conv }, { token: bob.token })),
  },
  {
    field: 'Subscription.presenceUpdated',
    row: SUBSCRIPTION_OR_APP,
    call: subscription(PresenceUpdated, (c) => ({ userIds: [bob.id], asUserId: c.asUserId }), toggleBob),
  },
];

// ---- The tests. ---------------------------------------------------------------------------

const rootFields = () =>
  [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((type) =>
    Object.values(type?.getFields() ?? {}).map((field) => ({ name: `${type!.name}.${field.name}`, field })),
  );
const takesAsUserId = (name: string) => rootFields().find((f) => f.name === name)?.field.args.some((a) => a.name === 'asUserId') ?? false;

/** The table of docs/SECURITY.md, "Who may call what": operation → column → cell. */
function docsTable() {
  const text = readFileSync(new URL('../../docs/SECURITY.md', import.meta.url), 'utf8');
  const section = text.split(/^## Who may call what$/m)[1];
  if (section === undefined) throw new Error('docs/SECURITY.md has no "## Who may call what" section');
  const cells = (line: string) => line.split('|').slice(1, -1).map((cell) => cell.trim().replace(/[`¹²³⁴⁵⁶⁷⁸⁹]/g, ''));
  // The first table of the section: a header, its separator, then rows up to the first non-table line.
  const table = section.split('\n').slice(section.split('\n').findIndex((line) => line.startsWith('|')));
  const end = table.findIndex((line) => !line.startsWith('|'));
  const [header, , ...rows] = (end === -1 ? table : table.slice(0, end)).map(cells);
  return { header, rows: Object.fromEntries(rows.map(([op, ...values]) => [op, Object.fromEntries(header!.slice(1).map((c, i) => [c, values[i]]))])) };
}

describe('who may call what', () => {
  it('has a row for every query, mutation and subscription of the schema, and no other', () => {
    expect(ops.map((o) => o.field).sort()).toEqual(rootFields().map((f) => f.name).sort());
    expect(new Set(ops.map((o) => o.field)).size).toBe(ops.length);
  });

  it('"app server as a user" is — exactly where the field has no asUserId', () => {
    for (const op of ops) expect(op.row['app server as a user'] === '—', op.field).toBe(!takesAsUserId(op.field));
  });

  it('matches the table in docs/SECURITY.md ("Who may call what")', () => {
    const { header, rows } = docsTable();
    expect(header).toEqual(['operation', ...COLUMNS]);
    expect(rows).toEqual(Object.fromEntries(ops.map((o) => [o.field, o.row])));
  });

  // Footnote 1 of the docs table: asUserId is for app servers; an end user naming someone else is refused.
  const actingOps = ops.filter((o) => takesAsUserId(o.field)).map((o) => [o.field, o] as const);
  it.each(actingOps)('%s: an end user naming another user in asUserId → FORBIDDEN', async (_field, op) => {
    const result = await op.call({ http: { token: alice.token }, ws: { token: alice.token }, asUserId: bob.id });
    expect(result.codes).toEqual(['FORBIDDEN']);
    expect(result.value ?? null).toBeNull();
  });

  describe.each(ops.map((o) => [o.field, o] as const))('%s', (_field, op) => {
    type Case = { name: string; expected: Cell; variant: (typeof variants)[Column][number] | undefined };
    const cells = COLUMNS.flatMap((column): Case[] => {
      const expected = op.row[column];
      if (expected === '—') return [{ name: `${column} → —`, expected, variant: undefined }];
      return variants[column].map((variant) => ({ name: `${column} (${variant.label}) → ${expected}`, expected, variant }));
    });

    it.each(cells.map((c) => [c.name, c] as const))('%s', async (_name, { expected, variant }) => {
      if (!variant) {
        // Nothing to act as: the field takes no asUserId (a document passing one does not validate).
        expect(takesAsUserId(op.field)).toBe(false);
        return;
      }
      const result = await op.call(variant.caller());
      if (expected === '✓') {
        expect(result.codes).toEqual([]);
        expect(result.value).toBeTruthy();
        if (result.status !== undefined) expect(result.status).toBe(200);
        return;
      }
      expect(result.codes).toEqual([expected]);
      expect(result.value ?? null).toBeNull();
      if (result.status !== undefined) expect(result.status).toBe(expected === 'UNAUTHENTICATED' ? 401 : 200);
    });
  });
});

import { readFileSync } from 'node:fs';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { buildSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/lib/ids.ts';
import { graphql } from '../generated/index.ts';
import { execute, ok, type Credential, type GqlResponse } from '../helpers/client.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// CONTRACT.md "Who calls": a resource of another app is NOT_FOUND, never FORBIDDEN. Every
// operation an app server or end user may call is aimed, with app B's credentials, at app
// A's ids; each answer must be the one an id that exists nowhere gets.

const Me = graphql(`query IsolationMe($asUserId: ID) { me(asUserId: $asUserId) { id externalId displayName } }`);
const Conv = graphql(`
  query IsolationConversation($id: ID!, $asUserId: ID) {
    conversation(id: $id, asUserId: $asUserId) { id title lastSeq members { userId role lastReadSeq } }
  }
`);
const Convs = graphql(`
  query IsolationConversations($asUserId: ID) {
    conversations(first: 100, asUserId: $asUserId) { edges { node { id title members { userId } } } }
  }
`);
const Messages = graphql(`
  query IsolationMessages($conversationId: ID!, $asUserId: ID) {
    messages(conversationId: $conversationId, first: 100, asUserId: $asUserId) { edges { node { id body sender { id } } } }
  }
`);
const Presence = graphql(`
  query IsolationPresence($userIds: [ID!]!, $asUserId: ID) { presence(userIds: $userIds, asUserId: $asUserId) { userId online } }
`);
const Users = graphql(`query IsolationUsers { users(first: 100) { edges { node { id externalId displayName } } } }`);
const Upsert = graphql(`
  mutation IsolationUpsertUser($input: UpsertUserInput!) { upsertUser(input: $input) { id externalId displayName } }
`);
const Token = graphql(`mutation IsolationCreateUserToken($userId: ID!) { createUserToken(input: { userId: $userId }) { token } }`);
const Revoke = graphql(`mutation IsolationRevokeUserSessions($userId: ID!) { revokeUserSessions(userId: $userId) }`);
const Create = graphql(`
  mutation IsolationCreateConversation($input: CreateConversationInput!, $asUserId: ID) {
    createConversation(input: $input, asUserId: $asUserId) { id members { userId } }
  }
`);
const Add = graphql(`
  mutation IsolationAddMembers($conversationId: ID!, $userIds: [ID!]!, $asUserId: ID) {
    addMembers(conversationId: $conversationId, userIds: $userIds, asUserId: $asUserId) { id members { userId role } }
  }
`);
const Remove = graphql(`
  mutation IsolationRemoveMember($conversationId: ID!, $userId: ID!, $asUserId: ID) {
    removeMember(conversationId: $conversationId, userId: $userId, asUserId: $asUserId) { id members { userId } }
  }
`);
const Leave = graphql(`
  mutation IsolationLeave($conversationId: ID!, $asUserId: ID) { leaveConversation(conversationId: $conversationId, asUserId: $asUserId) }
`);
const Role = graphql(`
  mutation IsolationUpdateMemberRole($conversationId: ID!, $userId: ID!, $role: MemberRole!, $asUserId: ID) {
    updateMemberRole(conversationId: $conversationId, userId: $userId, role: $role, asUserId: $asUserId) { userId role }
  }
`);
const Send = graphql(`
  mutation IsolationSend($input: SendMessageInput!, $asUserId: ID) { sendMessage(input: $input, asUserId: $asUserId) { id seq body } }
`);
const Edit = graphql(`
  mutation IsolationEdit($id: ID!, $body: String!, $asUserId: ID) { editMessage(id: $id, body: $body, asUserId: $asUserId) { id body } }
`);
const Delete = graphql(`
  mutation IsolationDelete($id: ID!, $asUserId: ID) { deleteMessage(id: $id, asUserId: $asUserId) { id body status } }
`);
const Delivered = graphql(`
  mutation IsolationMarkDelivered($conversationId: ID!, $seq: Int!, $asUserId: ID) {
    markDelivered(conversationId: $conversationId, seq: $seq, asUserId: $asUserId) { userId lastDeliveredSeq }
  }
`);
const Read = graphql(`
  mutation IsolationMarkRead($conversationId: ID!, $seq: Int!, $asUserId: ID) {
    markRead(conversationId: $conversationId, seq: $seq, asUserId: $asUserId) { userId lastReadSeq }
  }
`);
const Typing = graphql(`
  mutation IsolationTyping($conversationId: ID!, $asUserId: ID) {
    sendTyping(conversationId: $conversationId, typing: true, asUserId: $asUserId)
  }
`);
const HookEndpoints = graphql(`query IsolationWebhookEndpoints($appId: ID) { webhookEndpoints(appId: $appId) { id appId url } }`);
const HookEndpoint = graphql(`query IsolationWebhookEndpoint($id: ID!) { webhookEndpoint(id: $id) { id appId url events } }`);
const HookDeliveries = graphql(`
  query IsolationWebhookDeliveries($endpointId: ID!) {
    webhookDeliveries(endpointId: $endpointId, first: 100) { edges { node { id endpointId payload status } } }
  }
`);
const Usage = graphql(`
  query IsolationUsage($tenantId: ID) {
    usage(tenantId: $tenantId) { tenantId currentSockets totals { messages monthlyActiveUsers } apps { appId name totals { messages } } }
  }
`);
const DeadLetters = graphql(`
  query IsolationDeadLetters($appId: ID!) { deadLetters(appId: $appId, first: 100) { edges { node { id endpointId payload } } } }
`);
const CreateHook = graphql(`
  mutation IsolationCreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { secret endpoint { id appId url } }
  }
`);
const UpdateHook = graphql(`
  mutation IsolationUpdateWebhookEndpoint($id: ID!, $input: UpdateWebhookEndpointInput!) {
    updateWebhookEndpoint(id: $id, input: $input) { id appId url status }
  }
`);
const DeleteHook = graphql(`mutation IsolationDeleteWebhookEndpoint($id: ID!) { deleteWebhookEndpoint(id: $id) }`);
const RotateHook = graphql(`
  mutation IsolationRotateWebhookEndpointSecret($id: ID!) { rotateWebhookEndpointSecret(id: $id) { secret endpoint { id } } }
`);
const ReplayDead = graphql(`mutation IsolationReplayDeadLetter($id: ID!) { replayDeadLetter(id: $id) { id status payload } }`);
const ReplayAllDead = graphql(`mutation IsolationReplayDeadLetters($endpointId: ID!) { replayDeadLetters(endpointId: $endpointId) }`);
const ModHook = graphql(`query IsolationModerationHook { moderationHook { url failOpen timeoutMs } }`);
const SetModHook = graphql(`
  mutation IsolationSetModerationHook($input: SetModerationHookInput!) { setModerationHook(input: $input) { secret hook { url failOpen } } }
`);
const RemoveModHook = graphql(`mutation IsolationRemoveModerationHook { removeModerationHook }`);
const Tenants = graphql(`query IsolationTenants { tenants(first: 100) { edges { node { id name } } } }`);
const Tenant = graphql(`query IsolationTenant($id: ID!) { tenant(id: $id) { id name plan } }`);
const Apps = graphql(`query IsolationApps($tenantId: ID!) { apps(tenantId: $tenantId) { id name apiKeys { id } } }`);
const CreateTenant = graphql(`mutation IsolationCreateTenant($input: CreateTenantInput!) { createTenant(input: $input) { id } }`);
const UpdateTenant = graphql(`
  mutation IsolationUpdateTenant($id: ID!, $input: UpdateTenantInput!) { updateTenant(id: $id, input: $input) { id plan status } }
`);
const CreateApp = graphql(`mutation IsolationCreateApp($input: CreateAppInput!) { createApp(input: $input) { id } }`);
const CreateKey = graphql(`mutation IsolationCreateApiKey($appId: ID!) { createApiKey(appId: $appId) { key } }`);
const RevokeKey = graphql(`mutation IsolationRevokeApiKey($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`);

let server: TestServer;
let A: SeededApp, B: SeededApp;
let a1: SeededUser, a2: SeededUser, a3: SeededUser, b1: SeededUser, b2: SeededUser;
let convA: string, convB: string;
let messageIds: string[];
/** App A's webhook endpoint, and a dead letter of it. */
let endpointA: string, deadLetterA: string;
const bodies = ['A-secret-body-one', 'A-secret-body-two'];
const hijackName = `isolation-hijack-${newId.message()}`;
/**
 * Webhook targets on loopback (the server allows private targets): nothing here is ever
 * delivered, and if something were, it would not leave this machine. Nothing listens on port 9.
 */
const hookA = 'http://127.0.0.1:9/A-secret-hook';
const hookB = 'http://127.0.0.1:9/isolation-b';
/**
 * App A's moderation hook, set after A's messages: nothing of A's is sent afterwards, so it is
 * never asked (and nothing listens there). B's (set by setModerationHook's row) fails open.
 */
const moderationA = 'http://127.0.0.1:9/A-secret-moderation';
const moderationB = 'http://127.0.0.1:9/isolation-b-moderation';

/** What an operation is aimed at: app A's real ids, or well-formed ids that exist nowhere. */
type Target = {
  conversationId: string; messageId: string; userId: string; otherUserId: string;
  externalId: string; tenantId: string; appId: string; apiKeyId: string; endpointId: string; deliveryId: string;
};
const targetA = (): Target => ({
  conversationId: convA, messageId: messageIds[0]!, userId: a1.id, otherUserId: a2.id, externalId: a1.externalId,
  tenantId: A.tenantId, appId: A.appId, apiKeyId: A.apiKeyId, endpointId: endpointA, deliveryId: deadLetterA,
});
const nowhere = (): Target => ({
  conversationId: newId.conversation(), messageId: newId.message(), userId: newId.user(), otherUserId: newId.user(),
  externalId: `nobody-${newId.message()}`, tenantId: newId.tenant(), appId: newId.app(), apiKeyId: newId.apiKeyId(),
  endpointId: newId.webhookEndpoint(), deliveryId: newId.webhookDelivery(),
});

type CallerName = 'B key as B user' | 'B user token' | 'B key as A user' | 'B key (app)' | 'A key (app)' | 'A user token';
type Caller = { cred: Credential; asUserId: string | null };
function callerFor(name: CallerName, t: Target): Caller {
  switch (name) {
    case 'B key as B user': return { cred: { apiKey: B.apiKey }, asUserId: b1.id };
    case 'B user token': return { cred: { token: b1.token }, asUserId: null };
    case 'B key as A user': return { cred: { apiKey: B.apiKey }, asUserId: t.userId };
    case 'B key (app)': return { cred: { apiKey: B.apiKey }, asUserId: null };
    case 'A key (app)': return { cred: { apiKey: A.apiKey }, asUserId: null };
    case 'A user token': return { cred: { token: a1.token }, asUserId: null };
  }
}

/** NO_A_DATA: the call succeeds (lists, upserts) and nothing of app A is in the answer. */
type Outcome = 'NOT_FOUND' | 'FORBIDDEN' | 'NO_A_DATA';
type Call = (t: Target, c: Caller) => Promise<GqlResponse<unknown>>;
type Op = { op: string; variant?: string; call: Call; outcomes: Partial<Record<CallerName, Outcome>> };

const run = <R, V>(doc: TypedDocumentNode<R, V>, variables: V, c: Caller) => execute(server.graphqlUrl, doc, variables, c.cred);
/** End-user operations: as a B user (by key or token) and, by B's key, as an A user. */
const asActor = (outcome: Outcome): Op['outcomes'] => ({ 'B key as B user': outcome, 'B user token': outcome, 'B key as A user': 'NOT_FOUND' });
/** App-server operations: B's key, and a B user's token (the wrong scope, which leaks nothing). */
const asApp = (outcome: Outcome): Op['outcomes'] => ({ 'B key (app)': outcome, 'B user token': 'FORBIDDEN' });

const ops: Op[] = [
  { op: 'me', call: (_t, c) => run(Me, { asUserId: c.asUserId }, c), outcomes: asActor('NO_A_DATA') },
  { op: 'conversation', call: (t, c) => run(Conv, { id: t.conversationId, asUserId: c.asUserId }, c), outcomes: asActor('NOT_FOUND') },
  { op: 'conversations', call: (_t, c) => run(Convs, { asUserId: c.asUserId }, c), outcomes: asActor('NO_A_DATA') },
  { op: 'messages', call: (t, c) => run(Messages, { conversationId: t.conversationId, asUserId: c.asUserId }, c), outcomes: asActor('NOT_FOUND') },
  {
    op: 'presence',
    call: (t, c) => run(Presence, { userIds: [t.userId, t.otherUserId], asUserId: c.asUserId }, c),
    outcomes: { ...asActor('NO_A_DATA'), 'B key (app)': 'NO_A_DATA' },
  },
  { op: 'users', call: (_t, c) => run(Users, {}, c), outcomes: asApp('NO_A_DATA') },
  {
    op: 'upsertUser',
    variant: "A user's externalId",
    call: (t, c) => run(Upsert, { input: { externalId: t.externalId, displayName: 'hijacked', metadata: { hijacked: true } } }, c),
    outcomes: asApp('NO_A_DATA'),
  },
  { op: 'createUserToken', call: (t, c) => run(Token, { userId: t.userId }, c), outcomes: asApp('NOT_FOUND') },
  { op: 'revokeUserSessions', call: (t, c) => run(Revoke, { userId: t.userId }, c), outcomes: asApp('NOT_FOUND') },
  {
    op: 'createConversation',
    variant: 'A users as members',
    call: (t, c) => run(Create, { input: { kind: 'GROUP', memberIds: [t.userId, t.otherUserId], title: 'hijack' }, asUserId: c.asUserId }, c),
    outcomes: asActor('NOT_FOUND'),
  },
  {
    op: 'createConversation',
    variant: 'DIRECT with an A user',
    call: (t, c) => run(Create, { input: { kind: 'DIRECT', memberIds: [t.userId] }, asUserId: c.asUserId }, c),
    outcomes: asActor('NOT_FOUND'),
  },
  {
    op: 'addMembers',
    variant: "A's conversation",
    call: (t, c) => run(Add, { conversationId: t.conversationId, userIds: [b2.id], asUserId: c.asUserId }, c),
    outcomes: asActor('NOT_FOUND'),
  },
  {
    op: 'addMembers',
    variant: "A user into B's conversation",
    call: (t, c) => run(Add, { conversationId: convB, userIds: [t.userId], asUserId: c.asUserId }, c),
    outcomes: asActor('NOT_FOUND'),
  },
  {
    op: 'removeMember',
    variant: "A's conversation",
    call: (t, c) => run(Remove, { conversationId: t.conversationId, userId: t.otherUserId, asUserId: c.asUserId }, c),
    outcomes: asActor('NOT_FOUND'),
  },
  {
    op: 'removeMember',
    variant: "A user from B's conversation",
    call: (t, c) => run(Remove, { conversationId: convB, userId: t.userId, asUserId: c.asUserId }, c),
    outcomes: asActor('NOT_FOUND'),
  },
  {
    op: 'leaveConversation',
    call: (t, c) => run(Leave, { conversationId: t.conversationId, asUserId: c.asUserId }, c),
    outcomes: asActor('NOT_FOUND'),
  },
  {
    op: 'updateMemberRole',
    variant: "A's conversation",
    call: (t, c) => run(Role, { conversationId: t.conversationId, userId: t.otherUserId, role: 'READER', asUserId: c.asUserId }, c),
    outcomes: asActor('NOT_FOUND'),
  },
  {
    op: 'updateMemberRole',
    variant: "A user in B's conversation",
    call: (t, c) => run(Role, { conversationId: convB, userId: t.userId, role: 'OWNER', asUserId: c.asUserId }, c),
    outcomes: asActor('NOT_FOUND'),
  },
  {
    op: 'sendMessage',
    call: (t, c) => run(Send, { input: { conversationId: t.conversationId, body: 'hijack' }, asUserId: c.asUserId }, c),
    outcomes: asActor('NOT_FOUND'),
  },
  { op: 'editMessage', call: (t, c) => run(Edit, { id: t.messageId, body: 'hijack', asUserId: c.asUserId }, c), outcomes: asActor('NOT_FOUND') },
  { op: 'deleteMessage', call: (t, c) => run(Delete, { id: t.messageId, asUserId: c.asUserId }, c), outcomes: asActor('NOT_FOUND') },
  {
    op: 'markDelivered',
    call: (t, c) => run(Delivered, { conversationId: t.conversationId, seq: 1, asUserId: c.asUserId }, c),
    outcomes: asActor('NOT_FOUND'),
  },
  {
    op: 'markRead',
    call: (t, c) => run(Read, { conversationId: t.conversationId, seq: 1, asUserId: c.asUserId }, c),
    outcomes: asActor('NOT_FOUND'),
  },
  { op: 'sendTyping', call: (t, c) => run(Typing, { conversationId: t.conversationId, asUserId: c.asUserId }, c), outcomes: asActor('NOT_FOUND') },

  // Webhooks: an app server's own endpoints, deliveries and dead letters only.
  { op: 'webhookEndpoints', variant: 'no appId', call: (_t, c) => run(HookEndpoints, {}, c), outcomes: asApp('NO_A_DATA') },
  { op: 'webhookEndpoints', variant: "A's app", call: (t, c) => run(HookEndpoints, { appId: t.appId }, c), outcomes: asApp('NOT_FOUND') },
  { op: 'webhookEndpoints', variant: "B's own app", call: (_t, c) => run(HookEndpoints, { appId: B.appId }, c), outcomes: asApp('NO_A_DATA') },
  { op: 'webhookEndpoint', call: (t, c) => run(HookEndpoint, { id: t.endpointId }, c), outcomes: asApp('NOT_FOUND') },
  { op: 'webhookDeliveries', call: (t, c) => run(HookDeliveries, { endpointId: t.endpointId }, c), outcomes: asApp('NOT_FOUND') },
  // Usage: an app server sees its own figures; A's tenant id is NOT_FOUND, as if it did not exist.
  { op: 'usage', variant: "A's tenant", call: (t, c) => run(Usage, { tenantId: t.tenantId }, c), outcomes: asApp('NOT_FOUND') },
  { op: 'usage', variant: 'its own', call: (_t, c) => run(Usage, {}, c), outcomes: asApp('NO_A_DATA') },
  { op: 'deadLetters', variant: "A's app", call: (t, c) => run(DeadLetters, { appId: t.appId }, c), outcomes: asApp('NOT_FOUND') },
  { op: 'deadLetters', variant: "B's own app", call: (_t, c) => run(DeadLetters, { appId: B.appId }, c), outcomes: asApp('NO_A_DATA') },
  {
    op: 'createWebhookEndpoint',
    // It has no id to aim at A: it must create B's endpoint (A's appId in the answer would fail the row).
    call: (_t, c) => run(CreateHook, { input: { url: hookB, events: ['conversation.member.left'] } }, c),
    outcomes: asApp('NO_A_DATA'),
  },
  {
    op: 'updateWebhookEndpoint',
    call: (t, c) => run(UpdateHook, { id: t.endpointId, input: { url: hookB, events: ['*'], status: 'DISABLED' } }, c),
    outcomes: asApp('NOT_FOUND'),
  },
  { op: 'deleteWebhookEndpoint', call: (t, c) => run(DeleteHook, { id: t.endpointId }, c), outcomes: asApp('NOT_FOUND') },
  { op: 'rotateWebhookEndpointSecret', call: (t, c) => run(RotateHook, { id: t.endpointId }, c), outcomes: asApp('NOT_FOUND') },
  { op: 'replayDeadLetter', call: (t, c) => run(ReplayDead, { id: t.deliveryId }, c), outcomes: asApp('NOT_FOUND') },
  { op: 'replayDeadLetters', call: (t, c) => run(ReplayAllDead, { endpointId: t.endpointId }, c), outcomes: asApp('NOT_FOUND') },

  // The moderation hook: no id to aim at A; each call must read, set or remove B's own, never A's
  // (A's URL in an answer fails the row; the snapshot proves A's hook unchanged).
  { op: 'moderationHook', call: (_t, c) => run(ModHook, {}, c), outcomes: asApp('NO_A_DATA') },
  {
    op: 'setModerationHook',
    call: (_t, c) => run(SetModHook, { input: { url: moderationB, failOpen: true, timeoutMs: 100 } }, c),
    outcomes: asApp('NO_A_DATA'),
  },
  { op: 'removeModerationHook', call: (_t, c) => run(RemoveModHook, {}, c), outcomes: asApp('NO_A_DATA') },
];

const SigningKeys = graphql(`query IsolationSigningKeys { signingKeys { kid } }`);
const LiveConnections = graphql(`query IsolationLiveConnections { liveConnections { total tenants { tenantId name sockets } } }`);
const RotateSigningKey = graphql(`
  mutation IsolationRotateSigningKey($input: RotateSigningKeyInput) { rotateSigningKey(input: $input) { current { kid } } }
`);

/** Operator-only fields: no app credential reaches them, not even tenant A's own. */
const asNonOperator: Op['outcomes'] = {
  'B key (app)': 'FORBIDDEN', 'B user token': 'FORBIDDEN', 'A key (app)': 'FORBIDDEN', 'A user token': 'FORBIDDEN',
};
const operatorOps: Op[] = [
  { op: 'tenants', call: (_t, c) => run(Tenants, {}, c), outcomes: asNonOperator },
  { op: 'tenant', call: (t, c) => run(Tenant, { id: t.tenantId }, c), outcomes: asNonOperator },
  { op: 'apps', call: (t, c) => run(Apps, { tenantId: t.tenantId }, c), outcomes: asNonOperator },
  { op: 'createTenant', call: (_t, c) => run(CreateTenant, { input: { name: hijackName, plan: 'ENTERPRISE' } }, c), outcomes: asNonOperator },
  {
    op: 'updateTenant',
    call: (t, c) => run(UpdateTenant, { id: t.tenantId, input: { plan: 'FREE', status: 'SUSPENDED' } }, c),
    outcomes: asNonOperator,
  },
  { op: 'createApp', call: (t, c) => run(CreateApp, { input: { tenantId: t.tenantId, name: hijackName } }, c), outcomes: asNonOperator },
  { op: 'createApiKey', call: (t, c) => run(CreateKey, { appId: t.appId }, c), outcomes: asNonOperator },
  { op: 'revokeApiKey', call: (t, c) => run(RevokeKey, { id: t.apiKeyId }, c), outcomes: asNonOperator },
  // Platform-wide, not a tenant's: no app credential lists or rotates the token signing keys.
  { op: 'signingKeys', call: (_t, c) => run(SigningKeys, {}, c), outcomes: asNonOperator },
  // Platform-wide too: live socket counts of every tenant.
  { op: 'liveConnections', call: (_t, c) => run(LiveConnections, {}, c), outcomes: asNonOperator },
  { op: 'rotateSigningKey', call: (_t, c) => run(RotateSigningKey, { input: { retirePrevious: 'NOW' } }, c), outcomes: asNonOperator },
];

/** One [name, row] per operation x caller, so that a new operation needs one entry above. */
const rowsOf = (list: Op[]) =>
  list.flatMap(({ op, variant, call, outcomes }) =>
    Object.entries(outcomes).map(([caller, outcome]) => {
      const name = `${op}${variant ? ` (${variant})` : ''} by ${caller} → ${outcome}`;
      return [name, { call, caller: caller as CallerName, outcome: outcome! }] as const;
    }),
  );

/** Everything of app A that must never show up in an answer to app B. */
const secretsOfA = () => [
  A.tenantId, A.appId, A.apiKeyId, a1.id, a2.id, a3.id, convA, ...messageIds, ...bodies, 'A-secret-title', endpointA, deadLetterA, hookA, moderationA,
];

/** App A's rows as the store holds them, to prove the matrix changed none of them. */
async function snapshotA() {
  const p = server.deps.db.prisma;
  const appId = A.appId;
  return {
    tenant: await p.tenant.findUnique({ where: { id: A.tenantId } }),
    apps: await p.app.findMany({ where: { tenantId: A.tenantId } }),
    apiKeys: await p.apiKey.findMany({ where: { appId }, orderBy: { id: 'asc' } }),
    users: await p.user.findMany({ where: { appId }, orderBy: { id: 'asc' } }),
    sessions: await p.session.findMany({ where: { appId }, orderBy: { id: 'asc' } }),
    conversations: await p.conversation.findMany({ where: { appId }, orderBy: { id: 'asc' } }),
    members: await p.membership.findMany({ where: { appId }, orderBy: [{ conversationId: 'asc' }, { userId: 'asc' }] }),
    messages: await p.message.findMany({ where: { appId }, orderBy: { seq: 'asc' } }),
    events: await p.conversationEvent.findMany({ where: { appId }, orderBy: { seq: 'asc' } }),
    webhookEndpoints: await p.webhookEndpoint.findMany({ where: { appId }, orderBy: { id: 'asc' } }),
    webhookDeliveries: await p.webhookDelivery.findMany({ where: { appId }, orderBy: { id: 'asc' } }),
    webhookAttempts: await p.webhookAttempt.findMany({ where: { delivery: { appId } }, orderBy: [{ deliveryId: 'asc' }, { attempt: 'asc' }] }),
    moderationHook: await p.moderationHook.findUnique({ where: { appId } }),
  };
}
let before: Awaited<ReturnType<typeof snapshotA>>;

beforeAll(async () => {
  server = await startServer({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' });
  [A, B] = await Promise.all([seedApp(server), seedApp(server)]);
  [a1, a2, a3] = (await seedUsers(server, A, 3)) as [SeededUser, SeededUser, SeededUser];
  [b1, b2] = (await seedUsers(server, B, 2)) as [SeededUser, SeededUser];
  convB = await seedGroup(server, b1, [b2]);
  const { createConversation } = await ok(
    server.graphqlUrl,
    Create,
    { input: { kind: 'GROUP', memberIds: [a2.id, a3.id], title: 'A-secret-title' } },
    { token: a1.token },
  );
  convA = createConversation.id;
  await ok(server.graphqlUrl, Role, { conversationId: convA, userId: a3.id, role: 'ADMIN' }, { token: a1.token });
  messageIds = [];
  for (const [i, body] of bodies.entries()) {
    const sender = i === 0 ? a1 : a2;
    messageIds.push((await ok(server.graphqlUrl, Send, { input: { conversationId: convA, body } }, { token: sender.token })).sendMessage.id);
  }
  await ok(server.graphqlUrl, Read, { conversationId: convA, seq: 1 }, { token: a2.token });
  // After A's events: the endpoint gets no delivery that a worker could change under the snapshot.
  endpointA = (await ok(server.graphqlUrl, CreateHook, { input: { url: hookA } }, { apiKey: A.apiKey })).createWebhookEndpoint.endpoint.id;
  // A dead letter written to the store directly (a real one takes a failing receiver and the
  // whole retry schedule, webhooks.test.ts's subject): it stays FAILED unless replayed, so the
  // snapshot proves B's replays did not reach it.
  deadLetterA = newId.webhookDelivery();
  await server.deps.db.prisma.webhookDelivery.create({
    data: {
      id: deadLetterA,
      endpointId: endpointA,
      appId: A.appId,
      eventType: 'conversation.message.created',
      conversationId: convA,
      seq: 1,
      payload: { type: 'conversation.message.created', data: { conversationId: convA, seq: 1, message: { id: messageIds[0], body: bodies[0] } } },
      status: 'FAILED',
      attempts: 3,
      lastStatus: 503,
      failedAt: new Date(),
    },
  });
  await ok(server.graphqlUrl, SetModHook, { input: { url: moderationA } }, { apiKey: A.apiKey });
  before = await snapshotA();
});
afterAll(() => server?.close());

describe('tenant isolation', () => {
  it('has a row for every Query and Mutation field an app server or end user may call', () => {
    const schema = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));
    const roots = [schema.getQueryType(), schema.getMutationType()];
    const fields = roots.flatMap((type) => Object.values(type?.getFields() ?? {}));
    const operatorOnly = ['tenants', 'tenant', 'apps', 'createTenant', 'updateTenant', 'createApp', 'createApiKey', 'revokeApiKey', 'signingKeys', 'rotateSigningKey', 'liveConnections'];
    const callable = fields.filter((f) => !operatorOnly.includes(f.name));
    expect(new Set(ops.map((o) => o.op))).toEqual(new Set(callable.map((f) => f.name)));
    expect(new Set(operatorOps.map((o) => o.op))).toEqual(new Set(operatorOnly));
    // Every field that acts as a user is also tried by B's key acting as an A user.
    for (const field of callable.filter((f) => f.args.some((a) => a.name === 'asUserId'))) {
      expect(ops.filter((o) => o.op === field.name).every((o) => o.outcomes['B key as A user'] === 'NOT_FOUND'), field.name).toBe(true);
    }
  });

  it.each(rowsOf(ops))("%s, against app A's ids", async (_name, { call, caller, outcome }) => {
    const res = await call(targetA(), callerFor(caller, targetA()));
    const answer = JSON.stringify({ data: res.data, errors: res.errors });
    for (const secret of secretsOfA()) expect(answer).not.toContain(secret);
    if (outcome === 'NO_A_DATA') {
      expect(res.errors).toBeUndefined();
      expect(res.data).toBeTruthy();
      return;
    }
    expect(res.errors?.map((e) => e.extensions.code)).toEqual([outcome]);
    // Indistinguishable from an id that exists nowhere: the same code and the same message.
    const unknown = nowhere();
    const twin = await call(unknown, callerFor(caller, unknown));
    expect(twin.errors?.map((e) => [e.extensions.code, e.message])).toEqual(res.errors?.map((e) => [e.extensions.code, e.message]));
  });

  it.each(rowsOf(operatorOps))('operator field %s, whatever the id', async (_name, { call, caller, outcome }) => {
    const res = await call(targetA(), callerFor(caller, targetA()));
    expect(res.errors?.map((e) => e.extensions.code)).toEqual([outcome]);
    expect(Object.values(res.data ?? {}).filter((v) => v !== null)).toEqual([]);
    const unknown = nowhere();
    const twin = await call(unknown, callerFor(caller, unknown));
    expect(twin.errors?.map((e) => [e.extensions.code, e.message])).toEqual(res.errors?.map((e) => [e.extensions.code, e.message]));
  });

  it("leaves app A's data exactly as it was, and A's credentials working", async () => {
    expect(await snapshotA()).toEqual(before);
    const conversation = (await ok(server.graphqlUrl, Conv, { id: convA }, { token: a1.token })).conversation;
    expect(conversation?.lastSeq).toBe(before.conversations[0]!.lastSeq);
    const roles = Object.fromEntries(conversation!.members.map((m) => [m.userId, m.role]));
    expect(roles).toEqual({ [a1.id]: 'OWNER', [a2.id]: 'MEMBER', [a3.id]: 'ADMIN' });
    const page = (await ok(server.graphqlUrl, Messages, { conversationId: convA }, { token: a2.token })).messages;
    expect(page.edges.map((e) => [e.node.id, e.node.body])).toEqual(messageIds.map((id, i) => [id, bodies[i]]));
    for (const user of [a1, a2, a3]) expect((await ok(server.graphqlUrl, Me, {}, { token: user.token })).me.id).toBe(user.id);
    const users = (await ok(server.graphqlUrl, Users, {}, { apiKey: A.apiKey })).users.edges.map((e) => e.node);
    const byId = (x: string[], y: string[]) => x[0]!.localeCompare(y[0]!);
    expect(users.map((u) => [u.id, u.displayName ?? ''])).toEqual([a1, a2, a3].map((u) => [u.id, u.externalId]).sort(byId));
    // Nothing the matrix tried was created anywhere: no tenant, app or conversation.
    const p = server.deps.db.prisma;
    expect(await p.tenant.count({ where: { name: hijackName } })).toBe(0);
    expect(await p.app.count({ where: { name: hijackName } })).toBe(0);
    expect(await p.conversation.count({ where: { appId: B.appId } })).toBe(1);
    expect(await p.membership.count({ where: { conversationId: convB } })).toBe(2);
    // B's key made one endpoint (createWebhookEndpoint's row), B's own; A's dead letter is still dead.
    expect(await p.webhookEndpoint.findMany({ where: { url: { in: [hookA, hookB] } }, select: { appId: true, url: true }, orderBy: { url: 'asc' } })).toEqual([
      { appId: A.appId, url: hookA },
      { appId: B.appId, url: hookB },
    ]);
    const dead = (await ok(server.graphqlUrl, DeadLetters, { appId: A.appId }, { apiKey: A.apiKey })).deadLetters.edges.map((e) => e.node.id);
    expect(dead).toEqual([deadLetterA]);
    // A's moderation hook is A's still; B's key set one of its own and removed it.
    expect(before.moderationHook?.url).toBe(moderationA);
    expect((await ok(server.graphqlUrl, ModHook, {}, { apiKey: A.apiKey })).moderationHook?.url).toBe(moderationA);
    expect(await p.moderationHook.findUnique({ where: { appId: B.appId } })).toBeNull();
  });

  it("a store write under app A's scope cannot change app B's rows, whatever ids it is given", async () => {
    const stores = server.deps.services.stores.conversations;
    const scopeA = { tenantId: A.tenantId, appId: A.appId };
    await expect(stores.setRole(scopeA, convB, b2.id, 'OWNER')).rejects.toThrow();
    const member = await server.deps.db.prisma.membership.findFirstOrThrow({ where: { conversationId: convB, userId: b2.id } });
    expect(member.role).toBe('MEMBER');
  });
});

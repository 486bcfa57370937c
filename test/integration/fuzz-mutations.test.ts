import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import * as fc from 'fast-check';
import { Kind, type FieldNode, type GraphQLInputObjectType, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { newId } from '../../src/lib/ids.ts';
import { schema } from '../../src/schema/index.ts';
import { graphql } from '../generated/index.ts';
import { execute, ok, type Credential, type GqlResponse } from '../helpers/client.ts';
import { createDatabase } from '../helpers/databases.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, testStore, type TestServer } from '../helpers/server.ts';

// Property-based fuzz of every mutation (issue 5, item 8): typed but hostile variables, from
// every kind of caller of tenant A, over real HTTP. Whatever comes in, no response is a 5xx,
// every error carries a contract code other than INTERNAL and leaks nothing, and tenant B's
// rows in the store stay exactly as they were. A mutation added to the schema without a case
// here fails the coverage test. A failure prints its seed; FUZZ_SEED=<seed> replays it (FUZZ_RUNS
// sets the runs per mutation, FUZZ_STATS=1 prints the outcomes).

/** Runs per mutation: enough to reach every branch of the generators, bounded for CI. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 30);
/** The seed of every mutation's run, when replaying one; otherwise each draws its own. */
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

// One document per mutation, passing every argument as a variable (the coverage test checks it).
const AddMembers = graphql(`
  mutation FuzzAddMembers($asUserId: ID, $conversationId: ID!, $userIds: [ID!]!, $role: MemberRole) {
    addMembers(asUserId: $asUserId, conversationId: $conversationId, userIds: $userIds, role: $role) { id lastSeq members { userId role } }
  }
`);
const CreateApiKey = graphql(`mutation FuzzCreateApiKey($appId: ID!) { createApiKey(appId: $appId) { key apiKey { id appId } } }`);
const CreateApp = graphql(`mutation FuzzCreateApp($input: CreateAppInput!) { createApp(input: $input) { id tenantId name allowedOrigins } }`);
const CreateConversation = graphql(`
  mutation FuzzCreateConversation($asUserId: ID, $input: CreateConversationInput!) {
    createConversation(asUserId: $asUserId, input: $input) { id kind title metadata members { userId role } }
  }
`);
const CreateTenant = graphql(`mutation FuzzCreateTenant($input: CreateTenantInput!) { createTenant(input: $input) { id name plan status } }`);
const CreateUserToken = graphql(`
  mutation FuzzCreateUserToken($input: CreateUserTokenInput!) { createUserToken(input: $input) { token expiresAt } }
`);
const DeleteMessage = graphql(`
  mutation FuzzDeleteMessage($asUserId: ID, $id: ID!) { deleteMessage(asUserId: $asUserId, id: $id) { id seq status body } }
`);
const EditMessage = graphql(`
  mutation FuzzEditMessage($asUserId: ID, $id: ID!, $body: String!) { editMessage(asUserId: $asUserId, id: $id, body: $body) { id status body } }
`);
const LeaveConversation = graphql(`
  mutation FuzzLeaveConversation($asUserId: ID, $conversationId: ID!) { leaveConversation(asUserId: $asUserId, conversationId: $conversationId) }
`);
const MarkDelivered = graphql(`
  mutation FuzzMarkDelivered($asUserId: ID, $conversationId: ID!, $seq: Int!) {
    markDelivered(asUserId: $asUserId, conversationId: $conversationId, seq: $seq) { userId lastDeliveredSeq }
  }
`);
const MarkRead = graphql(`
  mutation FuzzMarkRead($asUserId: ID, $conversationId: ID!, $seq: Int!) {
    markRead(asUserId: $asUserId, conversationId: $conversationId, seq: $seq) { userId lastReadSeq }
  }
`);
const RemoveMember = graphql(`
  mutation FuzzRemoveMember($asUserId: ID, $conversationId: ID!, $userId: ID!) {
    removeMember(asUserId: $asUserId, conversationId: $conversationId, userId: $userId) { id members { userId } }
  }
`);
const RevokeApiKey = graphql(`mutation FuzzRevokeApiKey($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`);
const RevokeUserSessions = graphql(`mutation FuzzRevokeUserSessions($userId: ID!) { revokeUserSessions(userId: $userId) }`);
const SendMessage = graphql(`
  mutation FuzzSendMessage($asUserId: ID, $input: SendMessageInput!) {
    sendMessage(asUserId: $asUserId, input: $input) { id seq body metadata attachments { url name mimeType size } }
  }
`);
const SendTyping = graphql(`
  mutation FuzzSendTyping($asUserId: ID, $conversationId: ID!, $typing: Boolean!) {
    sendTyping(asUserId: $asUserId, conversationId: $conversationId, typing: $typing)
  }
`);
const UpdateMemberRole = graphql(`
  mutation FuzzUpdateMemberRole($asUserId: ID, $conversationId: ID!, $userId: ID!, $role: MemberRole!) {
    updateMemberRole(asUserId: $asUserId, conversationId: $conversationId, userId: $userId, role: $role) { userId role }
  }
`);
const UpdateTenant = graphql(`
  mutation FuzzUpdateTenant($id: ID!, $input: UpdateTenantInput!) {
    updateTenant(id: $id, input: $input) { id plan status limits { requestsPerMinute maxApps } }
  }
`);
const RotateSigningKey = graphql(`
  mutation FuzzRotateSigningKey($input: RotateSigningKeyInput) { rotateSigningKey(input: $input) { current { kid signing } keys { kid retiresAt } } }
`);
const UpsertUser = graphql(`
  mutation FuzzUpsertUser($input: UpsertUserInput!) { upsertUser(input: $input) { id externalId displayName metadata } }
`);
const CreateWebhookEndpoint = graphql(`
  mutation FuzzCreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { secret endpoint { id appId url events description status } }
  }
`);
const UpdateWebhookEndpoint = graphql(`
  mutation FuzzUpdateWebhookEndpoint($id: ID!, $input: UpdateWebhookEndpointInput!) {
    updateWebhookEndpoint(id: $id, input: $input) { id url events description status disabledReason }
  }
`);
const DeleteWebhookEndpoint = graphql(`mutation FuzzDeleteWebhookEndpoint($id: ID!) { deleteWebhookEndpoint(id: $id) }`);
const RotateWebhookEndpointSecret = graphql(`
  mutation FuzzRotateWebhookEndpointSecret($id: ID!) { rotateWebhookEndpointSecret(id: $id) { secret endpoint { id updatedAt } } }
`);
const ReplayDeadLetter = graphql(`
  mutation FuzzReplayDeadLetter($id: ID!) { replayDeadLetter(id: $id) { id endpointId status attempts attemptLog { attempt status } } }
`);
const ReplayDeadLetters = graphql(`mutation FuzzReplayDeadLetters($endpointId: ID!) { replayDeadLetters(endpointId: $endpointId) }`);
const SetModerationHook = graphql(`
  mutation FuzzSetModerationHook($input: SetModerationHookInput!) { setModerationHook(input: $input) { secret hook { url failOpen timeoutMs updatedAt } } }
`);
const RemoveModerationHook = graphql(`mutation FuzzRemoveModerationHook { removeModerationHook }`);

// ---------------------------------------------------------------------------------------------
// Generators: benign values (which pass validation and reach the services and the store) and
// typed but hostile ones.

/** Every kind of string a client can put in JSON: NUL, lone surrogates, emoji, RTL, SQL, long. */
const surrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const oddChar = fc.oneof(fc.constantFrom('\u0000', '\u202e', '\ufeff', '\u0301', '💬', '👩‍👩‍👧', '\\', '"', "'", '\n', '%', 'a'), surrogate);
const long = fc
  .tuple(fc.constantFrom('x', 'é', '💬', ' ', '\u0000', 'a\ud800'), fc.constantFrom(199, 200, 201, 500, 501, 4_096, 8_193, 16_384, 16_385, 100_000))
  .map(([s, n]) => s.repeat(n));
const shortText = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: oddChar, maxLength: 20 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', ' ', '\t\n', "' OR 1=1 --", "x'); DROP TABLE message; --", '${7*7}', '<script>alert(1)</script>', '__proto__', 'null', '%00'),
  },
);
const text = fc.oneof({ weight: 5, arbitrary: shortText }, { weight: 1, arbitrary: long });
/** Printable text with emoji and accents, never blank. */
const benignText = fc
  .string({ unit: fc.oneof(fc.string({ minLength: 1, maxLength: 1 }), fc.constantFrom('é', '日', '💬', '👩‍👩‍👧')), minLength: 1, maxLength: 40 })
  .filter((s) => s.trim() !== '');

/** GraphQL Ints (32-bit): small ones near real seqs and ttls, the extremes, anything between. */
const int = fc.oneof(
  fc.integer({ min: -3, max: 10 }),
  fc.integer(),
  fc.constantFrom(0, -1, 60, 3_600, 2 ** 31 - 1, -(2 ** 31), 1_000_000_000, 1_000_000_001),
);

/** JSON objects: odd keys, strings jsonb cannot hold, deep, wide and large. */
const oddKey = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.string({ unit: oddChar, maxLength: 5 }),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', '', ' ', '\u0000', '\ud800', '$where', 'a.b', '💬', "'; DROP TABLE x; --"),
);
const jsonLeaf = fc.oneof(fc.jsonValue({ maxDepth: 2 }), shortText, fc.constantFrom(null, true, 0, -0, 1e308, -1e-308));
// Object.fromEntries and computed keys define "__proto__" as an own key, as JSON.parse does.
const objectOf = (value: fc.Arbitrary<unknown>) => fc.array(fc.tuple(oddKey, value), { maxLength: 8 }).map((e) => Object.fromEntries(e));
const nested = fc.tuple(fc.integer({ min: 1, max: 40 }), oddKey, jsonLeaf).map(([depth, key, leaf]) => {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = i % 3 === 2 ? [value] : { [key]: value };
  return { root: value };
});
const wide = fc.integer({ min: 100, max: 3_000 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])));
const big = fc.integer({ min: 8_000, max: 9_000 }).map((n) => ({ blob: 'm'.repeat(n) }));
const hostileMetadata = fc.oneof(
  { weight: 3, arbitrary: objectOf(jsonLeaf) },
  { weight: 2, arbitrary: objectOf(objectOf(jsonLeaf)) },
  nested,
  wide,
  big,
) as fc.Arbitrary<Record<string, unknown>>;
const benignMetadata = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }) as fc.Arbitrary<Record<string, unknown>>;

const hostileUrl = fc.oneof(
  fc.webUrl(),
  fc.constantFrom('javascript:alert(1)', 'file:///etc/passwd', 'data:text/html,x', 'http://169.254.169.254/latest/meta-data', `https://${'a'.repeat(5_000)}.com`),
  text,
);
const hostileAttachment = fc.record({
  url: hostileUrl,
  name: fc.option(text, { nil: null }),
  mimeType: fc.option(shortText, { nil: null }),
  size: fc.option(int, { nil: null }),
});
const hostileAttachments = fc.oneof(fc.array(hostileAttachment, { maxLength: 3 }), fc.array(hostileAttachment, { minLength: 10, maxLength: 12 }));
const benignAttachments = fc.array(
  fc.record({
    url: fc.webUrl({ validSchemes: ['https'] }),
    name: fc.option(benignText, { nil: null }),
    mimeType: fc.option(fc.constantFrom('image/png', 'application/pdf'), { nil: null }),
    size: fc.option(fc.nat(), { nil: null }),
  }),
  { maxLength: 3 },
);
const benignOrigin = fc.oneof(fc.constant('*'), fc.webUrl({ validSchemes: ['https'] }).map((u) => new URL(u).origin));
const hostileOrigins = fc.oneof(
  fc.array(fc.oneof(benignOrigin, fc.webUrl(), shortText), { maxLength: 5 }),
  fc.array(benignOrigin, { minLength: 50, maxLength: 200 }),
);

/** A webhook target the URL policy accepts: https and a public host name. */
const benignHookUrl = fc.oneof(
  fc.constantFrom('https://hooks.example.com/a', 'https://hooks.example.com/parley?x=1', 'HTTPS://Hooks.Example.COM:8443/%7Ehook'),
  fc.webUrl({ validSchemes: ['https'], withQueryParameters: true }),
);
/**
 * What the SSRF policy must refuse (or, for public addresses, may accept), in every spelling:
 * private, loopback, link-local (cloud metadata), CGNAT and reserved IPv4 in decimal, hex and
 * octal; IPv6 loopback, mapped, NAT64, 6to4, unique- and link-local; localhost names; userinfo;
 * fragments; control characters the parser would drop; other schemes; lengths around the cap.
 */
const ssrfUrl = fc.constantFrom(
  'https://127.0.0.1/',
  'https://127.1/',
  'https://2130706433/',
  'https://0x7f.0.0.1/',
  'https://0177.0.0.1/',
  'https://0.0.0.0/',
  'https://10.0.0.1/hook',
  'https://172.16.0.1/',
  'https://192.168.1.1:8443/x',
  'https://100.64.0.1/',
  'https://169.254.169.254/latest/meta-data/',
  'https://metadata.google.internal/computeMetadata/v1/',
  'https://[::1]/',
  'https://[::]/',
  'https://[::ffff:127.0.0.1]/',
  'https://[::ffff:a9fe:a9fe]/',
  'https://[64:ff9b::169.254.169.254]/',
  'https://[2002:7f00:1::]/',
  'https://[fd00::1]/',
  'https://[fe80::1%25eth0]/',
  'https://[fe80::1]/',
  'https://[ff02::1]/',
  'https://localhost/',
  'https://LOCALHOST./',
  'https://api.localhost/',
  'https://user:pass@hooks.example.com/',
  'https://@hooks.example.com/',
  'https://hooks.example.com\\@127.0.0.1/',
  'https://127.0.0.1\\@hooks.example.com/',
  'https://hooks.example.com/#',
  'https://hooks.example.com/a#frag',
  ' https://hooks.example.com/',
  'https://hooks.example.com/\u0000',
  'https://hooks.exa\tmple.com/',
  'https://hooks.example.com/a b',
  'http://hooks.example.com/',
  'http://127.0.0.1:4000/graphql',
  'HTTP://[::1]:80/',
  'ftp://hooks.example.com/',
  'ws://hooks.example.com/',
  'gopher://127.0.0.1:6379/_INFO',
  'javascript:alert(1)',
  'file:///etc/passwd',
  'data:text/plain,x',
  'https://',
  'https:///path',
  '//hooks.example.com/',
  '/relative',
  'https://xn--nxasmq6b.example/',
  'https://hooks.example.com:99999/',
  'https://[::1/',
);
/** https URLs of exactly `n` characters around the 2,048 cap, and far past it. */
const longHookUrl = fc
  .constantFrom(2_047, 2_048, 2_049, 5_000, 100_000)
  .map((n) => `https://hooks.example.com/${'a'.repeat(n - 'https://hooks.example.com/'.length)}`);
const hostileHookUrl = fc.oneof(
  { weight: 4, arbitrary: ssrfUrl },
  { weight: 2, arbitrary: fc.oneof(fc.ipV4(), fc.ipV4Extended()).map((ip) => `https://${ip}/`) },
  { weight: 2, arbitrary: fc.ipV6().map((ip) => `https://[${ip}]/`) },
  {
    weight: 2,
    arbitrary: fc.webUrl({
      validSchemes: ['https', 'http', 'ftp', 'file'],
      authoritySettings: { withIPv4: true, withIPv4Extended: true, withIPv6: true, withPort: true, withUserInfo: true },
      withQueryParameters: true,
      withFragments: true,
    }),
  },
  { weight: 1, arbitrary: longHookUrl },
  { weight: 2, arbitrary: text },
);
const eventTypes: string[] = ['conversation.message.created', 'conversation.message.updated', 'conversation.message.deleted', 'conversation.member.joined', 'conversation.member.left'];
const benignEvents: fc.Arbitrary<string[]> = fc.oneof(fc.subarray(eventTypes, { minLength: 1 }), fc.constant<string[]>(['*']));
/** Unknown types, near misses, "*" among others, duplicates, empty and long lists, long names. */
const hostileEvents: fc.Arbitrary<string[]> = fc.oneof(
  fc.array(fc.oneof(fc.constantFrom(...eventTypes, '*'), shortText), { maxLength: 5 }),
  fc.array(fc.constantFrom('CONVERSATION.MESSAGE.CREATED', 'conversation.message.*', 'conversation.typing', 'conversation.read', ' *', '**', 'message.created'), {
    minLength: 1,
    maxLength: 3,
  }),
  fc.tuple(fc.constantFrom(...eventTypes, '*'), fc.integer({ min: 2, max: 20 })).map(([type, n]) => Array<string>(n).fill(type)),
  fc.tuple(fc.constantFrom(...eventTypes, '*'), fc.integer({ min: 21, max: 2_000 })).map(([type, n]) => Array<string>(n).fill(type)),
  fc.constantFrom<string[]>([], ['*', ...eventTypes], [...eventTypes, ...eventTypes], ['x'.repeat(101)], ['conversation.message.created'.padEnd(100_000, '.')]),
);
const role = fc.constantFrom('OWNER', 'ADMIN', 'MEMBER', 'READER');
const plan = fc.constantFrom('FREE', 'PRO', 'ENTERPRISE');

/** Well-formed ids of nothing: the right shape, with or without a known prefix. */
const ulid = fc.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/);
const unknownId = fc.tuple(fc.constantFrom('ten_', 'app_', 'usr_', 'cnv_', 'pk_', 'ses_', 'whe_', 'msg_', ''), ulid).map(([p, u]) => p + u);

// ---------------------------------------------------------------------------------------------
// Callers and the ids they may name.

type CallerKind = 'operator' | 'app' | 'user' | 'none';
type Caller = { kind: 'operator' } | { kind: 'app' } | { kind: 'user'; user: number } | { kind: 'none' };
/** Real ids by kind; `externalIds` are the apps' own user ids (upsertUser's key); `deliveries` are dead letters when seeded. */
type Pools = {
  tenants: string[];
  apps: string[];
  apiKeys: string[];
  users: string[];
  conversations: string[];
  messages: string[];
  externalIds: string[];
  webhookEndpoints: string[];
  deliveries: string[];
};
type PoolKind = keyof Pools;

/**
 * The generators of one run, for one caller. A calm run makes each value hostile one time in
 * ten, so that most requests pass validation and reach the services and the store; a hostile
 * run, three times in four. Benign ids are tenant A's (the caller's own) of the right kind;
 * hostile ones are A's of another kind, tenant B's (never for the operator, who may change
 * any tenant: its runs name A or nothing), well-formed ids of nothing, and hostile strings.
 */
function generators(caller: Caller, own: Pools, other: Pools | null, calm: boolean) {
  const mix = <T, U>(benign: fc.Arbitrary<T>, hostile: fc.Arbitrary<U>): fc.Arbitrary<T | U> =>
    fc.oneof({ weight: calm ? 9 : 1, arbitrary: benign }, { weight: calm ? 1 : 3, arbitrary: hostile });
  const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null, freq: 3 });
  const any = (p: Pools) => Object.values(p).flat();
  const hostileId = (kind: PoolKind, hostileText: fc.Arbitrary<string> = text) =>
    fc.oneof(
      { weight: 1, arbitrary: fc.constantFrom(...any(own)) },
      ...(other ? [{ weight: 3, arbitrary: fc.constantFrom(...other[kind]) }, { weight: 1, arbitrary: fc.constantFrom(...any(other)) }] : []),
      { weight: 2, arbitrary: unknownId },
      { weight: 2, arbitrary: hostileText },
    );
  // Half the time the first two of a pool: the OWNER and ADMIN, the newest group and its first messages.
  const ownId = (kind: PoolKind) => fc.oneof(fc.constantFrom(...own[kind]), fc.constantFrom(...own[kind].slice(0, 2)));
  const id = (kind: PoolKind) => mix(ownId(kind), hostileId(kind));
  /** Lists: some of A's ids, or hostile ones, or thousands (one id repeated, or distinct unknown ones). */
  const ids = (kind: PoolKind) =>
    mix(
      fc.subarray(own[kind], { minLength: 1 }),
      fc.oneof(
        { weight: 4, arbitrary: fc.array(fc.oneof(ownId(kind), hostileId(kind, shortText)), { maxLength: 6 }) },
        { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 50, max: 3_000 }), hostileId(kind, shortText)).map(([n, x]) => Array<string>(n).fill(x)) },
        { weight: 1, arbitrary: fc.integer({ min: 50, max: 3_000 }).map((n) => Array.from({ length: n }, (_, i) => `usr_${String(i).padStart(26, '0')}`)) },
      ),
    );
  // An app server names one of its users; an end user names no one (or itself).
  const asUserId =
    caller.kind === 'app'
      ? mix(ownId('users'), fc.oneof(fc.constant(null), hostileId('users')))
      : mix(fc.constant(null), fc.oneof(ownId('users'), hostileId('users')));
  return {
    mix,
    optional,
    id,
    ids,
    asUserId,
    ownId,
    hostileId,
    text: mix(benignText, text),
    int: (benign: fc.Arbitrary<number>) => mix(benign, int),
    metadata: optional(mix(benignMetadata, hostileMetadata)),
    attachments: optional(mix(benignAttachments, hostileAttachments)),
    origins: optional(mix(fc.array(benignOrigin, { maxLength: 3 }), hostileOrigins)),
    hookUrl: mix(benignHookUrl, hostileHookUrl),
    events: mix(benignEvents, hostileEvents),
  };
}
type Gen = ReturnType<typeof generators>;

type Case<R, V> = {
  document: TypedDocumentNode<R, V>;
  /** Who the mutation is for: drawn four times as often as the other callers. */
  callers: CallerKind[];
  variables: (g: Gen) => fc.Arbitrary<V>;
  /** Puts tenant A's status, key and tokens back after every run (for mutations that break them). */
  restore?: true;
  /** Runs before every run (calm or hostile), e.g. to give the mutation a row to act on. */
  before?: (calm: boolean) => Promise<void>;
  /** Runs after every run, whatever its outcome (after `restore`). */
  after?: () => Promise<void>;
};
type AnyCase = Case<unknown, unknown>;
const fuzz = <R, V>(c: Case<R, V>) => c as unknown as AnyCase;
const END_USER: CallerKind[] = ['app', 'user'];
const seq = fc.integer({ min: 0, max: 6 });
const limitNames = Object.keys((schema.getType('TenantLimitsInput') as GraphQLInputObjectType).getFields());

const cases: Record<string, AnyCase> = {
  addMembers: fuzz({
    document: AddMembers,
    callers: END_USER,
    variables: (g) => fc.record({ asUserId: g.asUserId, conversationId: g.id('conversations'), userIds: g.ids('users'), role: g.optional(role) }),
  }),
  createApiKey: fuzz({ document: CreateApiKey, callers: ['operator'], variables: (g) => fc.record({ appId: g.id('apps') }) }),
  createApp: fuzz({
    document: CreateApp,
    callers: ['operator'],
    variables: (g) => fc.record({ input: fc.record({ tenantId: g.id('tenants'), name: g.text, allowedOrigins: g.origins }) }),
  }),
  createConversation: fuzz({
    document: CreateConversation,
    callers: END_USER,
    variables: (g) =>
      fc.record({
        asUserId: g.asUserId,
        input: fc.record({ kind: fc.constantFrom('DIRECT', 'GROUP'), memberIds: g.ids('users'), title: g.optional(g.text), metadata: g.metadata }),
      }),
  }),
  createTenant: fuzz({
    document: CreateTenant,
    callers: ['operator'],
    variables: (g) => fc.record({ input: fc.record({ name: g.text, plan: g.optional(plan) }) }),
  }),
  createUserToken: fuzz({
    document: CreateUserToken,
    callers: ['app'],
    variables: (g) => fc.record({ input: fc.record({ userId: g.id('users'), ttlSeconds: g.optional(g.int(fc.integer({ min: 1, max: 86_400 }))) }) }),
  }),
  deleteMessage: fuzz({ document: DeleteMessage, callers: END_USER, variables: (g) => fc.record({ asUserId: g.asUserId, id: g.id('messages') }) }),
  editMessage: fuzz({
    document: EditMessage,
    callers: END_USER,
    variables: (g) => fc.record({ asUserId: g.asUserId, id: g.id('messages'), body: g.text }),
  }),
  leaveConversation: fuzz({
    document: LeaveConversation,
    callers: END_USER,
    variables: (g) => fc.record({ asUserId: g.asUserId, conversationId: g.id('conversations') }),
  }),
  markDelivered: fuzz({
    document: MarkDelivered,
    callers: END_USER,
    variables: (g) => fc.record({ asUserId: g.asUserId, conversationId: g.id('conversations'), seq: g.int(seq) }),
  }),
  markRead: fuzz({
    document: MarkRead,
    callers: END_USER,
    variables: (g) => fc.record({ asUserId: g.asUserId, conversationId: g.id('conversations'), seq: g.int(seq) }),
  }),
  removeMember: fuzz({
    document: RemoveMember,
    callers: END_USER,
    variables: (g) => fc.record({ asUserId: g.asUserId, conversationId: g.id('conversations'), userId: g.id('users') }),
  }),
  revokeApiKey: fuzz({ document: RevokeApiKey, callers: ['operator'], variables: (g) => fc.record({ id: g.id('apiKeys') }), restore: true }),
  revokeUserSessions: fuzz({
    document: RevokeUserSessions,
    callers: ['app'],
    variables: (g) => fc.record({ userId: g.id('users') }),
    restore: true,
  }),
  // Global, not a tenant's: NOW makes every token refused, so A's are issued again after each run.
  rotateSigningKey: fuzz({
    document: RotateSigningKey,
    callers: ['operator'],
    variables: (g) => fc.record({ input: g.optional(fc.record({ retirePrevious: g.optional(fc.constantFrom('AFTER_TOKENS_EXPIRE', 'NOW')) })) }),
    restore: true,
  }),
  sendMessage: fuzz({
    document: SendMessage,
    callers: END_USER,
    variables: (g) =>
      fc.record({
        asUserId: g.asUserId,
        input: fc.record({
          conversationId: g.id('conversations'),
          body: g.text,
          attachments: g.attachments,
          metadata: g.metadata,
          idempotencyKey: g.optional(g.mix(fc.constantFrom('k1', 'k2', 'k3'), fc.oneof(shortText, long))),
        }),
      }),
  }),
  sendTyping: fuzz({
    document: SendTyping,
    callers: END_USER,
    variables: (g) => fc.record({ asUserId: g.asUserId, conversationId: g.id('conversations'), typing: fc.boolean() }),
  }),
  updateMemberRole: fuzz({
    document: UpdateMemberRole,
    callers: END_USER,
    variables: (g) => fc.record({ asUserId: g.asUserId, conversationId: g.id('conversations'), userId: g.id('users'), role }),
  }),
  updateTenant: fuzz({
    document: UpdateTenant,
    callers: ['operator'],
    variables: (g) => {
      const limit = g.optional(g.int(fc.integer({ min: 0, max: 1_000_000 })));
      // Every limit the schema has, so that a limit added later is fuzzed too.
      const limits = fc.record(Object.fromEntries(limitNames.map((name) => [name, limit])), { requiredKeys: [] });
      const input = fc.record({ plan, status: fc.constantFrom('ACTIVE', 'SUSPENDED'), limits: g.optional(limits) }, { requiredKeys: [] });
      return fc.record({ id: g.id('tenants'), input });
    },
    restore: true,
  }),
  // Webhook endpoints: the fuzz server runs no worker (see beforeAll), so whatever URL is
  // accepted here is stored, never called.
  createWebhookEndpoint: fuzz({
    document: CreateWebhookEndpoint,
    callers: ['app'],
    variables: (g) => fc.record({ input: fc.record({ url: g.hookUrl, events: g.optional(g.events), description: g.optional(g.text) }) }),
  }),
  updateWebhookEndpoint: fuzz({
    document: UpdateWebhookEndpoint,
    callers: ['app'],
    variables: (g) =>
      fc.record({
        id: g.id('webhookEndpoints'),
        input: fc.record(
          { url: g.optional(g.hookUrl), events: g.optional(g.events), description: g.optional(g.text), status: g.optional(fc.constantFrom('ENABLED', 'DISABLED')) },
          { requiredKeys: [] },
        ),
      }),
  }),
  deleteWebhookEndpoint: fuzz({ document: DeleteWebhookEndpoint, callers: ['app'], variables: (g) => fc.record({ id: g.id('webhookEndpoints') }) }),
  rotateWebhookEndpointSecret: fuzz({ document: RotateWebhookEndpointSecret, callers: ['app'], variables: (g) => fc.record({ id: g.id('webhookEndpoints') }) }),
  // The operator may replay any app's dead letters: its runs name A's or nothing, as elsewhere.
  replayDeadLetter: fuzz({ document: ReplayDeadLetter, callers: ['app', 'operator'], variables: (g) => fc.record({ id: g.id('deliveries') }) }),
  replayDeadLetters: fuzz({
    document: ReplayDeadLetters,
    callers: ['app', 'operator'],
    variables: (g) => fc.record({ endpointId: g.id('webhookEndpoints') }),
  }),
  // The moderation hook is called synchronously by A's sends and edits, from this api node too
  // (no worker needed): a hook the fuzz sets must never outlive its run, or the next case's
  // messages would go to whatever public URL it names. So every run ends with no hook at all.
  setModerationHook: fuzz({
    document: SetModerationHook,
    callers: ['app'],
    variables: (g) => {
      // 100 ms to 10 s with its edges; or one past them, or any 32-bit Int.
      const timeoutMs = g.mix(fc.oneof(fc.integer({ min: 100, max: 10_000 }), fc.constantFrom(100, 10_000)), fc.oneof(int, fc.constantFrom(99, 10_001)));
      return fc.record({
        input: fc.record({ url: g.hookUrl, failOpen: g.optional(fc.boolean()), timeoutMs: g.optional(timeoutMs) }, { requiredKeys: ['url'] }),
      });
    },
    after: () => noModerationHooks(),
  }),
  // Calm runs find a hook of A's to remove (at a URL that is never called: nothing sends here), hostile ones none.
  removeModerationHook: fuzz({
    document: RemoveModerationHook,
    callers: ['app'],
    variables: () => fc.constant({}),
    before: async (calm) => {
      if (calm) await server.deps.services.moderation.set(a.app.appId, { url: 'https://hooks.example.com/moderate', failOpen: false, timeoutMs: 2_000 });
    },
    after: () => noModerationHooks(),
  }),
  upsertUser: fuzz({
    document: UpsertUser,
    callers: ['app'],
    variables: (g) =>
      fc.record({
        input: fc.record({
          externalId: g.mix(fc.oneof(g.ownId('externalIds'), benignText), g.hostileId('externalIds')),
          displayName: g.optional(g.text),
          metadata: g.metadata,
        }),
      }),
  }),
};

// ---------------------------------------------------------------------------------------------
// The two tenants.

type Tenant = {
  app: SeededApp;
  users: SeededUser[];
  spareKeyIds: string[];
  conversations: string[];
  messages: string[];
  webhookEndpoints: string[];
  deliveries: string[];
};

let server: TestServer;
let dropDatabase = async () => {};
let a: Tenant, b: Tenant;
const admin = () => ({ token: server.adminToken });
const appCred = (t: Tenant) => ({ apiKey: t.app.apiKey });

function credential(caller: Caller): Credential {
  if (caller.kind === 'operator') return admin();
  if (caller.kind === 'app') return appCred(a);
  if (caller.kind === 'user') return { token: a.users[caller.user]!.token };
  return { none: true };
}

function pools(t: Tenant): Pools {
  return {
    tenants: [t.app.tenantId],
    apps: [t.app.appId],
    apiKeys: [t.app.apiKeyId, ...t.spareKeyIds],
    users: t.users.map((u) => u.id),
    conversations: t.conversations,
    messages: t.messages,
    externalIds: t.users.map((u) => u.externalId),
    webhookEndpoints: t.webhookEndpoints,
    deliveries: t.deliveries,
  };
}

/**
 * A GROUP conversation of the tenant's first four users, one of each role (OWNER, ADMIN, MEMBER,
 * READER), with three messages; the last two users are in no group, so that there are users to
 * add. And the DIRECT conversation of the first two.
 */
async function seedConversations(t: Tenant) {
  const [owner, admin_, member, reader] = t.users as [SeededUser, SeededUser, SeededUser, SeededUser];
  const group = await seedGroup(server, owner, [admin_, member, reader]);
  const asOwner = { token: owner.token };
  await ok(server.graphqlUrl, UpdateMemberRole, { conversationId: group, userId: admin_.id, role: 'ADMIN' }, asOwner);
  await ok(server.graphqlUrl, UpdateMemberRole, { conversationId: group, userId: reader.id, role: 'READER' }, asOwner);
  const send = async (user: SeededUser, body: string) =>
    (await ok(server.graphqlUrl, SendMessage, { input: { conversationId: group, body } }, { token: user.token })).sendMessage.id;
  const messages = [await send(owner, 'hello'), await send(admin_, 'hi'), await send(member, 'hey')];
  const direct = await ok(server.graphqlUrl, CreateConversation, { input: { kind: 'DIRECT', memberIds: [admin_.id] } }, asOwner);
  t.conversations.unshift(group, direct.createConversation.id);
  t.messages.unshift(...messages);
}

/** The response snippet of the attempts seedWebhooks logs; any other attempt was really made. */
const SEEDED_ATTEMPT = 'seeded: unavailable';

/**
 * A webhook endpoint at a public https URL, and a dead letter of it with one logged attempt
 * (written to the store: only a worker makes them, and the fuzz server runs none), so that
 * replays have a delivery to revive. New ones go first, as seedConversations' do.
 */
async function seedWebhooks(t: Tenant, url: string) {
  // Fuzzed creations fill the app up to its endpoint cap (20): the oldest go, the newest stay.
  const { prisma } = server.deps.db;
  if ((await prisma.webhookEndpoint.count({ where: { appId: t.app.appId } })) >= 10) {
    await prisma.webhookEndpoint.deleteMany({ where: { appId: t.app.appId, id: { notIn: t.webhookEndpoints.slice(0, 2) } } });
  }
  const created = await ok(server.graphqlUrl, CreateWebhookEndpoint, { input: { url, description: 'fuzz' } }, appCred(t));
  const endpointId = created.createWebhookEndpoint.endpoint.id;
  const delivery = await server.deps.db.prisma.webhookDelivery.create({
    data: {
      id: newId.webhookDelivery(),
      endpointId,
      appId: t.app.appId,
      eventType: 'conversation.message.created',
      conversationId: t.conversations[0]!,
      seq: 1,
      payload: { type: 'conversation.message.created', data: { seq: 1 } },
      status: 'FAILED',
      attempts: 1,
      lastStatus: 503,
      lastError: 'HTTP 503',
      failedAt: new Date(),
      attemptLog: { create: { attempt: 1, status: 503, responseSnippet: SEEDED_ATTEMPT, durationMs: 12 } },
    },
  });
  t.webhookEndpoints.unshift(endpointId);
  t.deliveries.unshift(delivery.id);
}

async function seedTenant(): Promise<Tenant> {
  const app = await seedApp(server);
  const users = await seedUsers(server, app, 6);
  const spare = await ok(server.graphqlUrl, CreateApiKey, { appId: app.appId }, admin());
  const t: Tenant = { app, users, spareKeyIds: [spare.createApiKey.apiKey.id], conversations: [], messages: [], webhookEndpoints: [], deliveries: [] };
  await seedConversations(t);
  return t;
}

/**
 * No moderation hook anywhere: the rows, and this node's cached copies (the service trusts a
 * hook it read for 5 s; `remove` forgets it). Only A's app server can have set one: a hook of
 * any other app (tenant B's included) fails the run, after it is gone too.
 */
async function noModerationHooks() {
  const p = server.deps.db.prisma;
  const others = await p.moderationHook.findMany({ where: { appId: { not: a.app.appId } }, select: { appId: true, url: true } });
  await p.moderationHook.deleteMany({});
  for (const appId of [a.app.appId, ...others.map((h) => h.appId)]) await server.deps.services.moderation.remove(appId);
  expect(others, "a moderation hook was set for an app other than tenant A's").toEqual([]);
}

/** Tenant A as the fuzz found it: active on its plan with the test rates, a working key, fresh tokens. */
async function restoreTenantA() {
  const limits = { ...Object.fromEntries(limitNames.map((name) => [name, null])), requestsPerMinute: 1_000_000, messagesPerSecondPerUser: 1_000_000 };
  await ok(server.graphqlUrl, UpdateTenant, { id: a.app.tenantId, input: { plan: 'PRO', status: 'ACTIVE', limits } }, admin());
  const key = await server.deps.db.prisma.apiKey.findUnique({ where: { id: a.app.apiKeyId } });
  if (key?.revokedAt) {
    const fresh = await ok(server.graphqlUrl, CreateApiKey, { appId: a.app.appId }, admin());
    a.app = { ...a.app, apiKey: fresh.createApiKey.key, apiKeyId: fresh.createApiKey.apiKey.id };
  }
  for (const user of a.users) {
    user.token = (await ok(server.graphqlUrl, CreateUserToken, { input: { userId: user.id } }, appCred(a))).createUserToken.token;
  }
}

/**
 * Everything of tenant B in the store, and everything of anyone's that names one of its users
 * or conversations (a membership, message, session or idempotency key written under tenant
 * A's app but pointing at B's rows would be a cross-tenant write too).
 */
async function snapshot(t: Tenant) {
  const p = server.deps.db.prisma;
  const tenantId = t.app.tenantId;
  const apps = await p.app.findMany({ where: { tenantId }, orderBy: { id: 'asc' }, include: { apiKeys: { orderBy: { id: 'asc' } } } });
  const appIds = apps.map((x) => x.id);
  const users = await p.user.findMany({ where: { appId: { in: appIds } }, orderBy: { id: 'asc' } });
  const conversations = await p.conversation.findMany({ where: { appId: { in: appIds } }, orderBy: { id: 'asc' } });
  const userIds = users.map((u) => u.id);
  const conversationIds = conversations.map((c) => c.id);
  const webhookEndpoints = await p.webhookEndpoint.findMany({ where: { appId: { in: appIds } }, orderBy: { id: 'asc' } });
  // A delivery under A's app for B's endpoint or conversation would be a cross-tenant write too.
  const webhookDeliveries = await p.webhookDelivery.findMany({
    where: { OR: [{ appId: { in: appIds } }, { endpointId: { in: webhookEndpoints.map((e) => e.id) } }, { conversationId: { in: conversationIds } }] },
    orderBy: { id: 'asc' },
  });
  const touching = (userKey: string) => ({
    OR: [{ appId: { in: appIds } }, { [userKey]: { in: userIds } }, { conversationId: { in: conversationIds } }],
  });
  return {
    tenant: await p.tenant.findUnique({ where: { id: tenantId } }),
    apps,
    users,
    sessions: await p.session.findMany({ where: { OR: [{ appId: { in: appIds } }, { userId: { in: userIds } }] }, orderBy: { id: 'asc' } }),
    conversations,
    memberships: await p.membership.findMany({ where: touching('userId'), orderBy: [{ conversationId: 'asc' }, { userId: 'asc' }] }),
    messages: await p.message.findMany({ where: touching('senderId'), orderBy: { id: 'asc' } }),
    events: await p.conversationEvent.findMany({
      where: { OR: [{ appId: { in: appIds } }, { conversationId: { in: conversationIds } }] },
      orderBy: [{ conversationId: 'asc' }, { seq: 'asc' }],
    }),
    idempotencyKeys: await p.idempotencyKey.findMany({
      where: touching('userId'),
      orderBy: [{ conversationId: 'asc' }, { userId: 'asc' }, { key: 'asc' }],
    }),
    webhookEndpoints,
    webhookDeliveries,
    webhookAttempts: await p.webhookAttempt.findMany({
      where: { deliveryId: { in: webhookDeliveries.map((d) => d.id) } },
      orderBy: [{ deliveryId: 'asc' }, { attempt: 'asc' }],
    }),
    // None, and none may appear: B's sends would call it (see noModerationHooks).
    moderationHooks: await p.moderationHook.findMany({ where: { appId: { in: appIds } }, orderBy: { appId: 'asc' } }),
  };
}

/** The relay marks events published after the commit: wait for B's, so that the snapshot is stable. */
async function allPublished(t: Tenant) {
  for (let i = 0; i < 200; i++) {
    if ((await server.deps.db.prisma.conversationEvent.count({ where: { appId: t.app.appId, publishedAt: null } })) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("tenant B's events were never published");
}

let tenantB: Awaited<ReturnType<typeof snapshot>>;

beforeAll(async () => {
  // rotateSigningKey changes the keys of every server on the store: on PostgreSQL, a database of its own.
  const own = testStore() === 'postgres' ? await createDatabase(inject('adminDatabaseUrl'), 'parley_fuzz') : undefined;
  if (own) dropDatabase = async () => void (await own.drop());
  // Role api: no worker, so no webhook attempt is ever made. The fuzz registers endpoints at
  // arbitrary public https URLs (which the policy accepts) and A's events queue deliveries to
  // them; this machine must send nothing off it. It also keeps B's deliveries as seeded
  // (attempts would change their rows). Events are still published by the relay's kick after
  // each commit; only the worker's safety-net sweep is missing. WEBHOOK_ALLOW_PRIVATE_TARGETS
  // is unset: private, loopback and metadata addresses must be refused.
  server = await startServer({ ROLE: 'api', ...(own ? { DATABASE_URL: own.url } : {}) });
  [a, b] = await Promise.all([seedTenant(), seedTenant()]);
  // An endpoint each (wanting every event, so B's events below give it pending deliveries), and a dead letter each.
  await Promise.all([seedWebhooks(a, 'https://hooks.example.com/a'), seedWebhooks(b, 'https://hooks.example.com/b')]);
  // B's history has every kind of event: an edit and a deletion besides messages and joins.
  const [bOwner] = b.users as [SeededUser];
  await ok(server.graphqlUrl, EditMessage, { id: b.messages[0]!, body: 'edited' }, { token: bOwner.token });
  await ok(server.graphqlUrl, DeleteMessage, { id: b.messages[0]! }, { token: bOwner.token });
  // An idempotency key that A's benign sends use too.
  await ok(server.graphqlUrl, SendMessage, { input: { conversationId: b.conversations[0]!, body: 'once', idempotencyKey: 'k1' } }, { token: bOwner.token });
  await allPublished(b);
  tenantB = await snapshot(b);
  // Not vacuous: B has rows of every kind the comparison covers, but a moderation hook, which it must never have.
  const { moderationHooks, ...rest } = tenantB;
  for (const rows of Object.values(rest)) expect([rows].flat().length).toBeGreaterThan(0);
  expect(moderationHooks).toEqual([]);
}, 60_000);
afterAll(async () => {
  await server?.close();
  await dropDatabase();
});

// ---------------------------------------------------------------------------------------------
// The properties.

const CODES = ['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_USER_INPUT', 'CONFLICT', 'RATE_LIMITED', 'PAYLOAD_TOO_LARGE'];
/** Stack frames, source paths or SQL: none of it may reach a client. */
const LEAKY = /\n\s+at |\.ts:\d+|node_modules|\bSELECT\b|\bINSERT\b|\bUPDATE\b|\bWHERE\b|prisma|postgres|pglite/i;

/** What every response must be, whatever was sent: no 5xx, contract codes only, nothing leaked. */
function expectSafe(res: GqlResponse<unknown>) {
  expect(res.status).toBeLessThan(500);
  if (!res.errors?.length) expect(res.data).toBeTruthy();
  for (const error of res.errors ?? []) {
    expect(CODES).toContain(error.extensions?.code);
    expect(error.extensions.requestId).toEqual(expect.any(String));
    expect(error.message).not.toMatch(LEAKY);
    expect(Object.keys(error.extensions)).not.toContain('stack');
    expect(Object.keys(error.extensions)).not.toContain('exception');
  }
}

/** The root field a document calls. */
function rootField(document: TypedDocumentNode<unknown, unknown>): FieldNode {
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  return operation.selectionSet.selections[0] as FieldNode;
}

const mutationFields = schema.getMutationType()!.getFields();
const mutationNames = Object.keys(mutationFields).sort();
/** Responses per mutation by run kind, caller and outcome ("ok" or the first error code), printed with FUZZ_STATS=1. */
const outcomes: Record<string, Record<string, number>> = {};

describe('fuzz coverage', () => {
  it('every Mutation field of the schema has a case, calling it with every one of its arguments', () => {
    expect(Object.keys(cases).sort()).toEqual(mutationNames);
    for (const [name, c] of Object.entries(cases)) {
      const field = rootField(c.document);
      expect(field.name.value).toBe(name);
      // A field without arguments has none in the generated document, not an empty list.
      expect((field.arguments ?? []).map((arg) => arg.name.value).sort()).toEqual(mutationFields[name]!.args.map((arg) => arg.name).sort());
    }
  });
});

describe('fuzzed mutations, as tenant A', () => {
  beforeEach(async () => {
    await noModerationHooks(); // seedConversations sends as A: no hook may review it
    await restoreTenantA();
    await seedConversations(a); // a fresh group: earlier runs may have emptied the others
    await seedWebhooks(a, 'https://hooks.example.com/a'); // and an endpoint and dead letter: earlier runs may have deleted or replayed them
  });

  afterAll(() => {
    if (process.env.FUZZ_STATS) console.log(JSON.stringify(outcomes, null, 1));
  });

  it.each(mutationNames)('%s: no 5xx, no INTERNAL, nothing leaked, tenant B untouched', async (name) => {
    const c = cases[name];
    expect(c, `no fuzz case for the mutation ${name}`).toBeDefined();
    const own = pools(a);
    const other = pools(b);
    const callerOf = (kind: CallerKind): fc.Arbitrary<Caller> =>
      kind === 'user' ? fc.oneof(fc.nat({ max: a.users.length - 1 }), fc.nat({ max: 1 })).map((user) => ({ kind, user })) : fc.constant({ kind } as Caller);
    const kinds: CallerKind[] = ['operator', 'app', 'user', 'none'];
    const caller = fc.oneof(...kinds.map((kind) => ({ weight: c!.callers.includes(kind) ? 4 : 1, arbitrary: callerOf(kind) })));
    // One run in four sends its request several times at once: unique keys and row locks under a race.
    const copies = fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 4 }) });
    const run = fc
      .tuple(caller, fc.boolean(), copies)
      .chain(([who, calm, n]) =>
        c!.variables(generators(who, own, who.kind === 'operator' ? null : other, calm)).map((variables) => ({ caller: who, calm, copies: n, variables })),
      );
    const seen = (outcomes[name] = {} as Record<string, number>);
    const seed = SEED ?? Math.floor(Math.random() * 2 ** 31);

    await fc.assert(
      fc.asyncProperty(run, async ({ caller: who, calm, copies: n, variables }) => {
        try {
          await c!.before?.(calm);
          const responses = await Promise.all(Array.from({ length: n }, () => execute(server.graphqlUrl, c!.document, variables, credential(who))));
          for (const res of responses) {
            const outcome = `${calm ? 'calm' : 'hostile'} ${who.kind} ${res.errors?.[0]?.extensions?.code ?? 'ok'}`;
            seen[outcome] = (seen[outcome] ?? 0) + 1;
            try {
              expectSafe(res);
            } catch (err) {
              const body = JSON.stringify({ data: res.data, errors: res.errors }).slice(0, 2_000);
              throw new Error(`${(err as Error).message}\nresponse: HTTP ${res.status} ${body}`);
            }
          }
        } finally {
          if (c!.restore) await restoreTenantA();
          await c!.after?.();
        }
      }),
      { numRuns: RUNS, seed },
    );
    expect(await snapshot(b), `tenant B changed while fuzzing ${name} (FUZZ_SEED=${seed} replays it)`).toEqual(tenantB);
    // No webhook attempt was made (the only ones logged are those seedWebhooks wrote): nothing left the machine.
    expect(await server.deps.db.prisma.webhookAttempt.count({ where: { NOT: { responseSnippet: SEEDED_ATTEMPT } } })).toBe(0);
  }, 120_000);
});

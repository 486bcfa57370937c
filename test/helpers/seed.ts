import { randomBytes } from 'node:crypto';
import { graphql } from '../generated/index.ts';
import { ok } from './client.ts';
import type { TestServer } from './server.ts';

const SeedTenant = graphql(`
  mutation SeedTenant($input: CreateTenantInput!) {
    createTenant(input: $input) { id }
  }
`);
const SeedLimits = graphql(`
  mutation SeedLimits($id: ID!, $input: UpdateTenantInput!) {
    updateTenant(id: $id, input: $input) { id }
  }
`);
const SeedApp = graphql(`
  mutation SeedApp($input: CreateAppInput!) {
    createApp(input: $input) { id }
  }
`);
const SeedKey = graphql(`
  mutation SeedKey($appId: ID!) {
    createApiKey(appId: $appId) { key apiKey { id } }
  }
`);
const SeedUser = graphql(`
  mutation SeedUser($input: UpsertUserInput!) {
    upsertUser(input: $input) { id externalId }
  }
`);
const SeedToken = graphql(`
  mutation SeedToken($input: CreateUserTokenInput!) {
    createUserToken(input: $input) { token expiresAt }
  }
`);
const SeedConversation = graphql(`
  mutation SeedConversation($input: CreateConversationInput!) {
    createConversation(input: $input) { id }
  }
`);

export type SeededApp = { tenantId: string; appId: string; apiKey: string; apiKeyId: string };
export type SeededUser = { id: string; externalId: string; token: string };

const unique = () => randomBytes(4).toString('hex');

/** Where to seed: a test server, or anything else serving Parley's GraphQL (a load balancer). */
type Target = Pick<TestServer, 'graphqlUrl' | 'adminToken'>;

/**
 * A tenant of its own, an app and an API key: each test seeds its own, so tests never collide.
 * Tests send in bursts far above any plan's messages per second, so the seeded tenant's rate is
 * lifted (messages per second, requests per minute) unless `planRate` asks for the plan’s own.
 */
export async function seedApp(
  server: Target,
  { plan = 'PRO' as 'FREE' | 'PRO' | 'ENTERPRISE', planRate = false } = {},
): Promise<SeededApp> {
  const admin = { token: server.adminToken };
  const { createTenant } = await ok(server.graphqlUrl, SeedTenant, { input: { name: `tenant-${unique()}`, plan } }, admin);
  if (!planRate) {
    await ok(server.graphqlUrl, SeedLimits, { id: createTenant.id, input: { limits: { messagesPerSecondPerUser: 1_000_000, requestsPerMinute: 1_000_000 } } }, admin);
  }
  const { createApp } = await ok(server.graphqlUrl, SeedApp, { input: { tenantId: createTenant.id, name: 'app' } }, admin);
  const { createApiKey } = await ok(server.graphqlUrl, SeedKey, { appId: createApp.id }, admin);
  return { tenantId: createTenant.id, appId: createApp.id, apiKey: createApiKey.key, apiKeyId: createApiKey.apiKey.id };
}

/** A user of the app with a fresh token. */
export async function seedUser(server: Target, app: SeededApp, externalId = `user-${unique()}`): Promise<SeededUser> {
  const cred = { apiKey: app.apiKey };
  const { upsertUser } = await ok(server.graphqlUrl, SeedUser, { input: { externalId, displayName: externalId } }, cred);
  const { createUserToken } = await ok(server.graphqlUrl, SeedToken, { input: { userId: upsertUser.id } }, cred);
  return { id: upsertUser.id, externalId, token: createUserToken.token };
}

export async function seedUsers(server: Target, app: SeededApp, count: number): Promise<SeededUser[]> {
  return Promise.all(Array.from({ length: count }, () => seedUser(server, app)));
}

/** A GROUP conversation owned by `owner` with `others` as MEMBERs. */
export async function seedGroup(server: Target, owner: SeededUser, others: SeededUser[]): Promise<string> {
  const { createConversation } = await ok(
    server.graphqlUrl,
    SeedConversation,
    { input: { kind: 'GROUP', memberIds: others.map((u) => u.id), title: 'group' } },
    { token: owner.token },
  );
  return createConversation.id;
}

import { randomBytes } from 'node:crypto';
import { graphql } from '../generated/index.ts';
import { ok } from './client.ts';
import type { TestServer } from './server.ts';

const SeedTenant = graphql(`
  mutation SeedTenant($input: CreateTenantInput!) {
    createTenant(input: $input) { id }
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

/** A tenant of its own, an app and an API key: each test seeds its own, so tests never collide. */
export async function seedApp(server: TestServer, { plan = 'PRO' as 'FREE' | 'PRO' | 'ENTERPRISE' } = {}): Promise<SeededApp> {
  const admin = { token: server.adminToken };
  const { createTenant } = await ok(server.graphqlUrl, SeedTenant, { input: { name: `tenant-${unique()}`, plan } }, admin);
  const { createApp } = await ok(server.graphqlUrl, SeedApp, { input: { tenantId: createTenant.id, name: 'app' } }, admin);
  const { createApiKey } = await ok(server.graphqlUrl, SeedKey, { appId: createApp.id }, admin);
  return { tenantId: createTenant.id, appId: createApp.id, apiKey: createApiKey.key, apiKeyId: createApiKey.apiKey.id };
}

/** A user of the app with a fresh token. */
export async function seedUser(server: TestServer, app: SeededApp, externalId = `user-${unique()}`): Promise<SeededUser> {
  const cred = { apiKey: app.apiKey };
  const { upsertUser } = await ok(server.graphqlUrl, SeedUser, { input: { externalId, displayName: externalId } }, cred);
  const { createUserToken } = await ok(server.graphqlUrl, SeedToken, { input: { userId: upsertUser.id } }, cred);
  return { id: upsertUser.id, externalId, token: createUserToken.token };
}

export async function seedUsers(server: TestServer, app: SeededApp, count: number): Promise<SeededUser[]> {
  return Promise.all(Array.from({ length: count }, () => seedUser(server, app)));
}

/** A GROUP conversation owned by `owner` with `others` as MEMBERs. */
export async function seedGroup(server: TestServer, owner: SeededUser, others: SeededUser[]): Promise<string> {
  const { createConversation } = await ok(
    server.graphqlUrl,
    SeedConversation,
    { input: { kind: 'GROUP', memberIds: others.map((u) => u.id), title: 'group' } },
    { token: owner.token },
  );
  return createConversation.id;
}

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLAN_LIMITS, type Plan } from '../../src/modules/tenant/plans.ts';
import { graphql } from '../generated/index.ts';
import { errorCode, execute, ok } from '../helpers/client.ts';
import { seedApp } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const CreateTenant = graphql(`
  mutation OperatorCreateTenant($input: CreateTenantInput!) {
    createTenant(input: $input) {
      id name plan status createdAt
      limits { requestsPerMinute messagesPerSecondPerUser maxApps maxUsersPerApp maxMembersPerConversation maxSocketsPerUser maxMessageBytes maxAttachmentsPerMessage wsMessagesPerSecond }
    }
  }
`);
const UpdateTenant = graphql(`
  mutation OperatorUpdateTenant($id: ID!, $input: UpdateTenantInput!) {
    updateTenant(id: $id, input: $input) {
      id plan status
      limits { requestsPerMinute messagesPerSecondPerUser maxApps maxUsersPerApp maxMembersPerConversation maxSocketsPerUser maxMessageBytes maxAttachmentsPerMessage wsMessagesPerSecond }
    }
  }
`);
const Tenant = graphql(`
  query OperatorTenant($id: ID!) {
    tenant(id: $id) { id name plan status limits { maxApps requestsPerMinute } }
  }
`);
const Tenants = graphql(`
  query OperatorTenants($first: Int, $after: String, $last: Int, $before: String) {
    tenants(first: $first, after: $after, last: $last, before: $before) {
      edges { cursor node { id } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`);
const CreateApp = graphql(`
  mutation OperatorCreateApp($input: CreateAppInput!) {
    createApp(input: $input) { id tenantId name allowedOrigins createdAt }
  }
`);
const Apps = graphql(`
  query OperatorApps($tenantId: ID!) {
    apps(tenantId: $tenantId) { id tenantId name apiKeys { id appId createdAt revokedAt } }
  }
`);
const CreateApiKey = graphql(`
  mutation OperatorCreateApiKey($appId: ID!) {
    createApiKey(appId: $appId) { key secret apiKey { id appId createdAt revokedAt } }
  }
`);
const RevokeApiKey = graphql(`
  mutation OperatorRevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) { id appId revokedAt }
  }
`);
const ApiKeyFields = graphql(`
  query OperatorApiKeyFields {
    __type(name: "ApiKey") { fields { name } }
  }
`);
const AppUsers = graphql(`
  query OperatorAppUsers {
    users(first: 1) { edges { node { id } } }
  }
`);

let server: TestServer;
/** A plan's limits as a tenant sees them: the message size is the deployment's MAX_MESSAGE_BYTES. */
const planDefaults = (plan: Plan) => ({ ...PLAN_LIMITS[plan], maxMessageBytes: server.deps.config.maxMessageBytes });
let admin: { token: string };

beforeAll(async () => {
  server = await startServer();
  admin = { token: server.adminToken };
});
afterAll(() => server?.close());

const unique = () => randomBytes(4).toString('hex');

async function createTenant(plan?: 'FREE' | 'PRO' | 'ENTERPRISE') {
  const input = { name: `op-${unique()}`, ...(plan ? { plan } : {}) };
  return (await ok(server.graphqlUrl, CreateTenant, { input }, admin)).createTenant;
}

async function storedTenant(id: string) {
  return server.deps.db.prisma.tenant.findUniqueOrThrow({ where: { id } });
}

describe('tenants', () => {
  it('createTenant defaults to FREE, ACTIVE, with the FREE plan limits', async () => {
    const name = `op-${unique()}`;
    const tenant = (await ok(server.graphqlUrl, CreateTenant, { input: { name } }, admin)).createTenant;
    expect(tenant).toMatchObject({ name, plan: 'FREE', status: 'ACTIVE', limits: planDefaults('FREE') });
    expect(tenant.limits.maxApps).toBe(2);
    const pro = await createTenant('PRO');
    expect(pro).toMatchObject({ plan: 'PRO', limits: planDefaults('PRO') });
    const read = (await ok(server.graphqlUrl, Tenant, { id: tenant.id }, admin)).tenant;
    expect(read).toMatchObject({ id: tenant.id, name, plan: 'FREE', status: 'ACTIVE' });
  });

  it('tenants(first, after) visits every tenant once, in creation order', async () => {
    const mine: string[] = [];
    for (let i = 0; i < 5; i++) mine.push((await createTenant()).id);

    const seen: string[] = [];
    let after: string | null | undefined;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(1000);
      const page = (await ok(server.graphqlUrl, Tenants, { first: 2, after }, admin)).tenants;
      expect(page.edges.length).toBeLessThanOrEqual(2);
      seen.push(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => mine.includes(id))).toEqual(mine);
  });

  it('tenants(last, before) pages backwards through the same order', async () => {
    const mine: string[] = [];
    for (let i = 0; i < 5; i++) mine.push((await createTenant()).id);

    const seen: string[] = [];
    let before: string | null | undefined;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(1000);
      const page = (await ok(server.graphqlUrl, Tenants, { last: 2, before }, admin)).tenants;
      expect(page.edges.length).toBeLessThanOrEqual(2);
      seen.unshift(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasPreviousPage) break;
      before = page.pageInfo.startCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => mine.includes(id))).toEqual(mine);
  });

  it('tenant(id) of an unknown id is NOT_FOUND', async () => {
    expect(await errorCode(server.graphqlUrl, Tenant, { id: 'ten_unknown' }, admin)).toBe('NOT_FOUND');
  });
});

describe('updateTenant', () => {
  it('a plan change brings its defaults; an override holds until set back to null', async () => {
    const { id } = await createTenant();
    const pro = (await ok(server.graphqlUrl, UpdateTenant, { id, input: { plan: 'PRO' } }, admin)).updateTenant;
    expect(pro).toMatchObject({ plan: 'PRO', status: 'ACTIVE', limits: planDefaults('PRO') });

    const overridden = (await ok(server.graphqlUrl, UpdateTenant, { id, input: { limits: { maxApps: 7 } } }, admin)).updateTenant;
    expect(overridden.limits).toEqual({ ...planDefaults('PRO'), maxApps: 7 });

    // A limits input that omits maxApps leaves its override in place.
    const other = (await ok(server.graphqlUrl, UpdateTenant, { id, input: { limits: { requestsPerMinute: 123 } } }, admin)).updateTenant;
    expect(other.limits).toEqual({ ...planDefaults('PRO'), maxApps: 7, requestsPerMinute: 123 });
    // So does an update without limits at all, even a plan change.
    const enterprise = (await ok(server.graphqlUrl, UpdateTenant, { id, input: { plan: 'ENTERPRISE' } }, admin)).updateTenant;
    expect(enterprise.limits).toEqual({ ...planDefaults('ENTERPRISE'), maxApps: 7, requestsPerMinute: 123 });

    const reset = (await ok(server.graphqlUrl, UpdateTenant, { id, input: { limits: { maxApps: null } } }, admin)).updateTenant;
    expect(reset.limits).toEqual({ ...planDefaults('ENTERPRISE'), requestsPerMinute: 123 });
    expect((await storedTenant(id)).limits).toEqual({ requestsPerMinute: 123 });
  });

  it('a negative limit is BAD_USER_INPUT naming the field, and changes nothing', async () => {
    const { id } = await createTenant();
    await ok(server.graphqlUrl, UpdateTenant, { id, input: { limits: { maxApps: 3 } } }, admin);
    const before = await storedTenant(id);

    const res = await execute(server.graphqlUrl, UpdateTenant, { id, input: { plan: 'PRO', limits: { maxApps: -1 } } }, admin);
    expect(res.errors).toHaveLength(1);
    const error = res.errors![0]!;
    expect(error.extensions.code).toBe('BAD_USER_INPUT');
    const issues = error.extensions.issues as { path: string; message: string }[];
    expect(issues).toEqual([{ path: 'input.limits.maxApps', message: expect.any(String) }]);
    expect(await storedTenant(id)).toEqual(before);
  });

  it('an unknown tenant id is NOT_FOUND', async () => {
    expect(await errorCode(server.graphqlUrl, UpdateTenant, { id: 'ten_unknown', input: { plan: 'PRO' } }, admin)).toBe('NOT_FOUND');
  });
});

describe('apps', () => {
  it('createApp for an unknown tenant is NOT_FOUND and stores nothing', async () => {
    const input = { tenantId: 'ten_unknown', name: 'ghost' };
    expect(await errorCode(server.graphqlUrl, CreateApp, { input }, admin)).toBe('NOT_FOUND');
    expect(await server.deps.db.prisma.app.count({ where: { tenantId: 'ten_unknown' } })).toBe(0);
  });

  it('allowedOrigins must be origins', async () => {
    const { id: tenantId } = await createTenant();
    for (const bad of ['not a url', 'https://x.com/path', 'ftp://files.example.com', 'https://chat.example.com/']) {
      const res = await execute(server.graphqlUrl, CreateApp, { input: { tenantId, name: 'app', allowedOrigins: [bad] } }, admin);
      expect(res.errors?.map((e) => e.extensions.code), bad).toEqual(['BAD_USER_INPUT']);
      const issues = res.errors![0]!.extensions.issues as { path: string }[];
      expect(issues.map((i) => i.path)).toEqual(['input.allowedOrigins.0']);
    }
    expect(await server.deps.db.prisma.app.count({ where: { tenantId } })).toBe(0);

    const origins = ['https://chat.example.com', 'http://localhost:3000'];
    const created = (await ok(server.graphqlUrl, CreateApp, { input: { tenantId, name: 'web', allowedOrigins: origins } }, admin)).createApp;
    expect(created).toMatchObject({ tenantId, name: 'web', allowedOrigins: origins });
  });

  it("apps(tenantId) lists that tenant's apps only", async () => {
    const { id: t1 } = await createTenant();
    const { id: t2 } = await createTenant();
    const a1 = (await ok(server.graphqlUrl, CreateApp, { input: { tenantId: t1, name: 'one' } }, admin)).createApp;
    const a2 = (await ok(server.graphqlUrl, CreateApp, { input: { tenantId: t1, name: 'two' } }, admin)).createApp;
    const b1 = (await ok(server.graphqlUrl, CreateApp, { input: { tenantId: t2, name: 'other' } }, admin)).createApp;
    expect(a1.allowedOrigins).toEqual([]);

    const listed = (await ok(server.graphqlUrl, Apps, { tenantId: t1 }, admin)).apps;
    expect(listed.map((a) => a.id)).toEqual([a1.id, a2.id]);
    expect(listed.every((a) => a.tenantId === t1)).toBe(true);
    expect((await ok(server.graphqlUrl, Apps, { tenantId: t2 }, admin)).apps.map((a) => a.id)).toEqual([b1.id]);
    expect(await errorCode(server.graphqlUrl, Apps, { tenantId: 'ten_unknown' }, admin)).toBe('NOT_FOUND');
  });
});

describe('API keys', () => {
  it('createApiKey returns pk_….sk_… that works as X-API-Key; the secret is never shown again', async () => {
    const { appId } = await seedApp(server);
    const created = (await ok(server.graphqlUrl, CreateApiKey, { appId }, admin)).createApiKey;
    expect(created.key).toMatch(/^pk_[A-Za-z0-9_-]+\.sk_[A-Za-z0-9_-]+$/);
    expect(created.apiKey.id).toMatch(/^pk_/);
    expect(created.secret).toMatch(/^sk_/);
    expect(created.key).toBe(`${created.apiKey.id}.${created.secret}`);
    expect(created.apiKey).toMatchObject({ appId, revokedAt: null });

    expect((await ok(server.graphqlUrl, AppUsers, {}, { apiKey: created.key })).users.edges).toEqual([]);

    // The key's type has no field that could carry the secret; the listing shows metadata only.
    const fields = (await ok(server.graphqlUrl, ApiKeyFields, {}, admin)).__type?.fields?.map((f) => f.name);
    expect(fields?.sort()).toEqual(['appId', 'createdAt', 'id', 'revokedAt']);
    const { tenantId } = await server.deps.db.prisma.app.findUniqueOrThrow({ where: { id: appId } });
    const app = (await ok(server.graphqlUrl, Apps, { tenantId }, admin)).apps.find((a) => a.id === appId);
    expect(app?.apiKeys.map((k) => k.id)).toContain(created.apiKey.id);
    expect(JSON.stringify(app)).not.toContain(created.secret);
  });

  it('createApiKey for an unknown app is NOT_FOUND', async () => {
    expect(await errorCode(server.graphqlUrl, CreateApiKey, { appId: 'app_unknown' }, admin)).toBe('NOT_FOUND');
    expect(await server.deps.db.prisma.apiKey.count({ where: { appId: 'app_unknown' } })).toBe(0);
  });

  it('two keys both work until one is revoked; revoking is idempotent', async () => {
    const { appId, apiKey: first, apiKeyId: firstId } = await seedApp(server);
    const second = (await ok(server.graphqlUrl, CreateApiKey, { appId }, admin)).createApiKey;
    await ok(server.graphqlUrl, AppUsers, {}, { apiKey: first });
    await ok(server.graphqlUrl, AppUsers, {}, { apiKey: second.key });

    const revoked = (await ok(server.graphqlUrl, RevokeApiKey, { id: firstId }, admin)).revokeApiKey;
    expect(revoked).toMatchObject({ id: firstId, appId });
    expect(revoked.revokedAt).toEqual(expect.any(String));
    const again = (await ok(server.graphqlUrl, RevokeApiKey, { id: firstId }, admin)).revokeApiKey;
    expect(again.revokedAt).toBe(revoked.revokedAt);

    const res = await execute(server.graphqlUrl, AppUsers, {}, { apiKey: first });
    expect(res.status).toBe(401);
    expect(res.errors?.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
    await ok(server.graphqlUrl, AppUsers, {}, { apiKey: second.key });

    const { tenantId } = await server.deps.db.prisma.app.findUniqueOrThrow({ where: { id: appId } });
    const keys = (await ok(server.graphqlUrl, Apps, { tenantId }, admin)).apps[0]!.apiKeys;
    expect(keys.map((k) => [k.id, k.revokedAt])).toEqual([
      [firstId, revoked.revokedAt],
      [second.apiKey.id, null],
    ]);
  });

  it('revokeApiKey of an unknown id is NOT_FOUND', async () => {
    expect(await errorCode(server.graphqlUrl, RevokeApiKey, { id: 'pk_unknown' }, admin)).toBe('NOT_FOUND');
  });
});

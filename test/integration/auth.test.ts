import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { print } from 'graphql';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { errorCode, execute, ok, type Credential } from '../helpers/client.ts';
import { seedApp, seedUser, seedUsers, type SeededUser } from '../helpers/seed.ts';
import { startServer, storeEnv, testStore, type TestServer } from '../helpers/server.ts';

const Me = graphql(`
  query AuthMe($asUserId: ID) {
    me(asUserId: $asUserId) { id externalId }
  }
`);
const Upsert = graphql(`
  mutation AuthUpsertUser($input: UpsertUserInput!) {
    upsertUser(input: $input) { id externalId }
  }
`);
const CreateToken = graphql(`
  mutation AuthCreateUserToken($input: CreateUserTokenInput!) {
    createUserToken(input: $input) { token expiresAt }
  }
`);
const RevokeSessions = graphql(`
  mutation AuthRevokeUserSessions($userId: ID!) {
    revokeUserSessions(userId: $userId)
  }
`);
const CreateTenant = graphql(`
  mutation AuthCreateTenant($input: CreateTenantInput!) {
    createTenant(input: $input) { id }
  }
`);
const Tenants = graphql(`
  query AuthTenants {
    tenants(first: 1) { edges { node { id } } }
  }
`);
const UpdateTenant = graphql(`
  mutation AuthUpdateTenant($id: ID!, $input: UpdateTenantInput!) {
    updateTenant(id: $id, input: $input) { id status }
  }
`);
const RevokeApiKey = graphql(`
  mutation AuthRevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) { id revokedAt }
  }
`);
const CreateConversation = graphql(`
  mutation AuthCreateConversation($asUserId: ID, $input: CreateConversationInput!) {
    createConversation(asUserId: $asUserId, input: $input) { id members { userId role } }
  }
`);

let server: TestServer;
let admin: { token: string };

beforeAll(async () => {
  server = await startServer();
  admin = { token: server.adminToken };
});
afterAll(() => server?.close());

const unique = () => randomBytes(4).toString('hex');

/** A refused credential: HTTP 401 and a single UNAUTHENTICATED error, with no data. */
async function expectUnauthenticated(cred: Credential, url = server.graphqlUrl) {
  const res = await execute(url, Me, {}, cred);
  expect(res.status).toBe(401);
  expect(res.errors?.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
  expect(res.data ?? null).toBeNull();
}

/** Runs `fn` against a server of its own, closed afterwards whatever happens. */
async function withServer<T>(env: Record<string, string>, fn: (s: TestServer) => Promise<T>): Promise<T> {
  const started = await startServer(env);
  try {
    return await fn(started);
  } finally {
    await started.close();
  }
}

const countUsers = (externalId: string) => server.deps.db.prisma.user.count({ where: { externalId } });
const countTenants = (name: string) => server.deps.db.prisma.tenant.count({ where: { name } });

describe('API keys', () => {
  it('a valid key works; a wrong secret, unknown id, malformed value or revoked key is 401', async () => {
    const app = await seedApp(server);
    const externalId = `u-${unique()}`;
    const created = (await ok(server.graphqlUrl, Upsert, { input: { externalId } }, { apiKey: app.apiKey })).upsertUser;
    expect(created.externalId).toBe(externalId);

    const [keyId, secret] = app.apiKey.split('.') as [string, string];
    await expectUnauthenticated({ apiKey: `${keyId}.sk_${randomBytes(32).toString('base64url')}` });
    await expectUnauthenticated({ apiKey: `${keyId}.${secret}x` });
    await expectUnauthenticated({ apiKey: `pk_${randomBytes(12).toString('base64url')}.${secret}` });
    for (const malformed of ['garbage', keyId, secret, `${keyId}:${secret}`, `${keyId}.${secret}.extra`, `Bearer ${app.apiKey}`]) {
      await expectUnauthenticated({ apiKey: malformed });
    }

    await ok(server.graphqlUrl, RevokeApiKey, { id: keyId }, admin);
    await expectUnauthenticated({ apiKey: app.apiKey });
    // A write with the revoked key does nothing.
    const res = await execute(server.graphqlUrl, Upsert, { input: { externalId: `${externalId}-2` } }, { apiKey: app.apiKey });
    expect(res.status).toBe(401);
    expect(await countUsers(`${externalId}-2`)).toBe(0);
  });

  it('Authorization and X-API-Key together are 401', async () => {
    const app = await seedApp(server);
    const user = await seedUser(server, app);
    for (const authorization of [`Bearer ${user.token}`, `Bearer ${server.adminToken}`]) {
      const res = await fetch(server.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization, 'x-api-key': app.apiKey },
        body: JSON.stringify({ query: print(Me) }),
      });
      expect(res.status).toBe(401);
      const body = (await res.json()) as { errors?: { extensions: { code: string } }[] };
      expect(body.errors?.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
    }
  });

  it('the secret is stored only as a scrypt hash', async () => {
    const app = await seedApp(server);
    const secret = app.apiKey.split('.')[1]!;
    const row = await server.deps.db.prisma.apiKey.findUniqueOrThrow({ where: { id: app.apiKeyId } });
    expect(row.secretHash.startsWith('scrypt$')).toBe(true);
    expect(row.secretHash).not.toContain(secret);
    expect(row.secretHash).not.toContain(secret.slice(3));
  });
});

describe('operator and roles', () => {
  it('ADMIN_TOKEN works as Bearer; a wrong bearer is 401', async () => {
    const name = `auth-${unique()}`;
    await ok(server.graphqlUrl, CreateTenant, { input: { name } }, admin);
    expect(await countTenants(name)).toBe(1);
    await expectUnauthenticated({ token: `${server.adminToken}x` });
    await expectUnauthenticated({ token: 'not-the-admin-token' });
  });

  it('no credential on a protected field is UNAUTHENTICATED with HTTP 401', async () => {
    const tenants = await execute(server.graphqlUrl, Tenants, {}, { none: true });
    expect(tenants.status).toBe(401);
    expect(tenants.errors?.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
    await expectUnauthenticated({ none: true });
    const name = `auth-${unique()}`;
    expect(await errorCode(server.graphqlUrl, CreateTenant, { input: { name } }, { none: true })).toBe('UNAUTHENTICATED');
    expect(await countTenants(name)).toBe(0);
  });

  it('the operator may not call app-server or end-user fields', async () => {
    const externalId = `u-${unique()}`;
    expect(await errorCode(server.graphqlUrl, Upsert, { input: { externalId } }, admin)).toBe('FORBIDDEN');
    expect(await countUsers(externalId)).toBe(0);
    expect(await errorCode(server.graphqlUrl, Me, {}, admin)).toBe('FORBIDDEN');
  });

  it('end users and app servers may not call operator fields', async () => {
    const app = await seedApp(server);
    const user = await seedUser(server, app);
    for (const cred of [{ token: user.token }, { apiKey: app.apiKey }]) {
      const name = `auth-${unique()}`;
      expect(await errorCode(server.graphqlUrl, CreateTenant, { input: { name } }, cred)).toBe('FORBIDDEN');
      expect(await countTenants(name)).toBe(0);
      expect(await errorCode(server.graphqlUrl, Tenants, {}, cred)).toBe('FORBIDDEN');
      expect(await errorCode(server.graphqlUrl, UpdateTenant, { id: app.tenantId, input: { status: 'SUSPENDED' } }, cred)).toBe('FORBIDDEN');
      expect(await errorCode(server.graphqlUrl, RevokeApiKey, { id: app.apiKeyId }, cred)).toBe('FORBIDDEN');
    }
    const key = await server.deps.db.prisma.apiKey.findUniqueOrThrow({ where: { id: app.apiKeyId } });
    expect(key.revokedAt).toBeNull();
    expect((await server.deps.db.prisma.tenant.findUniqueOrThrow({ where: { id: app.tenantId } })).status).toBe('ACTIVE');
  });
});

describe('user tokens', () => {
  it('revokeUserSessions ends every token of that user; a new token works', async () => {
    const app = await seedApp(server);
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const cred = { apiKey: app.apiKey };
    const second = (await ok(server.graphqlUrl, CreateToken, { input: { userId: alice.id } }, cred)).createUserToken;
    for (const token of [alice.token, second.token]) {
      expect((await ok(server.graphqlUrl, Me, {}, { token })).me.id).toBe(alice.id);
    }

    expect((await ok(server.graphqlUrl, RevokeSessions, { userId: alice.id }, cred)).revokeUserSessions).toBe(true);
    await expectUnauthenticated({ token: alice.token });
    await expectUnauthenticated({ token: second.token });
    expect((await ok(server.graphqlUrl, Me, {}, { token: bob.token })).me.id).toBe(bob.id);
    const fresh = (await ok(server.graphqlUrl, CreateToken, { input: { userId: alice.id } }, cred)).createUserToken;
    expect((await ok(server.graphqlUrl, Me, {}, { token: fresh.token })).me.id).toBe(alice.id);
  });

  it("revokeUserSessions of another app's user is NOT_FOUND and revokes nothing", async () => {
    const app = await seedApp(server);
    const other = await seedApp(server);
    const stranger = await seedUser(server, other);
    expect(await errorCode(server.graphqlUrl, RevokeSessions, { userId: stranger.id }, { apiKey: app.apiKey })).toBe('NOT_FOUND');
    expect((await ok(server.graphqlUrl, Me, {}, { token: stranger.token })).me.id).toBe(stranger.id);
    expect(await server.deps.db.prisma.session.count({ where: { userId: stranger.id, revokedAt: { not: null } } })).toBe(0);
  });

  it('ttlSeconds must be within 60..86400; expiresAt matches the ttl', async () => {
    const app = await seedApp(server);
    const user = await seedUser(server, app);
    const cred = { apiKey: app.apiKey };
    const sessionsBefore = await server.deps.db.prisma.session.count({ where: { userId: user.id } });
    for (const ttlSeconds of [0, 59, 86_401, -60]) {
      expect(await errorCode(server.graphqlUrl, CreateToken, { input: { userId: user.id, ttlSeconds } }, cred)).toBe('BAD_USER_INPUT');
    }
    expect(await server.deps.db.prisma.session.count({ where: { userId: user.id } })).toBe(sessionsBefore);

    for (const ttlSeconds of [60, 86_400, undefined]) {
      const from = Date.now();
      const input = ttlSeconds === undefined ? { userId: user.id } : { userId: user.id, ttlSeconds };
      const { token, expiresAt } = (await ok(server.graphqlUrl, CreateToken, { input }, cred)).createUserToken;
      const to = Date.now();
      const ttlMs = (ttlSeconds ?? 3600) * 1000;
      const expires = Date.parse(expiresAt);
      expect(expires).toBeGreaterThanOrEqual(from + ttlMs - 1000);
      expect(expires).toBeLessThanOrEqual(to + ttlMs + 1000);
      expect(decodeJwt(token).exp).toBe(Math.floor(expires / 1000));
      expect((await ok(server.graphqlUrl, Me, {}, { token })).me.id).toBe(user.id);
    }
  });
});

describe('suspended tenant', () => {
  it('refuses its API key and its users’ tokens with FORBIDDEN until it is ACTIVE again', async () => {
    const app = await seedApp(server);
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const key = { apiKey: app.apiKey };
    const userCred = { token: alice.token };
    const suspend = (status: 'ACTIVE' | 'SUSPENDED') => ok(server.graphqlUrl, UpdateTenant, { id: app.tenantId, input: { status } }, admin);

    expect((await suspend('SUSPENDED')).updateTenant.status).toBe('SUSPENDED');
    const externalId = `u-${unique()}`;
    expect(await errorCode(server.graphqlUrl, Upsert, { input: { externalId } }, key)).toBe('FORBIDDEN');
    expect(await errorCode(server.graphqlUrl, CreateToken, { input: { userId: alice.id } }, key)).toBe('FORBIDDEN');
    expect(await errorCode(server.graphqlUrl, Me, { asUserId: alice.id }, key)).toBe('FORBIDDEN');
    expect(await errorCode(server.graphqlUrl, Me, {}, userCred)).toBe('FORBIDDEN');
    // Refused before execution, with no data: a 4xx status (GraphQL over HTTP).
    const refusedRequest = await execute(server.graphqlUrl, Me, {}, userCred);
    expect([refusedRequest.status, refusedRequest.data]).toEqual([403, undefined]);
    const conv = { input: { kind: 'GROUP' as const, memberIds: [bob.id], title: 'x' } };
    expect(await errorCode(server.graphqlUrl, CreateConversation, conv, userCred)).toBe('FORBIDDEN');
    expect(await countUsers(externalId)).toBe(0);
    expect(await server.deps.db.prisma.membership.count({ where: { userId: alice.id } })).toBe(0);

    await suspend('ACTIVE');
    expect((await ok(server.graphqlUrl, Upsert, { input: { externalId } }, key)).upsertUser.externalId).toBe(externalId);
    expect((await ok(server.graphqlUrl, Me, {}, userCred)).me.id).toBe(alice.id);
    await ok(server.graphqlUrl, CreateConversation, conv, userCred);
  });
});

describe('restart', () => {
  it('tokens and API keys stay valid across a restart on the same store', async () => {
    const dir = testStore() === 'pglite' ? await mkdtemp(join(tmpdir(), 'parley-auth-')) : null;
    // Both servers run with the same environment: on PGlite a real directory (the second
    // starts only once the first has closed it), on PostgreSQL the run's database.
    const adminToken = `restart-admin-${unique()}${unique()}`;
    const env: Record<string, string> = dir ? { DATA_DIR: dir, ADMIN_TOKEN: adminToken } : { ...storeEnv(), ADMIN_TOKEN: adminToken };
    try {
      const { app, user } = await withServer(env, async (first) => {
        const app = await seedApp(first);
        const user = await seedUser(first, app);
        expect((await ok(first.graphqlUrl, Me, {}, { token: user.token })).me.id).toBe(user.id);
        return { app, user };
      });
      await withServer(env, async (second) => {
        expect((await ok(second.graphqlUrl, Me, {}, { token: user.token })).me.id).toBe(user.id);
        const externalId = `u-${unique()}`;
        const upserted = await ok(second.graphqlUrl, Upsert, { input: { externalId } }, { apiKey: app.apiKey });
        expect(upserted.upsertUser.externalId).toBe(externalId);
        await expectUnauthenticated({ token: `${user.token}x` }, second.graphqlUrl);
      });
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('asUserId', () => {
  it('an app server acts as a user of its app, and only with asUserId', async () => {
    const app = await seedApp(server);
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const key = { apiKey: app.apiKey };
    expect((await ok(server.graphqlUrl, Me, { asUserId: alice.id }, key)).me).toEqual({ id: alice.id, externalId: alice.externalId });
    const conv = (
      await ok(server.graphqlUrl, CreateConversation, { asUserId: alice.id, input: { kind: 'GROUP', memberIds: [bob.id], title: 't' } }, key)
    ).createConversation;
    expect(conv.members.map((m) => [m.userId, m.role]).sort()).toEqual([
      [alice.id, 'OWNER'],
      [bob.id, 'MEMBER'],
    ].sort());

    const input = { kind: 'GROUP' as const, memberIds: [bob.id], title: 'none' };
    expect(await errorCode(server.graphqlUrl, Me, {}, key)).toBe('BAD_USER_INPUT');
    expect(await errorCode(server.graphqlUrl, CreateConversation, { input }, key)).toBe('BAD_USER_INPUT');

    const stranger = await seedUser(server, await seedApp(server));
    expect(await errorCode(server.graphqlUrl, Me, { asUserId: stranger.id }, key)).toBe('NOT_FOUND');
    expect(await errorCode(server.graphqlUrl, CreateConversation, { asUserId: stranger.id, input }, key)).toBe('NOT_FOUND');
    expect(await server.deps.db.prisma.membership.count({ where: { userId: { in: [alice.id, bob.id] } } })).toBe(2);
  });

  it("an end user passing someone else's asUserId is FORBIDDEN", async () => {
    const app = await seedApp(server);
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    expect(await errorCode(server.graphqlUrl, Me, { asUserId: bob.id }, { token: alice.token })).toBe('FORBIDDEN');
    const input = { kind: 'GROUP' as const, memberIds: [alice.id], title: 'x' };
    expect(await errorCode(server.graphqlUrl, CreateConversation, { asUserId: bob.id, input }, { token: alice.token })).toBe('FORBIDDEN');
    expect(await server.deps.db.prisma.membership.count({ where: { userId: { in: [alice.id, bob.id] } } })).toBe(0);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute, ok, type GqlError } from '../helpers/client.ts';
import { seedApp, seedUsers, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { disposeAllWs, eventually, rawConnect } from '../helpers/ws.ts';

const Me = graphql(`
  query ReqRateMe($asUserId: ID) {
    me(asUserId: $asUserId) { id }
  }
`);
const Limits = graphql(`
  mutation ReqRateLimits($id: ID!, $input: UpdateTenantInput!) {
    updateTenant(id: $id, input: $input) { id }
  }
`);
const Apps = graphql(`
  query ReqRateApps($tenantId: ID!) {
    apps(tenantId: $tenantId) { id }
  }
`);

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server?.close());

describe('requestsPerMinute per tenant', () => {
  it('counts every request of the tenant’s apps and users, announces it in RateLimit headers, and refuses past it with 429', async () => {
    const app = await seedApp(server, { planRate: true });
    const [user] = (await seedUsers(server, app, 1)) as [SeededUser];
    const admin = { token: server.adminToken };
    await ok(server.graphqlUrl, Limits, { id: app.tenantId, input: { limits: { requestsPerMinute: 4 } } }, admin);
    const other = await seedApp(server, { planRate: true }); // another tenant, on its own budget
    const [stranger] = (await seedUsers(server, other, 1)) as [SeededUser];

    const seen = [];
    for (let i = 0; i < 4; i++) {
      const res = i % 2 === 0 ? await execute(server.graphqlUrl, Me, { asUserId: user.id }, { apiKey: app.apiKey }) : await execute(server.graphqlUrl, Me, {}, { token: user.token });
      expect([res.status, res.errors]).toEqual([200, undefined]);
      seen.push([res.headers.get('ratelimit-policy'), res.headers.get('ratelimit')?.replace(/;t=\d+$/, '')]);
    }
    expect(seen).toEqual([3, 2, 1, 0].map((r) => ['"tenant";q=4;w=60', `"tenant";r=${r}`]));

    // Over the budget, for the app server and the user alike: not executed.
    for (const cred of [{ apiKey: app.apiKey }, { token: user.token }]) {
      const refused = await execute(server.graphqlUrl, Me, 'apiKey' in cred ? { asUserId: user.id } : {}, cred);
      expect(refused.status).toBe(429);
      expect(refused.data ?? null).toBeNull();
      const error = refused.errors![0]!;
      expect(error.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) });
      expect(refused.headers.get('retry-after')).toBe(String(error.extensions.retryAfterSeconds));
      expect(refused.headers.get('ratelimit')).toMatch(/^"tenant";r=0;t=\d+$/);
    }

    // Another tenant, and the operator, are not held back.
    expect((await execute(server.graphqlUrl, Me, {}, { token: stranger.token })).status).toBe(200);
    const operator = await execute(server.graphqlUrl, Apps, { tenantId: app.tenantId }, admin);
    expect([operator.status, operator.headers.get('ratelimit')]).toEqual([200, null]);
  });
});

describe('requestsPerMinute over a socket', () => {
  it('queries and mutations sent over a WebSocket count against the same budget: the socket is no way around it', async () => {
    const app = await seedApp(server, { planRate: true });
    const [user] = (await seedUsers(server, app, 1)) as [SeededUser];
    await ok(server.graphqlUrl, Limits, { id: app.tenantId, input: { limits: { requestsPerMinute: 3 } } }, { token: server.adminToken });
    expect((await execute(server.graphqlUrl, Me, {}, { token: user.token })).status).toBe(200);

    const raw = await rawConnect(server, { apiKey: app.apiKey });
    const answers = async (id: string) => {
      raw.subscribe(id, Me, { asUserId: user.id });
      await eventually(() => expect(raw.messages.some((m) => m.id === id && m.type === 'complete')).toBe(true));
      return raw.messages.filter((m) => m.id === id && m.type === 'next').map((m) => m.payload as { data?: unknown; errors?: GqlError[] });
    };
    expect((await answers('one'))[0]?.data).toEqual({ me: { id: user.id } });
    expect((await answers('two'))[0]?.data).toEqual({ me: { id: user.id } });
    const [refused] = await answers('three');
    expect(refused?.data ?? null).toBeNull();
    expect(refused?.errors?.map((e) => e.extensions.code)).toEqual(['RATE_LIMITED']);
    expect(refused?.errors?.[0]?.extensions.retryAfterSeconds).toBeGreaterThan(0);
    // And HTTP sees the budget the socket spent.
    expect((await execute(server.graphqlUrl, Me, {}, { token: user.token })).status).toBe(429);
    await disposeAllWs();
  });
});

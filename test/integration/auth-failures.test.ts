import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { execute, ok } from '../helpers/client.ts';
import { seedApp, seedUser, type SeededApp } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs } from '../helpers/ws.ts';

// Failed authentications per client address (issue 5, item 4: unauthenticated traffic):
// past AUTH_FAILURES_PER_MINUTE, an address may still use a secret already verified, but
// anything needing a fresh secret check is RATE_LIMITED (429) until its minute is over.

const Me = graphql(`
  query AuthFailMe {
    me { id }
  }
`);
const Users = graphql(`
  query AuthFailUsers {
    users(first: 1) { edges { node { id } } }
  }
`);
const CreateKey = graphql(`
  mutation AuthFailCreateKey($appId: ID!) {
    createApiKey(appId: $appId) { key }
  }
`);

const LIMIT = 3;
const wrong = (apiKey: string) => `${apiKey.split('.')[0]}.sk_${'x'.repeat(43)}`;

async function post(server: TestServer, headers: Record<string, string>) {
  const res = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: '{ users(first: 1) { edges { node { id } } } }' }),
  });
  const body = (await res.json()) as { errors?: { extensions: { code: string; retryAfterSeconds?: number } }[] };
  return { status: res.status, retryAfter: res.headers.get('retry-after'), code: body.errors?.[0]?.extensions.code };
}
async function tokenRequest(server: TestServer, apiKey: string) {
  const [id, secret] = apiKey.split('.') as [string, string];
  const res = await fetch(`${server.url}/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: id, client_secret: secret }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { error?: string; access_token?: string } };
}

afterEach(() => disposeAllWs());

describe('failed authentications per client address', () => {
  let server: TestServer;
  let app: SeededApp;
  let freshKey: string;
  beforeAll(async () => {
    server = await startServer({ AUTH_FAILURES_PER_MINUTE: String(LIMIT) });
    app = await seedApp(server);
    freshKey = (await ok(server.graphqlUrl, CreateKey, { appId: app.appId }, { token: server.adminToken })).createApiKey.key;
  });
  afterAll(() => server?.close());

  it('past the budget, secrets not yet verified are refused (429, even right ones); verified ones and tokens carry on', async () => {
    const user = await seedUser(server, app); // app.apiKey is now verified (cached)
    for (let i = 0; i < LIMIT; i++) expect(await post(server, { 'x-api-key': wrong(app.apiKey) })).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });

    const refused = await post(server, { 'x-api-key': wrong(app.apiKey) });
    expect(refused).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(await post(server, { 'x-api-key': freshKey })).toMatchObject({ status: 429, code: 'RATE_LIMITED' });

    expect((await execute(server.graphqlUrl, Users, {}, { apiKey: app.apiKey })).status).toBe(200);
    expect((await execute(server.graphqlUrl, Me, {}, { token: user.token })).status).toBe(200);

    // The token endpoint and sockets apply the same rule.
    const denied = await tokenRequest(server, freshKey);
    expect(denied).toMatchObject({ status: 429, body: { error: 'temporarily_unavailable' } });
    expect(Number(denied.retryAfter)).toBeGreaterThan(0);
    expect((await tokenRequest(server, app.apiKey)).body.access_token).toEqual(expect.any(String));
    const refusedSocket = connectWs(server, { apiKey: freshKey });
    await expect(refusedSocket.connected).rejects.toMatchObject({ code: 4029 });
    await connectWs(server, { apiKey: app.apiKey }).connected;
  });
});

describe('guesses that arrive together, and guesses at ADMIN_TOKEN', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ AUTH_FAILURES_PER_MINUTE: String(LIMIT) });
  });
  afterAll(() => server?.close());

  it('concurrent wrong secrets: exactly the budget is checked (a point is taken before scrypt), the rest are 429', async () => {
    const app = await seedApp(server);
    const results = await Promise.all(Array.from({ length: 30 }, () => post(server, { 'x-api-key': wrong(app.apiKey) })));
    expect(results.filter((r) => r.status === 401)).toHaveLength(LIMIT);
    expect(results.filter((r) => r.status === 429)).toHaveLength(30 - LIMIT);
  });
});

describe('ADMIN_TOKEN is a secret under the same budget', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ AUTH_FAILURES_PER_MINUTE: String(LIMIT) });
  });
  afterAll(() => server?.close());

  it('wrong guesses are 401 until the budget is spent, then 429 without comparing, the right token included; a user token still works', async () => {
    const app = await seedApp(server);
    const user = await seedUser(server, app);
    const operator = (token: string) => post(server, { authorization: `Bearer ${token}` });
    // Successes give their point back: the operator working normally spends nothing.
    for (let i = 0; i < LIMIT * 2; i++) expect((await operator(server.adminToken)).status).toBe(200);
    for (let i = 0; i < LIMIT; i++) expect(await operator(`not-the-admin-token-${i}`)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect(await operator('not-the-admin-token-again')).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(await operator(server.adminToken)).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect((await execute(server.graphqlUrl, Me, {}, { token: user.token })).status).toBe(200);
  });
});

describe('which address: TRUST_PROXY', () => {
  let direct: TestServer, proxied: TestServer;
  beforeAll(async () => {
    direct = await startServer({ AUTH_FAILURES_PER_MINUTE: String(LIMIT) });
    proxied = await startServer({ AUTH_FAILURES_PER_MINUTE: String(LIMIT), TRUST_PROXY: 'loopback' });
  });
  afterAll(async () => {
    await direct?.close();
    await proxied?.close();
  });

  async function exhaust(server: TestServer, app: SeededApp, forwardedFor: string) {
    for (let i = 0; i < LIMIT; i++) await post(server, { 'x-api-key': wrong(app.apiKey), 'x-forwarded-for': forwardedFor });
  }
  const freshKeyOf = async (server: TestServer, app: SeededApp) =>
    (await ok(server.graphqlUrl, CreateKey, { appId: app.appId }, { token: server.adminToken })).createApiKey.key;

  // The fresh keys are made first: the operator's ADMIN_TOKEN is a secret under the same budget.
  it('behind a trusted proxy, each client behind it has its own budget', async () => {
    const app = await seedApp(proxied);
    const key = await freshKeyOf(proxied, app);
    await exhaust(proxied, app, '203.0.113.9');
    expect(await post(proxied, { 'x-api-key': key, 'x-forwarded-for': '203.0.113.9' })).toMatchObject({ status: 429 });
    expect(await post(proxied, { 'x-api-key': key, 'x-forwarded-for': '198.51.100.7' })).toMatchObject({ status: 200 });
  });

  it('without TRUST_PROXY, X-Forwarded-For is not believed: a client cannot escape its budget by forging it', async () => {
    const app = await seedApp(direct);
    const key = await freshKeyOf(direct, app);
    await exhaust(direct, app, '203.0.113.9');
    expect(await post(direct, { 'x-api-key': key, 'x-forwarded-for': '198.51.100.7' })).toMatchObject({ status: 429 });
  });
});

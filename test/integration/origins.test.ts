import { print } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { graphql } from '../generated/index.ts';
import { authHeaders, ok, type Credential } from '../helpers/client.ts';
import { seedApp, seedUser, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectionParams, disposeAllWs, wsUrl, type Closed, type WsCredential } from '../helpers/ws.ts';

// Browser calls are checked against the calling app's allowedOrigins: CORS over HTTP, the
// upgrade's Origin header over WebSocket. Servers (no Origin) and the operator are not.

const CreateApp = graphql(`
  mutation OriginCreateApp($input: CreateAppInput!) {
    createApp(input: $input) { id allowedOrigins }
  }
`);
const CreateKey = graphql(`
  mutation OriginCreateKey($appId: ID!) {
    createApiKey(appId: $appId) { key apiKey { id } }
  }
`);
const Me = graphql(`
  query OriginMe { me { id } }
`);
const Upsert = graphql(`
  mutation OriginUpsert($input: UpsertUserInput!) {
    upsertUser(input: $input) { id externalId }
  }
`);
const Tenants = graphql(`
  query OriginTenants { tenants(first: 1) { edges { node { id } } } }
`);

const ALLOWED = 'https://chat.example.com';
const OTHER = 'https://evil.example';

let server: TestServer;
/** An app allowing ALLOWED and a local dev origin, one allowing every origin (`*`), one allowing none. */
let listed: SeededApp;
let anyOrigin: SeededApp;
let none: SeededApp;
let listedUser: SeededUser;
let noneUser: SeededUser;

async function appWithOrigins(base: SeededApp, allowedOrigins: string[]): Promise<SeededApp> {
  const admin = { token: server.adminToken };
  const { createApp } = await ok(server.graphqlUrl, CreateApp, { input: { tenantId: base.tenantId, name: 'web', allowedOrigins } }, admin);
  expect(createApp.allowedOrigins).toEqual(allowedOrigins);
  const { createApiKey } = await ok(server.graphqlUrl, CreateKey, { appId: createApp.id }, admin);
  return { tenantId: base.tenantId, appId: createApp.id, apiKey: createApiKey.key, apiKeyId: createApiKey.apiKey.id };
}

beforeAll(async () => {
  server = await startServer();
  none = await seedApp(server);
  listed = await appWithOrigins(none, [ALLOWED, 'http://localhost:3000']);
  anyOrigin = await appWithOrigins(none, ['*']);
  listedUser = await seedUser(server, listed);
  noneUser = await seedUser(server, none);
});
afterEach(() => disposeAllWs());
afterAll(() => server?.close());

/** A POST to /graphql as a browser would send it: with an Origin header (or without, as a server). */
async function post(document: Parameters<typeof print>[0], variables: unknown, cred: Credential, origin?: string) {
  const res = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders(cred), ...(origin ? { origin } : {}) },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await res.json()) as { data?: Record<string, unknown> | null; errors?: { extensions: { code: string; requestId?: string } }[] };
  return { status: res.status, headers: res.headers, body };
}

const corsOf = (headers: Headers) => ({
  origin: headers.get('access-control-allow-origin'),
  credentials: headers.get('access-control-allow-credentials'),
  vary: headers.get('vary'),
});

describe('CORS over HTTP', () => {
  it("an origin in the app's allowedOrigins gets the answer and the CORS headers naming it", async () => {
    const asUser = async (origin: string) => {
      const res = await post(Me, {}, { token: listedUser.token }, origin);
      expect([res.status, res.body.data]).toEqual([200, { me: { id: listedUser.id } }]);
      return res;
    };
    const asApp = async (app: SeededApp, origin: string) => {
      const res = await post(Upsert, { input: { externalId: 'origin-ok', displayName: 'ok' } }, { apiKey: app.apiKey }, origin);
      expect([res.status, res.body.errors]).toEqual([200, undefined]);
      return res;
    };
    for (const [res, origin] of [
      [await asUser(ALLOWED), ALLOWED],
      [await asUser('http://localhost:3000'), 'http://localhost:3000'],
      [await asApp(listed, ALLOWED), ALLOWED],
      [await asApp(anyOrigin, OTHER), OTHER], // `*` allows every origin
    ] as const) {
      expect(corsOf(res.headers), origin).toEqual({ origin, credentials: null, vary: expect.stringContaining('Origin') });
      expect(res.headers.get('access-control-expose-headers')).toContain('x-request-id');
    }
  });
  it('an origin the app does not list is refused: HTTP 403 FORBIDDEN, nothing runs, no CORS headers', async () => {
    for (const [cred, origin] of [
      [{ token: listedUser.token }, OTHER],
      [{ apiKey: listed.apiKey }, OTHER],
      [{ apiKey: listed.apiKey }, 'https://chat.example.com.evil.example'],
      [{ apiKey: listed.apiKey }, 'http://chat.example.com'], // another scheme is another origin
      [{ apiKey: listed.apiKey }, 'null'], // sandboxed frames, file://
      // An empty allowedOrigins list refuses every browser origin.
      [{ token: noneUser.token }, ALLOWED],
      [{ apiKey: none.apiKey }, 'http://localhost:3000'],
    ] as [Credential, string][]) {
      const externalId = `refused-${Math.random().toString(36).slice(2)}`;
      const res = await post(Upsert, { input: { externalId, displayName: 'x' } }, cred, origin);
      expect(res.status, origin).toBe(403);
      expect(res.body.data ?? null).toBeNull();
      expect(res.body.errors?.map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
      expect(res.body.errors?.[0]?.extensions.requestId).toEqual(expect.any(String));
      expect(corsOf(res.headers)).toEqual({ origin: null, credentials: null, vary: null });
    }
    // The refused upserts created nothing: the first real one creates the user (a new id).
    const res = await post(Upsert, { input: { externalId: 'refused-later', displayName: 'x' } }, { apiKey: listed.apiKey }, OTHER);
    expect(res.status).toBe(403);
    const created = await ok(server.graphqlUrl, Upsert, { input: { externalId: 'refused-later', displayName: 'first' } }, { apiKey: listed.apiKey });
    const again = await ok(server.graphqlUrl, Upsert, { input: { externalId: 'refused-later', displayName: 'again' } }, { apiKey: listed.apiKey });
    expect(again.upsertUser.id).toBe(created.upsertUser.id);
  });

  it('requests without an Origin (servers) are not checked, whatever the app lists', async () => {
    for (const cred of [{ token: noneUser.token }, { token: listedUser.token }]) {
      const res = await post(Me, {}, cred);
      expect([res.status, res.body.errors]).toEqual([200, undefined]);
      expect(corsOf(res.headers).origin).toBeNull();
    }
    const res = await post(Upsert, { input: { externalId: 'server-side', displayName: 's' } }, { apiKey: none.apiKey });
    expect([res.status, res.body.errors]).toEqual([200, undefined]);
  });

  it('the operator is not checked; a page of Parley itself (GraphiQL) is same-origin', async () => {
    const res = await post(Tenants, {}, { token: server.adminToken }, OTHER);
    expect([res.status, res.body.errors]).toEqual([200, undefined]);
    expect(corsOf(res.headers).origin).toBe(OTHER);
    const own = await post(Me, {}, { token: noneUser.token }, server.url);
    expect([own.status, own.body.data]).toEqual([200, { me: { id: noneUser.id } }]);
  });

  it('a request without a credential, or with a bad one, gets its 401 readable by the page (no data to protect)', async () => {
    for (const cred of [{ none: true }, { token: 'garbage' }] as Credential[]) {
      const res = await post(Me, {}, cred, OTHER);
      expect([res.status, res.body.errors?.map((e) => e.extensions.code)]).toEqual([401, ['UNAUTHENTICATED']]);
      expect(corsOf(res.headers).origin).toBe(OTHER);
    }
  });

  it('a preflight is answered for any origin: methods, headers, max-age, no credentials', async () => {
    for (const origin of [ALLOWED, OTHER]) {
      const res = await fetch(server.graphqlUrl, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
      expect(res.status).toBe(204);
      expect(corsOf(res.headers)).toEqual({ origin, credentials: null, vary: expect.stringContaining('Origin') });
      const methods = res.headers.get('access-control-allow-methods')?.split(/,\s*/);
      expect(methods).toEqual(expect.arrayContaining(['POST', 'GET', 'OPTIONS']));
      const headers = res.headers.get('access-control-allow-headers')?.split(/,\s*/);
      expect(headers).toEqual(expect.arrayContaining(['authorization', 'content-type', 'x-api-key', 'x-request-id']));
      expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0);
    }
  });
});

/**
 * Opens a socket as a browser would (the upgrade carries `origin`; none when undefined), sends
 * connection_init, and resolves with whether the server acknowledged it or how it closed.
 */
async function wsInit(cred: WsCredential, origin?: string): Promise<{ acked: boolean; closed?: Closed }> {
  const socket = new WebSocket(wsUrl(server), 'graphql-transport-ws', origin ? { origin } : {});
  socket.on('error', () => {});
  try {
    return await new Promise((resolve) => {
      socket.once('close', (code, reason) => resolve({ acked: false, closed: { code, reason: String(reason) } }));
      socket.on('message', (data) => {
        if ((JSON.parse(String(data)) as { type: string }).type === 'connection_ack') resolve({ acked: true });
      });
      socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: connectionParams(cred) })));
    });
  } finally {
    socket.terminate();
  }
}

describe('Origin of WebSocket upgrades', () => {
  it("an Origin in the app's allowedOrigins, or none (not a browser), is accepted", async () => {
    expect(await wsInit({ token: listedUser.token }, ALLOWED)).toEqual({ acked: true });
    expect(await wsInit({ apiKey: listed.apiKey }, 'http://localhost:3000')).toEqual({ acked: true });
    expect(await wsInit({ apiKey: anyOrigin.apiKey }, OTHER)).toEqual({ acked: true });
    expect(await wsInit({ token: noneUser.token })).toEqual({ acked: true });
    expect(await wsInit({ apiKey: none.apiKey })).toEqual({ acked: true });
    expect(await wsInit({ token: server.adminToken }, OTHER)).toEqual({ acked: true });
  });

  it('an Origin the app does not list closes the socket with 4403', async () => {
    for (const [cred, origin] of [
      [{ token: listedUser.token }, OTHER],
      [{ apiKey: listed.apiKey }, 'null'],
      [{ token: noneUser.token }, ALLOWED], // an empty list refuses every browser origin
      [{ apiKey: none.apiKey }, ALLOWED],
    ] as [WsCredential, string][]) {
      const result = await wsInit(cred, origin);
      expect([result.acked, result.closed?.code], origin).toEqual([false, 4403]);
    }
  });
});

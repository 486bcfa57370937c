import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decrypt } from '../../src/auth/secrets.ts';
import { APP_TOKEN_TTL_SECONDS } from '../../src/http/oauth.plugin.ts';
import { graphql } from '../generated/index.ts';
import { errorCode, execute, ok } from '../helpers/client.ts';
import { seedApp, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs } from '../helpers/ws.ts';

const Me = graphql(`
  query OauthMe($asUserId: ID) {
    me(asUserId: $asUserId) { id }
  }
`);
const Upsert = graphql(`
  mutation OauthUpsertUser($input: UpsertUserInput!) {
    upsertUser(input: $input) { id externalId }
  }
`);
const CreateConversation = graphql(`
  mutation OauthCreateConversation($asUserId: ID, $input: CreateConversationInput!) {
    createConversation(asUserId: $asUserId, input: $input) { id }
  }
`);
const Send = graphql(`
  mutation OauthSendMessage($asUserId: ID, $input: SendMessageInput!) {
    sendMessage(asUserId: $asUserId, input: $input) { seq body }
  }
`);
const Events = graphql(`
  subscription OauthConversationEvents($conversationId: ID!, $afterSeq: Int, $asUserId: ID) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq, asUserId: $asUserId) {
      __typename
      seq
      ... on MessageCreated { message { body } }
    }
  }
`);
const RevokeKey = graphql(`
  mutation OauthRevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) { id revokedAt }
  }
`);
const CreateKey = graphql(`
  mutation OauthCreateApiKey($appId: ID!) {
    createApiKey(appId: $appId) { key apiKey { id } }
  }
`);
const UpdateTenant = graphql(`
  mutation OauthUpdateTenant($id: ID!, $input: UpdateTenantInput!) {
    updateTenant(id: $id, input: $input) { id status }
  }
`);
const CreateTenant = graphql(`
  mutation OauthCreateTenant($input: CreateTenantInput!) {
    createTenant(input: $input) { id }
  }
`);

let server: TestServer;
let app: SeededApp;
let alice: SeededUser, bob: SeededUser;
let tokenUrl: string;

beforeAll(async () => {
  server = await startServer();
  tokenUrl = `${server.url}/v1/auth/token`;
  app = await seedApp(server);
  [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
});
afterEach(() => disposeAllWs());
afterAll(() => server?.close());

const admin = () => ({ token: server.adminToken });
/** `pk_….sk_…` → client_id and client_secret. */
const client = (seeded: Pick<SeededApp, 'apiKey'>) => {
  const [id, secret] = seeded.apiKey.split('.') as [string, string];
  return { id, secret };
};
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

type TokenResponse = { status: number; headers: Headers; body: Record<string, unknown> };

/** One request to the token endpoint: a form by default, JSON with `json`. */
async function tokenRequest({
  form,
  json,
  headers = {},
  method = 'POST',
  raw,
}: { form?: Record<string, string>; json?: unknown; headers?: Record<string, string>; method?: string; raw?: string } = {}): Promise<TokenResponse> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (form) {
    init.body = new URLSearchParams(form).toString();
    (init.headers as Record<string, string>)['content-type'] = 'application/x-www-form-urlencoded';
  } else if (json !== undefined) {
    init.body = JSON.stringify(json);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  } else if (raw !== undefined) {
    init.body = raw;
  }
  const res = await fetch(tokenUrl, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function issue(seeded: Pick<SeededApp, 'apiKey'> = app): Promise<string> {
  const { id, secret } = client(seeded);
  const res = await tokenRequest({ form: { grant_type: 'client_credentials', client_id: id, client_secret: secret } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.access_token as string;
}

function expectOAuthError(res: TokenResponse, status: number, error: string) {
  expect([res.status, res.body.error], JSON.stringify(res.body)).toEqual([status, error]);
  expect(Object.keys(res.body).sort()).toEqual(['error', 'error_description']);
  expect(res.headers.get('cache-control')).toBe('no-store');
  if (status === 401) expect(res.headers.get('www-authenticate')).toBe('Basic realm="parley"');
  else expect(res.headers.get('www-authenticate')).toBeNull();
}

async function expectUnauthenticated(token: string) {
  const res = await execute(server.graphqlUrl, Upsert, { input: { externalId: 'never' } }, { token });
  expect(res.status).toBe(401);
  expect(res.errors?.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
  expect(res.data ?? null).toBeNull();
}

/** The server's real signing key for `kid`, unsealed from the store as the server does. */
async function realPrivateKey(kid: string) {
  const row = await server.deps.db.prisma.signingKey.findUniqueOrThrow({ where: { kid } });
  return importJWK(JSON.parse(decrypt(row.privateJwk, server.deps.config.secretKey)) as JWK, 'EdDSA');
}

/** Re-signs `token`'s claims with the real key, with the given changes. */
async function resign(token: string, changes: { payload?: JWTPayload; typ?: string } = {}) {
  const header = decodeProtectedHeader(token);
  return new SignJWT({ ...decodeJwt(token), ...changes.payload })
    .setProtectedHeader({ alg: 'EdDSA', kid: header.kid!, typ: changes.typ ?? header.typ! })
    .sign(await realPrivateKey(header.kid!));
}

describe('POST /v1/auth/token: issuing', () => {
  it('a form with client_id and client_secret gets a short-lived Bearer token, not to be cached', async () => {
    const { id, secret } = client(app);
    const res = await tokenRequest({ form: { grant_type: 'client_credentials', client_id: id, client_secret: secret } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pragma')).toBe('no-cache');
    expect(res.body).toEqual({ access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/), token_type: 'Bearer', expires_in: APP_TOKEN_TTL_SECONDS });
    expect(APP_TOKEN_TTL_SECONDS).toBe(900);
  });

  it('verifies against /.well-known/jwks.json: EdDSA, kid, typ at+jwt, sub = app, client_id = API key, exp = iat + expires_in', async () => {
    const token = await issue();
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: 'parley', audience: 'parley', typ: 'at+jwt' });
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt', kid: expect.stringMatching(/^key_/) });
    expect(payload).toMatchObject({ sub: app.appId, client_id: app.apiKeyId, ten: app.tenantId, token_use: 'app' });
    expect(payload.sid).toBeUndefined();
    expect(payload.jti).toEqual(expect.stringMatching(/.+/));
    expect(payload.exp! - payload.iat!).toBe(APP_TOKEN_TTL_SECONDS);
    // Each token is distinct (jti), even in the same second.
    expect(decodeJwt(await issue()).jti).not.toBe(payload.jti);
  });

  it('accepts a JSON body, and HTTP Basic with an empty or absent body field set; scope is ignored', async () => {
    const { id, secret } = client(app);
    const viaJson = await tokenRequest({ json: { grant_type: 'client_credentials', client_id: id, client_secret: secret } });
    expect([viaJson.status, viaJson.body.token_type]).toEqual([200, 'Bearer']);

    const viaBasic = await tokenRequest({ form: { grant_type: 'client_credentials' }, headers: { authorization: basic(id, secret) } });
    expect([viaBasic.status, viaBasic.body.token_type]).toEqual([200, 'Bearer']);
    const basicJson = await tokenRequest({ json: { grant_type: 'client_credentials', client_id: '' }, headers: { authorization: basic(id, secret) } });
    expect(basicJson.status).toBe(200);

    const scoped = await tokenRequest({ form: { grant_type: 'client_credentials', client_id: id, client_secret: secret, scope: 'read write' } });
    expect(scoped.status).toBe(200);
    expect(scoped.body.scope).toBeUndefined();
    for (const res of [viaJson, viaBasic, basicJson, scoped]) {
      expect(decodeJwt(res.body.access_token as string)).toMatchObject({ sub: app.appId, client_id: app.apiKeyId });
    }
  });
});

describe('POST /v1/auth/token: errors (RFC 6749 §5.2)', () => {
  it('credentials both in Basic and in the body are invalid_request', async () => {
    const { id, secret } = client(app);
    const headers = { authorization: basic(id, secret) };
    expectOAuthError(await tokenRequest({ form: { grant_type: 'client_credentials', client_id: id, client_secret: secret }, headers }), 400, 'invalid_request');
    expectOAuthError(await tokenRequest({ json: { grant_type: 'client_credentials', client_secret: secret }, headers }), 400, 'invalid_request');
    expectOAuthError(await tokenRequest({ form: { grant_type: 'client_credentials', client_id: id }, headers }), 400, 'invalid_request');
  });

  it('a wrong secret, an unknown client, missing or malformed credentials are invalid_client (401, WWW-Authenticate)', async () => {
    const { id, secret } = client(app);
    const other = client(await seedApp(server));
    const grant = { grant_type: 'client_credentials' };
    const refused = [
      await tokenRequest({ form: { ...grant, client_id: id, client_secret: `${secret}x` } }),
      await tokenRequest({ form: { ...grant, client_id: id, client_secret: other.secret } }),
      await tokenRequest({ json: { ...grant, client_id: 'pk_unknown', client_secret: secret } }),
      await tokenRequest({ form: { ...grant, client_id: id } }),
      await tokenRequest({ form: { ...grant, client_secret: secret } }),
      await tokenRequest({ form: grant }),
      await tokenRequest({ form: { ...grant, client_id: `${id}.${secret}`, client_secret: secret } }),
      await tokenRequest({ form: grant, headers: { authorization: basic(id, `${secret}x`) } }),
      await tokenRequest({ form: grant, headers: { authorization: basic('pk_unknown', secret) } }),
      await tokenRequest({ form: grant, headers: { authorization: 'Basic !!!' } }),
      await tokenRequest({ form: grant, headers: { authorization: `Basic ${Buffer.from(`${id}${secret}`).toString('base64')}` } }),
      await tokenRequest({ form: grant, headers: { authorization: `Basic ${Buffer.from(`${id}:%E0%A4%A`).toString('base64')}` } }),
      await tokenRequest({ form: grant, headers: { authorization: `Bearer ${await issue()}` } }),
    ];
    for (const res of refused) {
      expectOAuthError(res, 401, 'invalid_client');
      // The same words whatever failed: nothing says whether the id exists.
      expect(res.body.error_description).toBe('Client authentication failed');
    }
  });

  it('a grant other than client_credentials is unsupported_grant_type; a missing one is invalid_request', async () => {
    const { id, secret } = client(app);
    for (const grant_type of ['password', 'authorization_code', 'refresh_token', 'CLIENT_CREDENTIALS']) {
      expectOAuthError(await tokenRequest({ form: { grant_type, client_id: id, client_secret: secret } }), 400, 'unsupported_grant_type');
    }
    expectOAuthError(await tokenRequest({ form: { client_id: id, client_secret: secret } }), 400, 'invalid_request');
    expectOAuthError(await tokenRequest({ form: { grant_type: '', client_id: id, client_secret: secret } }), 400, 'invalid_request');
    expectOAuthError(await tokenRequest({ json: { client_id: id, client_secret: secret } }), 400, 'invalid_request');
  });

  it('malformed requests are invalid_request: repeated parameters, non-string values, bad JSON, other bodies', async () => {
    const { id, secret } = client(app);
    const form = (body: string) =>
      fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }).then(async (res) => ({
        status: res.status,
        headers: res.headers,
        body: (await res.json()) as Record<string, unknown>,
      }));
    const creds = `client_id=${id}&client_secret=${secret}`;
    expectOAuthError(await form(`grant_type=client_credentials&grant_type=client_credentials&${creds}`), 400, 'invalid_request');
    expectOAuthError(await form(`grant_type=client_credentials&${creds}&client_secret=${secret}`), 400, 'invalid_request');
    expectOAuthError(await tokenRequest({ json: { grant_type: 'client_credentials', client_id: [id], client_secret: secret } }), 400, 'invalid_request');
    expectOAuthError(await tokenRequest({ json: { grant_type: 1, client_id: id, client_secret: secret } }), 400, 'invalid_request');
    expectOAuthError(await tokenRequest({ json: [] }), 400, 'invalid_request');
    expectOAuthError(await tokenRequest({ json: 'client_credentials' }), 400, 'invalid_request');
    const badJson = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":' });
    expectOAuthError({ status: badJson.status, headers: badJson.headers, body: (await badJson.json()) as Record<string, unknown> }, 400, 'invalid_request');
    const xml = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<grant/>' });
    expectOAuthError({ status: xml.status, headers: xml.headers, body: (await xml.json()) as Record<string, unknown> }, 400, 'invalid_request');
    expectOAuthError(await tokenRequest({ raw: `grant_type=client_credentials&${creds}`, headers: { 'content-type': 'text/plain' } }), 400, 'invalid_request');
    expectOAuthError(await tokenRequest(), 400, 'invalid_request');
    // Still usable afterwards, and the form parser is the token endpoint's alone: GraphQL refuses forms as before.
    expect(await issue()).toEqual(expect.any(String));
    const graphqlForm = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-api-key': app.apiKey },
      body: 'query=%7B__typename%7D',
    });
    expect(graphqlForm.status).toBe(415);
  });

  it('a body over MAX_BODY_BYTES is refused with 413', async () => {
    const res = await tokenRequest({ form: { grant_type: 'client_credentials', client_id: 'x'.repeat(server.deps.config.maxBodyBytes) } });
    expectOAuthError(res, 413, 'invalid_request');
  });

  it('GET and other methods are 405 with Allow: POST', async () => {
    const { id, secret } = client(app);
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`${tokenUrl}?grant_type=client_credentials&client_id=${id}&client_secret=${secret}`, { method });
      expect([method, res.status, res.headers.get('allow')]).toEqual([method, 405, 'POST']);
      expect(((await res.json()) as { access_token?: string }).access_token).toBeUndefined();
    }
  });
});

describe('app access tokens at use', () => {
  it('stand for the API key over HTTP: app-server mutations, and end-user operations with asUserId', async () => {
    const token = await issue();
    const externalId = `oauth-${Date.now()}`;
    const created = (await ok(server.graphqlUrl, Upsert, { input: { externalId } }, { token })).upsertUser;
    expect(created.externalId).toBe(externalId);
    expect((await ok(server.graphqlUrl, Me, { asUserId: alice.id }, { token })).me.id).toBe(alice.id);
    const conv = (
      await ok(server.graphqlUrl, CreateConversation, { asUserId: alice.id, input: { kind: 'GROUP', memberIds: [bob.id], title: 'oauth' } }, { token })
    ).createConversation;
    const sent = await ok(server.graphqlUrl, Send, { asUserId: bob.id, input: { conversationId: conv.id, body: 'via token' } }, { token });
    expect(sent.sendMessage).toEqual({ seq: 1, body: 'via token' });
    // Scoped to its app, exactly as the key: another app's user is NOT_FOUND.
    const stranger = (await seedUsers(server, await seedApp(server), 1))[0]!;
    expect(await errorCode(server.graphqlUrl, Me, { asUserId: stranger.id }, { token })).toBe('NOT_FOUND');
  });

  it('stand for the API key on WebSocket: a subscription with asUserId', async () => {
    const token = await issue();
    const conv = (
      await ok(server.graphqlUrl, CreateConversation, { asUserId: alice.id, input: { kind: 'GROUP', memberIds: [bob.id], title: 'ws' } }, { token })
    ).createConversation;
    const ws = connectWs(server, { token });
    await ws.connected;
    const sub = subscribeWs(ws, Events, { conversationId: conv.id, afterSeq: 0, asUserId: bob.id });
    await ok(server.graphqlUrl, Send, { asUserId: alice.id, input: { conversationId: conv.id, body: 'live' } }, { apiKey: app.apiKey });
    await eventually(() =>
      expect(sub.data.map((d) => d.conversationEvents)).toContainEqual({ __typename: 'MessageCreated', seq: 1, message: { body: 'live' } }),
    );
    expect(sub.errors).toEqual([]);
  });

  it('an app token is not a user token, and a user token is not an app token', async () => {
    const token = await issue();
    // The app token does only what the key does: no end-user call without asUserId, no operator call.
    expect(await errorCode(server.graphqlUrl, Me, {}, { token })).toBe('BAD_USER_INPUT');
    expect(await errorCode(server.graphqlUrl, CreateTenant, { input: { name: 'no', plan: 'FREE' } }, { token })).toBe('FORBIDDEN');
    // A user token stays a user's: no app-server call.
    expect(await errorCode(server.graphqlUrl, Upsert, { input: { externalId: 'no' } }, { token: alice.token })).toBe('FORBIDDEN');
    expect((await ok(server.graphqlUrl, Me, {}, { token: alice.token })).me.id).toBe(alice.id);

    // Re-signed with the real key, each kind dressed as the other is refused.
    await expectUnauthenticated(await resign(alice.token, { typ: 'at+jwt' }));
    await expectUnauthenticated(
      await resign(alice.token, { typ: 'at+jwt', payload: { sub: app.appId, client_id: app.apiKeyId, ten: app.tenantId, token_use: 'app' } }),
    );
    await expectUnauthenticated(await resign(token, { typ: 'JWT' }));
    await expectUnauthenticated(await resign(token, { typ: 'JWT', payload: { sid: decodeJwt(alice.token).sid } }));
    await expectUnauthenticated(await resign(token, { payload: { token_use: 'user' } }));
    await expectUnauthenticated(await resign(token, { payload: { sid: decodeJwt(alice.token).sid } }));
    expect(await server.deps.tokens.verifyUserToken(token)).toBeNull();
    expect(await server.deps.tokens.verifyAppToken(alice.token)).toBeNull();
    // The unchanged re-signing is accepted: the refusals above are for the changes alone.
    expect((await ok(server.graphqlUrl, Upsert, { input: { externalId: 'resigned' } }, { token: await resign(token) })).upsertUser.externalId).toBe('resigned');
  });

  it('an expired, tampered or mis-addressed token is UNAUTHENTICATED (401)', async () => {
    const token = await issue();
    const claims = { appId: app.appId, tenantId: app.tenantId, apiKeyId: app.apiKeyId };
    await expectUnauthenticated(await server.deps.tokens.signAppToken(claims, new Date(Date.now() - 60_000)));
    await expectUnauthenticated(await resign(token, { payload: { exp: Math.floor(Date.now() / 1000) - 1 } }));

    const other = await seedApp(server);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const decoded = decodeJwt(token);
    await expectUnauthenticated(`${header}.${b64({ ...decoded, sub: other.appId })}.${signature}`);
    await expectUnauthenticated(`${header}.${b64({ ...decoded, client_id: other.apiKeyId })}.${signature}`);
    await expectUnauthenticated(`${header}.${payload}.${signature.slice(0, -4)}AAAA`);
    await expectUnauthenticated(`${token}x`);
    // Correctly signed, but the key does not belong to the app (or the tenant) it names.
    await expectUnauthenticated(await resign(token, { payload: { client_id: other.apiKeyId } }));
    await expectUnauthenticated(await resign(token, { payload: { sub: other.appId } }));
    await expectUnauthenticated(await resign(token, { payload: { ten: other.tenantId } }));
    await expectUnauthenticated(await resign(token, { payload: { client_id: 'pk_unknown' } }));
    await expectUnauthenticated(await resign(token, { payload: { aud: 'someone-else' } }));
    await expectUnauthenticated(await resign(token, { payload: { iss: 'someone-else' } }));
    // The original still works.
    expect((await ok(server.graphqlUrl, Me, { asUserId: alice.id }, { token })).me.id).toBe(alice.id);
  });

  it('revoking the API key refuses new tokens and ends those already issued, on HTTP and WebSocket; another key of the app goes on', async () => {
    const seeded = await seedApp(server);
    const [carol] = (await seedUsers(server, seeded, 1)) as [SeededUser];
    const second = (await ok(server.graphqlUrl, CreateKey, { appId: seeded.appId }, admin())).createApiKey;
    const before = await issue(seeded);
    const fromSecond = await issue({ apiKey: second.key });
    expect((await ok(server.graphqlUrl, Me, { asUserId: carol.id }, { token: before })).me.id).toBe(carol.id);

    await ok(server.graphqlUrl, RevokeKey, { id: seeded.apiKeyId }, admin());
    const { id, secret } = client(seeded);
    expectOAuthError(await tokenRequest({ form: { grant_type: 'client_credentials', client_id: id, client_secret: secret } }), 401, 'invalid_client');
    expectOAuthError(await tokenRequest({ form: { grant_type: 'client_credentials' }, headers: { authorization: basic(id, secret) } }), 401, 'invalid_client');
    await expectUnauthenticated(before);
    const ws = connectWs(server, { token: before });
    await expect(ws.connected).rejects.toEqual({ code: 4401, reason: expect.any(String) });

    expect((await ok(server.graphqlUrl, Me, { asUserId: carol.id }, { token: fromSecond })).me.id).toBe(carol.id);
    expect((await ok(server.graphqlUrl, Me, { asUserId: carol.id }, { token: await issue({ apiKey: second.key }) })).me.id).toBe(carol.id);
  });

  it('a suspended tenant gets no token (403 access_denied), and its tokens are refused (FORBIDDEN, WebSocket 4403) until it is ACTIVE again', async () => {
    const seeded = await seedApp(server);
    const [carol] = (await seedUsers(server, seeded, 1)) as [SeededUser];
    const before = await issue(seeded);
    const suspend = (status: 'ACTIVE' | 'SUSPENDED') => ok(server.graphqlUrl, UpdateTenant, { id: seeded.tenantId, input: { status } }, admin());

    await suspend('SUSPENDED');
    const { id, secret } = client(seeded);
    expectOAuthError(await tokenRequest({ form: { grant_type: 'client_credentials', client_id: id, client_secret: secret } }), 403, 'access_denied');
    // Only a caller that knows the secret learns of the suspension.
    expectOAuthError(await tokenRequest({ form: { grant_type: 'client_credentials', client_id: id, client_secret: `${secret}x` } }), 401, 'invalid_client');
    const refused = await execute(server.graphqlUrl, Me, { asUserId: carol.id }, { token: before });
    expect([refused.status, refused.errors?.map((e) => e.extensions.code)]).toEqual([403, ['FORBIDDEN']]);
    const ws = connectWs(server, { token: before });
    await expect(ws.connected).rejects.toEqual({ code: 4403, reason: expect.any(String) });

    await suspend('ACTIVE');
    expect((await ok(server.graphqlUrl, Me, { asUserId: carol.id }, { token: before })).me.id).toBe(carol.id);
    expect(await issue(seeded)).toEqual(expect.any(String));
  });
});

import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { MAX_TOKEN_TTL_SECONDS } from '../../src/auth/keyring.ts';
import { graphql } from '../generated/index.ts';
import { errorCode, execute, ok } from '../helpers/client.ts';
import { createDatabase } from '../helpers/databases.ts';
import { seedApp, seedUser, type SeededApp } from '../helpers/seed.ts';
import { startServer, testStore, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs } from '../helpers/ws.ts';

// Signing-key rotation with overlap (issue 5, item 2). Rotating changes the keys of every
// server on the store, so on PostgreSQL this file runs on a database of its own.

const Keys = graphql(`
  query KeysList {
    signingKeys { kid createdAt retiresAt signing }
  }
`);
const Rotate = graphql(`
  mutation KeysRotate($input: RotateSigningKeyInput) {
    rotateSigningKey(input: $input) {
      current { kid signing retiresAt }
      keys { kid signing retiresAt }
    }
  }
`);
const Me = graphql(`
  query KeysMe {
    me { id }
  }
`);

let server: TestServer;
let dropDatabase = async () => {};
let app: SeededApp;

beforeAll(async () => {
  const own = testStore() === 'postgres' ? await createDatabase(inject('adminDatabaseUrl'), 'parley_keys') : undefined;
  if (own) dropDatabase = async () => void (await own.drop());
  server = await startServer(own ? { DATABASE_URL: own.url } : {});
  app = await seedApp(server);
});
afterEach(() => disposeAllWs());
afterAll(async () => {
  await server?.close();
  await dropDatabase();
});

const admin = () => ({ token: server.adminToken });
const kidOf = (token: string) => decodeProtectedHeader(token).kid!;
const jwksKids = async () => ((await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
const meStatus = async (token: string) => (await execute(server.graphqlUrl, Me, {}, { token })).status;
async function appAccessToken() {
  const [id, secret] = app.apiKey.split('.') as [string, string];
  const res = await fetch(`${server.url}/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: id, client_secret: secret }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}
async function socketAccepted(token: string) {
  const ws = connectWs(server, { token });
  return ws.connected.then(
    () => true,
    () => ws.closed?.code,
  );
}

describe('signing-key rotation', () => {
  it('only the operator lists or rotates keys', async () => {
    const user = await seedUser(server, app);
    for (const cred of [{ apiKey: app.apiKey }, { token: user.token }]) {
      expect(await errorCode(server.graphqlUrl, Rotate, {}, cred)).toBe('FORBIDDEN');
      expect(await errorCode(server.graphqlUrl, Keys, {}, cred)).toBe('FORBIDDEN');
    }
    expect(await errorCode(server.graphqlUrl, Rotate, {}, { none: true })).toBe('UNAUTHENTICATED');
    expect((await ok(server.graphqlUrl, Keys, {}, admin())).signingKeys).toHaveLength(1);
  });

  it('a routine rotation: new tokens carry the new kid, tokens signed before keep working until they expire', async () => {
    const before = await seedUser(server, app);
    const appTokenBefore = await appAccessToken();
    const oldKid = kidOf(before.token);

    const { rotateSigningKey } = await ok(server.graphqlUrl, Rotate, {}, admin());
    const newKid = rotateSigningKey.current.kid;
    expect(newKid).not.toBe(oldKid);
    expect(rotateSigningKey.current).toMatchObject({ signing: true, retiresAt: null });
    const old = rotateSigningKey.keys.find((k) => k.kid === oldKid)!;
    expect(old.signing).toBe(false);
    // The old key outlives every token it signed: the longest a token may live, from now.
    expect(new Date(old.retiresAt as string).getTime()).toBeGreaterThanOrEqual(Date.now() + MAX_TOKEN_TTL_SECONDS * 1000 - 60_000);
    expect(new Date(old.retiresAt as string).getTime()).toBeGreaterThan(decodeJwt(before.token).exp! * 1000);
    expect(await jwksKids()).toEqual(expect.arrayContaining([oldKid, newKid]));

    // Old tokens: HTTP and sockets, user and app.
    expect(await meStatus(before.token)).toBe(200);
    expect(await socketAccepted(before.token)).toBe(true);
    expect(await execute(server.graphqlUrl, Keys, {}, { token: appTokenBefore }).then((r) => r.errors?.[0]?.extensions.code)).toBe('FORBIDDEN');

    // New tokens: the new kid, verifiable by anyone with the JWKS.
    const after = await seedUser(server, app);
    expect(kidOf(after.token)).toBe(newKid);
    expect(kidOf(await appAccessToken())).toBe(newKid);
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    for (const token of [before.token, after.token]) await expect(jwtVerify(token, jwks, { issuer: 'parley', audience: 'parley' })).resolves.toBeTruthy();
    expect(await meStatus(after.token)).toBe(200);
  });

  it('retiring at once (a leaked key): every token it signed is refused, over HTTP and at the socket handshake', async () => {
    const before = await seedUser(server, app);
    const appTokenBefore = await appAccessToken();
    const { signingKeys } = await ok(server.graphqlUrl, Keys, {}, admin());
    const { rotateSigningKey } = await ok(server.graphqlUrl, Rotate, { input: { retirePrevious: 'NOW' } }, admin());
    expect(rotateSigningKey.keys.map((k) => k.kid)).toEqual([rotateSigningKey.current.kid]);
    expect(await jwksKids()).toEqual([rotateSigningKey.current.kid]);
    expect(signingKeys.map((k) => k.kid)).not.toContain(rotateSigningKey.current.kid);

    expect(await meStatus(before.token)).toBe(401);
    expect(await execute(server.graphqlUrl, Me, {}, { token: appTokenBefore }).then((r) => r.status)).toBe(401);
    expect(await socketAccepted(before.token)).toBe(4401);
    // A fresh token, from the API key (which no rotation touches), works.
    const after = await seedUser(server, app);
    expect(await meStatus(after.token)).toBe(200);
    expect(await socketAccepted(after.token)).toBe(true);
  });

  it('rotating twice never extends an older key: its retirement stays the earliest', async () => {
    await ok(server.graphqlUrl, Rotate, {}, admin());
    const first = (await ok(server.graphqlUrl, Keys, {}, admin())).signingKeys;
    const { rotateSigningKey } = await ok(server.graphqlUrl, Rotate, { input: { retirePrevious: 'AFTER_TOKENS_EXPIRE' } }, admin());
    const previous = first.find((k) => k.signing)!;
    for (const key of first) {
      const now = rotateSigningKey.keys.find((k) => k.kid === key.kid)!;
      // Scheduled keys keep their date; the key that was signing gets one.
      if (key === previous) expect(now.retiresAt).toEqual(expect.any(String));
      else expect(now.retiresAt).toBe(key.retiresAt);
    }
    expect(rotateSigningKey.keys.filter((k) => k.signing)).toEqual([rotateSigningKey.current]);
  });

  it('a bad retirePrevious value is refused by GraphQL validation, changing nothing', async () => {
    const before = (await ok(server.graphqlUrl, Keys, {}, admin())).signingKeys;
    const res = await execute(server.graphqlUrl, Rotate, { input: { retirePrevious: 'SOMEDAY' as never } }, admin());
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect((await ok(server.graphqlUrl, Keys, {}, admin())).signingKeys).toEqual(before);
  });
});

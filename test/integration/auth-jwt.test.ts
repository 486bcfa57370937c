import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
  type JWTPayload,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decrypt } from '../../src/auth/secrets.ts';
import { graphql } from '../generated/index.ts';
import { execute, ok } from '../helpers/client.ts';
import { seedApp, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const Me = graphql(`
  query AuthJwtMe {
    me { id }
  }
`);

let server: TestServer;
let app: SeededApp;
let alice: SeededUser, bob: SeededUser;

beforeAll(async () => {
  server = await startServer();
  app = await seedApp(server);
  [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
});
afterAll(() => server?.close());

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function expectUnauthenticated(token: string) {
  const res = await execute(server.graphqlUrl, Me, {}, { token });
  expect(res.status, token).toBe(401);
  expect(res.errors?.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
  expect(res.data ?? null).toBeNull();
}

async function meId(token: string) {
  return (await ok(server.graphqlUrl, Me, {}, { token })).me.id;
}

/** The server's real signing key for `kid`, unsealed from the store as the server does. */
async function realPrivateKey(kid: string) {
  const row = await server.deps.db.prisma.signingKey.findUniqueOrThrow({ where: { kid } });
  return importJWK(JSON.parse(decrypt(row.privateJwk, server.deps.config.secretKey)) as JWK, 'EdDSA');
}

/** Re-signs Alice's genuine claims (valid session included) with the given changes. */
async function forge(changes: { payload?: JWTPayload; header?: { alg?: string; kid?: string }; key?: CryptoKey | Uint8Array } = {}) {
  const header = decodeProtectedHeader(alice.token);
  const key = changes.key ?? (await realPrivateKey(header.kid!));
  return new SignJWT({ ...decodeJwt(alice.token), ...changes.payload })
    .setProtectedHeader({ alg: 'EdDSA', kid: header.kid!, typ: 'JWT', ...changes.header })
    .sign(key);
}

describe('user tokens (JWT)', () => {
  it('`me` answers for the token’s user', async () => {
    expect(await meId(alice.token)).toBe(alice.id);
    expect(await meId(bob.token)).toBe(bob.id);
  });

  it('verifies with jose against /.well-known/jwks.json: EdDSA, kid, sub = user id, sid', async () => {
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(alice.token, jwks, { issuer: 'parley', audience: 'parley' });
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(protectedHeader.kid).toEqual(expect.stringMatching(/.+/));
    expect(payload.sub).toBe(alice.id);
    expect(payload.sid).toEqual(expect.stringMatching(/.+/));
    expect(payload.exp).toBeGreaterThan(Date.now() / 1000);

    const body = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const published = body.keys.find((k) => k.kid === protectedHeader.kid);
    expect(published).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(body.keys.every((k) => k.d === undefined)).toBe(true);
    // A token of the wrong audience does not verify against the same set.
    await expect(jwtVerify(alice.token, jwks, { issuer: 'parley', audience: 'other' })).rejects.toThrow();
  });

  it('a token re-signed with the real key and unchanged claims is accepted (the forgeries below differ only as named)', async () => {
    expect(await meId(await forge())).toBe(alice.id);
    const claims = decodeJwt(alice.token);
    const later = await server.deps.tokens.signUserToken(
      { userId: alice.id, appId: app.appId, tenantId: app.tenantId, sessionId: claims.sid as string },
      new Date(Date.now() + 60_000),
    );
    expect(await meId(later)).toBe(alice.id);
  });

  it('an expired token is refused, though its session is live', async () => {
    const claims = decodeJwt(alice.token);
    const expired = await server.deps.tokens.signUserToken(
      { userId: alice.id, appId: app.appId, tenantId: app.tenantId, sessionId: claims.sid as string },
      new Date(Date.now() - 60_000),
    );
    await expectUnauthenticated(expired);
    await expectUnauthenticated(await forge({ payload: { exp: Math.floor(Date.now() / 1000) - 60 } }));
    expect(await meId(alice.token)).toBe(alice.id);
  });

  it('alg "none" is refused', async () => {
    const { kid } = decodeProtectedHeader(alice.token);
    const payload = b64(decodeJwt(alice.token));
    await expectUnauthenticated(`${b64({ alg: 'none', kid, typ: 'JWT' })}.${payload}.`);
    await expectUnauthenticated(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`);
    await expectUnauthenticated(`${b64({ alg: 'none', kid, typ: 'JWT' })}.${payload}.${alice.token.split('.')[2]}`);
  });

  it('a token signed by another Ed25519 key under the real kid is refused', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    await expectUnauthenticated(await forge({ key: privateKey }));
  });

  it('an HS256 token keyed with the public JWK (algorithm confusion) is refused', async () => {
    const { kid } = decodeProtectedHeader(alice.token);
    const { keys } = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const publicJwk = keys.find((k) => k.kid === kid)!;
    expect(publicJwk).toBeDefined();
    const secrets = [JSON.stringify(publicJwk), publicJwk.x!];
    for (const secret of secrets) {
      await expectUnauthenticated(await forge({ header: { alg: 'HS256' }, key: new TextEncoder().encode(secret) }));
    }
    await expectUnauthenticated(await forge({ header: { alg: 'HS256' }, key: Buffer.from(publicJwk.x!, 'base64url') }));
  });

  it('a wrong audience, wrong issuer or unknown kid is refused', async () => {
    await expectUnauthenticated(await forge({ payload: { aud: 'someone-else' } }));
    await expectUnauthenticated(await forge({ payload: { iss: 'someone-else' } }));
    const { kid } = decodeProtectedHeader(alice.token);
    const key = await realPrivateKey(kid!);
    await expectUnauthenticated(await forge({ header: { kid: 'key_UNKNOWN' }, key }));
    await expectUnauthenticated(await forge({ header: { kid: '' }, key }));
  });

  it('a tampered payload (another sub, another sid) is refused', async () => {
    const [header, payload, signature] = alice.token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JWTPayload;
    await expectUnauthenticated(`${header}.${b64({ ...claims, sub: bob.id })}.${signature}`);
    await expectUnauthenticated(`${header}.${b64({ ...claims, sid: decodeJwt(bob.token).sid })}.${signature}`);
    // Even correctly signed, a sub that does not own the session is refused.
    await expectUnauthenticated(await forge({ payload: { sub: bob.id } }));
  });

  it('garbage is refused', async () => {
    const [header, payload] = alice.token.split('.') as [string, string, string];
    for (const token of ['garbage', 'a.b.c', 'eyJhbGciOiJFZERTQSJ9.e30.', `${header}.${payload}`, `${header}.${payload}.`, `${alice.token}.x`]) {
      await expectUnauthenticated(token);
    }
  });
});

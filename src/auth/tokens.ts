import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';
import { ulid } from 'ulid';
import { decrypt, encrypt } from './secrets.ts';
import type { SigningKeyRow, SigningKeyStore } from './signing-key.store.ts';

const ALG = 'EdDSA';
type Key = CryptoKey | Uint8Array;

export type UserTokenClaims = { userId: string; appId: string; tenantId: string; sessionId: string };
/** An app server's OAuth2 access token (client credentials): `sub` is the app, `client_id` the API key. */
export type AppTokenClaims = { appId: string; tenantId: string; apiKeyId: string };

/**
 * The `typ` header of app access tokens (RFC 9068). User tokens carry `typ: "JWT"`; each
 * verifier insists on its own, so neither kind of token is ever accepted as the other.
 */
export const APP_TOKEN_TYP = 'at+jwt';

export type TokenServiceOptions = {
  store: SigningKeyStore;
  secretKey: string;
  issuer: string;
  audience: string;
};

/**
 * Signs and verifies Parley's JWTs with Ed25519 keys identified by `kid`. The private half
 * is stored encrypted, so every process (and every restart) signs with keys the others can
 * verify; a `kid` this process has not seen yet is looked up in the store.
 */
export async function createTokenService({ store, secretKey, issuer, audience }: TokenServiceOptions) {
  const publicKeys = new Map<string, Key>();
  let signing: { kid: string; key: Key } | undefined;

  async function remember(row: SigningKeyRow) {
    publicKeys.set(row.kid, (await importJWK(row.publicJwk as JWK, ALG)) as Key);
  }

  async function loadOrCreateSigningKey() {
    let rows = await store.active();
    if (rows.length === 0) {
      const { publicKey, privateKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
      const kid = `key_${ulid()}`;
      const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
      const privateJwk = encrypt(JSON.stringify(await exportJWK(privateKey)), secretKey);
      await store.insert({ kid, alg: ALG, publicJwk, privateJwk });
      rows = await store.active();
    }
    for (const row of rows) await remember(row);
    // Two processes that start on an empty store may both create a key: both stay valid
    // for verification, and each signs with the newest it saw.
    const newest = rows.at(-1)!;
    let privateJwk: JWK;
    try {
      privateJwk = JSON.parse(decrypt(newest.privateJwk, secretKey)) as JWK;
    } catch {
      throw new Error('Cannot decrypt the token signing key: SECRET_KEY (or ADMIN_TOKEN) differs from when it was created');
    }
    signing = { kid: newest.kid, key: (await importJWK(privateJwk, ALG)) as Key };
  }

  await loadOrCreateSigningKey();

  async function publicKeyFor(kid: string | undefined): Promise<Key> {
    if (!kid) throw new Error('token has no kid');
    const known = publicKeys.get(kid);
    if (known) return known;
    const row = await store.byKid(kid);
    if (!row) throw new Error('unknown kid');
    await remember(row);
    return publicKeys.get(kid)!;
  }

  return {
    async signUserToken(claims: UserTokenClaims, expiresAt: Date): Promise<string> {
      return new SignJWT({ sid: claims.sessionId, app: claims.appId, ten: claims.tenantId })
        .setProtectedHeader({ alg: ALG, kid: signing!.kid, typ: 'JWT' })
        .setSubject(claims.userId)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .sign(signing!.key);
    },

    /** Returns the claims of a valid token, or null for anything else (never throws). */
    async verifyUserToken(token: string): Promise<UserTokenClaims | null> {
      let payload: JWTPayload;
      try {
        const verified = await jwtVerify(token, (header) => publicKeyFor(header.kid), {
          issuer,
          audience,
          algorithms: [ALG],
          requiredClaims: ['exp', 'sub', 'sid'],
        });
        payload = verified.payload;
        // Never an app access token (typ at+jwt), whatever its claims.
        if (verified.protectedHeader.typ?.toLowerCase() !== 'jwt' || payload.token_use !== undefined) return null;
      } catch {
        return null;
      }
      const { sub, sid, app, ten } = payload as JWTPayload & Record<string, unknown>;
      if (typeof sub !== 'string' || typeof sid !== 'string' || typeof app !== 'string' || typeof ten !== 'string') {
        return null;
      }
      return { userId: sub, sessionId: sid, appId: app, tenantId: ten };
    },

    /** An app server's access token (RFC 9068 shape: `typ: at+jwt`, `client_id`, `jti`). */
    async signAppToken(claims: AppTokenClaims, expiresAt: Date): Promise<string> {
      return new SignJWT({ client_id: claims.apiKeyId, ten: claims.tenantId, token_use: 'app' })
        .setProtectedHeader({ alg: ALG, kid: signing!.kid, typ: APP_TOKEN_TYP })
        .setSubject(claims.appId)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setJti(ulid())
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .sign(signing!.key);
    },

    /** The claims of a valid app access token, or null for anything else, user tokens included (never throws). */
    async verifyAppToken(token: string): Promise<AppTokenClaims | null> {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, (header) => publicKeyFor(header.kid), {
          issuer,
          audience,
          algorithms: [ALG],
          typ: APP_TOKEN_TYP,
          requiredClaims: ['exp', 'sub', 'client_id'],
        }));
      } catch {
        return null;
      }
      const { sub, client_id, ten, token_use, sid } = payload as JWTPayload & Record<string, unknown>;
      if (token_use !== 'app' || sid !== undefined || typeof sub !== 'string' || typeof client_id !== 'string' || typeof ten !== 'string') {
        return null;
      }
      return { appId: sub, apiKeyId: client_id, tenantId: ten };
    },

    /** The JSON Web Key Set served at /.well-known/jwks.json. */
    async jwks(): Promise<{ keys: JWK[] }> {
      return { keys: (await store.active()).map((row) => row.publicJwk as JWK) };
    },
  };
}
export type TokenService = Awaited<ReturnType<typeof createTokenService>>;

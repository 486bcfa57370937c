import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { ulid } from 'ulid';
import { ALG, type Keyring } from './keyring.ts';

export type UserTokenClaims = { userId: string; appId: string; tenantId: string; sessionId: string };
/** An app server's OAuth2 access token (client credentials): `sub` is the app, `client_id` the API key. */
export type AppTokenClaims = { appId: string; tenantId: string; apiKeyId: string };

/**
 * The `typ` header of app access tokens (RFC 9068). User tokens carry `typ: "JWT"`; each
 * verifier insists on its own, so neither kind of token is ever accepted as the other.
 */
export const APP_TOKEN_TYP = 'at+jwt';

export type TokenServiceOptions = { keyring: Keyring; issuer: string; audience: string };

/** Signs and verifies Parley's JWTs: user tokens and app access tokens, with the keyring's keys. */
export function createTokenService({ keyring, issuer, audience }: TokenServiceOptions) {
  const publicKeyFor = (header: { kid?: string }) => keyring.publicKeyFor(header.kid);

  return {
    async signUserToken(claims: UserTokenClaims, expiresAt: Date): Promise<string> {
      const signing = await keyring.signingKey();
      return new SignJWT({ sid: claims.sessionId, app: claims.appId, ten: claims.tenantId })
        .setProtectedHeader({ alg: ALG, kid: signing.kid, typ: 'JWT' })
        .setSubject(claims.userId)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .sign(signing.key);
    },

    /** Returns the claims of a valid token, or null for anything else (never throws). */
    async verifyUserToken(token: string): Promise<UserTokenClaims | null> {
      let payload: JWTPayload;
      try {
        const verified = await jwtVerify(token, publicKeyFor, {
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
      const signing = await keyring.signingKey();
      return new SignJWT({ client_id: claims.apiKeyId, ten: claims.tenantId, token_use: 'app' })
        .setProtectedHeader({ alg: ALG, kid: signing.kid, typ: APP_TOKEN_TYP })
        .setSubject(claims.appId)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setJti(ulid())
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .sign(signing.key);
    },

    /** The claims of a valid app access token, or null for anything else, user tokens included (never throws). */
    async verifyAppToken(token: string): Promise<AppTokenClaims | null> {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, publicKeyFor, {
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
  };
}
export type TokenService = ReturnType<typeof createTokenService>;

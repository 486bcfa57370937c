import { decodeProtectedHeader } from 'jose';
import { refused, unauthenticated } from '../lib/errors.ts';
import type { ApiKeyStore } from '../modules/app/api-key.store.ts';
import type { SessionStore } from '../modules/user/session.store.ts';
import { constantTimeEqual, verifySecret, VerifiedSecretCache } from './secrets.ts';
import { APP_TOKEN_TYP, type TokenService } from './tokens.ts';
import type { Viewer } from './viewer.ts';

export type CredentialHeaders = { authorization?: string | undefined; apiKey?: string | undefined };

const API_KEY = /^(pk_[A-Za-z0-9_-]{1,64})\.(sk_[A-Za-z0-9_-]{1,128})$/;

/**
 * Turns the credential of a request into a Viewer. No credential is an anonymous viewer (the
 * schema's scopes then refuse what needs one); a credential that is present but wrong is an
 * UNAUTHENTICATED error for the whole request (HTTP 401), never a silent downgrade.
 */
export function createCredentialResolver(deps: {
  adminToken: string;
  tokens: TokenService;
  apiKeys: ApiKeyStore;
  sessions: SessionStore;
}) {
  const verified = new VerifiedSecretCache();

  async function fromApiKey(value: string): Promise<Viewer> {
    const match = API_KEY.exec(value.trim());
    if (!match) throw unauthenticated('Malformed API key');
    const [, id, secret] = match as unknown as [string, string, string];
    const key = await deps.apiKeys.forAuthentication(id);
    if (!key || key.revokedAt) throw unauthenticated('Invalid API key');
    if (!verified.matches(id, secret)) {
      if (!(await verifySecret(secret, key.secretHash))) throw unauthenticated('Invalid API key');
      verified.remember(id, secret);
    }
    if (key.app.tenant.status !== 'ACTIVE') throw suspended();
    return { kind: 'app', apiKeyId: id, scope: { tenantId: key.app.tenantId, appId: key.app.id } };
  }

  /**
   * An app server's access token from POST /v1/auth/token: the same viewer as its API key.
   * The key row is read on every use, so revoking the key ends its tokens at once.
   */
  async function fromAppToken(token: string): Promise<Viewer> {
    const claims = await deps.tokens.verifyAppToken(token);
    if (!claims) throw unauthenticated('Invalid or expired token');
    const key = await deps.apiKeys.forAuthentication(claims.apiKeyId);
    if (!key || key.revokedAt || key.app.id !== claims.appId || key.app.tenantId !== claims.tenantId) {
      throw unauthenticated('Invalid or expired token');
    }
    if (key.app.tenant.status !== 'ACTIVE') throw suspended();
    return { kind: 'app', apiKeyId: key.id, scope: { tenantId: key.app.tenantId, appId: key.app.id } };
  }

  async function fromBearer(token: string): Promise<Viewer> {
    if (constantTimeEqual(token, deps.adminToken)) return { kind: 'operator' };
    // The unverified header only picks the verifier; each verifier insists on its own `typ`.
    if (headerTyp(token) === APP_TOKEN_TYP) return fromAppToken(token);
    const claims = await deps.tokens.verifyUserToken(token);
    if (!claims) throw unauthenticated('Invalid or expired token');
    // The signature proves who issued the token; the session row says whether it still holds.
    const session = await deps.sessions.forAuthentication(claims.sessionId);
    if (
      !session ||
      session.revokedAt ||
      session.expiresAt <= new Date() ||
      session.userId !== claims.userId ||
      session.appId !== claims.appId
    ) {
      throw unauthenticated('Invalid or expired token');
    }
    if (session.user.app.tenant.status !== 'ACTIVE') throw suspended();
    return {
      kind: 'user',
      userId: claims.userId,
      sessionId: claims.sessionId,
      scope: { tenantId: session.user.app.tenantId, appId: claims.appId },
    };
  }

  return async function resolveViewer({ authorization, apiKey }: CredentialHeaders): Promise<Viewer> {
    if (authorization !== undefined && apiKey !== undefined) {
      throw unauthenticated('Send either Authorization or X-API-Key, not both');
    }
    if (apiKey !== undefined) return fromApiKey(apiKey);
    if (authorization === undefined) return { kind: 'anonymous' };
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!bearer) throw unauthenticated('Authorization must be "Bearer <token>"');
    return fromBearer(bearer[1]!);
  };
}
export type ResolveViewer = ReturnType<typeof createCredentialResolver>;

const suspended = () => refused('FORBIDDEN', 'This tenant is suspended');

function headerTyp(token: string): string | undefined {
  try {
    return decodeProtectedHeader(token).typ?.toLowerCase();
  } catch {
    return undefined;
  }
}

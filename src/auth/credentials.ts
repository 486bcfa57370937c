import { decodeProtectedHeader } from 'jose';
import { rateLimited, refused, unauthenticated } from '../lib/errors.ts';
import type { RateLimiter } from '../lib/rate-limiter.ts';
import type { ApiKeyStore } from '../modules/app/api-key.store.ts';
import type { SessionStore } from '../modules/user/session.store.ts';
import { constantTimeEqual, verifySecret, VerifiedSecretCache } from './secrets.ts';
import { APP_TOKEN_TYP, type TokenService } from './tokens.ts';
import type { Viewer } from './viewer.ts';

export type CredentialHeaders = { authorization?: string | undefined; apiKey?: string | undefined };
/** Where a credential came from: the client's address, when the caller knows it. */
export type CredentialOrigin = { clientAddress?: string | undefined };

const API_KEY = /^(pk_[A-Za-z0-9_-]{1,64})\.(sk_[A-Za-z0-9_-]{1,128})$/;

/**
 * Turns the credential of a request into a Viewer. No credential is an anonymous viewer (the
 * schema's scopes then refuse what needs one); a credential that is present but wrong is an
 * UNAUTHENTICATED error for the whole request (HTTP 401), never a silent downgrade.
 *
 * Failed authentications are counted per client address (`authFailures`, across nodes with
 * Redis). An address past its budget may still use a secret already verified (the cache), but
 * anything that would need a fresh scrypt check is refused (RATE_LIMITED) until its minute is
 * over: guessing secrets, or burning our CPU with them, stops there, while clients behind the
 * same address that already authenticated carry on. Tokens are cheap to check and never refused.
 */
export function createCredentialResolver(deps: {
  adminToken: string;
  tokens: TokenService;
  apiKeys: ApiKeyStore;
  sessions: SessionStore;
  authFailures: { limiter: RateLimiter; perMinute: number };
}) {
  const verified = new VerifiedSecretCache();
  const { limiter, perMinute } = deps.authFailures;

  /**
   * Takes a point of the address's budget before a secret is checked, so that concurrent
   * guesses cannot all slip in before the first failure is counted; a success gives it back.
   * The counters failing (Redis away) must not lock everyone out: then nothing is refused.
   */
  async function reserve(clientAddress: string | undefined) {
    if (!clientAddress) return;
    const standing = await limiter.take(addressKey(clientAddress), perMinute).catch(() => null);
    if (standing && !standing.allowed) {
      throw rateLimited(`Too many failed authentications from this address: at most ${perMinute} a minute`, standing.resetSeconds);
    }
  }
  const release = async (clientAddress: string | undefined) => {
    if (clientAddress) await limiter.refund(addressKey(clientAddress), perMinute).catch(() => {});
  };

  async function fromApiKey(value: string, clientAddress: string | undefined): Promise<Viewer> {
    const match = API_KEY.exec(value.trim());
    const [, id, secret] = (match ?? []) as unknown as [string, string, string];
    const key = match ? await deps.apiKeys.forAuthentication(id) : null;
    if (!key || key.revokedAt || !verified.matches(id, secret)) {
      // Every other outcome is a secret check (or a failure) and costs a point until it succeeds.
      await reserve(clientAddress);
      if (!match) throw unauthenticated('Malformed API key');
      if (!key || key.revokedAt || !(await verifySecret(secret, key.secretHash))) throw unauthenticated('Invalid API key');
      verified.remember(id, secret);
      await release(clientAddress);
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

  async function fromBearer(token: string, clientAddress: string | undefined): Promise<Viewer> {
    // A bearer that is no JWT can only be ADMIN_TOKEN: a static secret, so guesses at it are
    // budgeted like API key secrets (tokens are signed: guessing them is hopeless, and free to refuse).
    if (!looksLikeJwt(token) || constantTimeEqual(token, deps.adminToken)) {
      await reserve(clientAddress);
      if (!constantTimeEqual(token, deps.adminToken)) throw unauthenticated('Invalid or expired token');
      await release(clientAddress);
      return { kind: 'operator' };
    }
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

  async function resolve({ authorization, apiKey }: CredentialHeaders, clientAddress: string | undefined): Promise<Viewer> {
    if (authorization !== undefined && apiKey !== undefined) {
      throw unauthenticated('Send either Authorization or X-API-Key, not both');
    }
    if (apiKey !== undefined) return fromApiKey(apiKey, clientAddress);
    if (authorization === undefined) return { kind: 'anonymous' };
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!bearer) throw unauthenticated('Authorization must be "Bearer <token>"');
    return fromBearer(bearer[1]!, clientAddress);
  }

  return (credential: CredentialHeaders, { clientAddress }: CredentialOrigin = {}): Promise<Viewer> => resolve(credential, clientAddress);
}
export type ResolveViewer = ReturnType<typeof createCredentialResolver>;

/** Three base64url parts: the only shape a token Parley signs can have (ADMIN_TOKEN may be anything else). */
export const looksLikeJwt = (value: string) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(value);

/**
 * The budget's key for an address: IPv4 as it is, IPv6 by its /64 (one subscriber's prefix,
 * which it can rotate addresses within at will).
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const bare = address.split('%')[0]!;
  const [head = '', tail] = bare.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

const suspended = () => refused('FORBIDDEN', 'This tenant is suspended');

function headerTyp(token: string): string | undefined {
  try {
    return decodeProtectedHeader(token).typ?.toLowerCase();
  } catch {
    return undefined;
  }
}

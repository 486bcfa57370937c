import { ParleyError } from './errors.ts';

/**
 * Where the client's user token comes from: a fixed token, or `getToken`, asked again shortly
 * before the current token expires (its JWT `exp`, read without verifying: the server verifies)
 * and after the server refused it. Concurrent callers share one `getToken` call.
 */
export type TokenSource = {
  /** A token that is not about to expire. */
  get(): Promise<string>;
  /** The server refused `token`: the next get() asks getToken again. False without getToken. */
  invalidate(token: string): boolean;
  readonly canRefresh: boolean;
};

type Claims = { exp?: number; iat?: number };

/** The payload of a JWT, or {} when it is not one (an opaque token just never expires here). */
export function jwtClaims(token: string): Claims {
  const part = token.split('.')[1];
  if (!part) return {};
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const json = decodeURIComponent(
      Array.from(atob(base64), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''),
    );
    const claims = JSON.parse(json) as unknown;
    return typeof claims === 'object' && claims !== null ? (claims as Claims) : {};
  } catch {
    return {};
  }
}

/**
 * When to stop using a token: a fifth of its lifetime before `exp` (at most a minute, at least a
 * second), so that a request or a socket connecting with it still finds it valid at the server.
 */
export function refreshAt(token: string): number {
  const { exp, iat } = jwtClaims(token);
  if (typeof exp !== 'number') return Infinity;
  const lifetimeMs = typeof iat === 'number' ? (exp - iat) * 1000 : 300_000;
  const marginMs = Math.max(1_000, Math.min(60_000, lifetimeMs / 5));
  return exp * 1000 - marginMs;
}

export function createTokenSource(options: { token?: string; getToken?: () => Promise<string> }): TokenSource {
  const { token, getToken } = options;
  if (!getToken) {
    if (!token) throw new TypeError('createParleyClient needs `token` or `getToken`');
    return { get: async () => token, invalidate: () => false, canRefresh: false };
  }
  let current: string | undefined = token;
  let pending: Promise<string> | undefined;
  const fetchToken = () =>
    (pending ??= getToken()
      .catch((err: unknown) => {
        // Usually the app's server unreachable (offline): a network error, retried like one.
        throw err instanceof ParleyError
          ? err
          : new ParleyError('NETWORK_ERROR', `getToken() failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      })
      .then((fresh) => {
        if (typeof fresh !== 'string' || !fresh) throw new TypeError('getToken() must resolve to a token string');
        current = fresh;
        return fresh;
      })
      .finally(() => (pending = undefined)));
  return {
    get: async () => (current !== undefined && Date.now() < refreshAt(current) ? current : fetchToken()),
    invalidate: (refused) => {
      if (current === refused) current = undefined;
      return true;
    },
    canRefresh: true,
  };
}

import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { Deps } from '../deps.ts';
import { AppError } from '../lib/errors.ts';

/** How long an app access token lives. Short: the app's server asks again when it lapses. */
export const APP_TOKEN_TTL_SECONDS = 15 * 60;

export const TOKEN_PATH = '/v1/auth/token';
const CHALLENGE = 'Basic realm="parley"';
const PARAMETERS = ['grant_type', 'client_id', 'client_secret', 'scope'] as const;
type Parameters = Partial<Record<(typeof PARAMETERS)[number], string>>;

/** An RFC 6749 §5.2 error response: `{ error, error_description }` with its status. */
class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    description: string,
  ) {
    super(description);
  }
}
const invalidRequest = (description: string) => new OAuthError(400, 'invalid_request', description);
const invalidClient = () => new OAuthError(401, 'invalid_client', 'Client authentication failed');

/**
 * The OAuth2 token endpoint for app servers: the client credentials grant (RFC 6749 §4.4).
 * client_id is an API key id (`pk_…`), client_secret its secret (`sk_…`), sent in the body
 * or with HTTP Basic (§2.3.1), never both. The answer is a short-lived JWT (`typ: at+jwt`,
 * sub = the app, client_id = the key) that stands for the API key as `Authorization: Bearer`.
 *
 * The form body is read by a content-type parser of this plugin alone (URLSearchParams, no
 * dependency; it also sees repeated parameters, which §3.2 forbids); JSON is Fastify's own.
 * Errors of this scope, Fastify's included (malformed body), keep the OAuth2 shape.
 */
export async function oauthPlugin(app: FastifyInstance, { deps }: { deps: Deps }) {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, new URLSearchParams(body as string)),
  );

  app.setErrorHandler((err: FastifyError | OAuthError, req, reply) => {
    if (err instanceof OAuthError) return send(reply, err);
    const status = 'statusCode' in err && err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) {
      req.log.error({ err }, 'token request failed');
      return send(reply, new OAuthError(500, 'server_error', 'Internal error'));
    }
    if (status === 413) return send(reply, new OAuthError(413, 'invalid_request', `Request body is over ${deps.config.maxBodyBytes} bytes`));
    if (status === 415) return send(reply, invalidRequest('Send application/x-www-form-urlencoded or application/json'));
    return send(reply, invalidRequest('Malformed request body'));
  });

  app.post(TOKEN_PATH, async (req, reply) => {
    const params = parameters(req.body);
    const basic = basicCredentials(req.headers.authorization);
    if (basic && (params.client_id !== undefined || params.client_secret !== undefined)) {
      throw invalidRequest('Send the client credentials either with HTTP Basic or in the body, not both');
    }
    if (params.grant_type === undefined) throw invalidRequest('grant_type is required');
    if (params.grant_type !== 'client_credentials') {
      throw new OAuthError(400, 'unsupported_grant_type', 'Only grant_type=client_credentials is supported');
    }
    const { id, secret } = basic ?? { id: params.client_id, secret: params.client_secret };
    if (id === undefined || secret === undefined) throw invalidClient();

    // The API key's own checks (format, secret, revocation, tenant status), as for X-API-Key.
    // Neither part contains a '.', so joining them cannot make another key.
    let viewer;
    try {
      viewer = await deps.resolveViewer({ apiKey: `${id}.${secret}` }, { clientAddress: req.ip });
    } catch (err) {
      if (err instanceof AppError && err.code === 'UNAUTHENTICATED') throw invalidClient();
      if (err instanceof AppError && err.code === 'RATE_LIMITED') {
        reply.header('retry-after', String(err.extensions.retryAfterSeconds));
        throw new OAuthError(429, 'temporarily_unavailable', err.message);
      }
      if (err instanceof AppError && err.code === 'FORBIDDEN') throw new OAuthError(403, 'access_denied', 'This tenant is suspended');
      throw err;
    }
    if (viewer.kind !== 'app') throw invalidClient();

    // `scope` is ignored: the token carries exactly the API key's access (the whole app).
    const expiresAt = new Date(Date.now() + APP_TOKEN_TTL_SECONDS * 1000);
    const accessToken = await deps.tokens.signAppToken(
      { appId: viewer.scope.appId, tenantId: viewer.scope.tenantId, apiKeyId: viewer.apiKeyId },
      expiresAt,
    );
    return noStore(reply).send({ access_token: accessToken, token_type: 'Bearer', expires_in: APP_TOKEN_TTL_SECONDS });
  });

  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: TOKEN_PATH,
    handler: async (_req, reply) =>
      noStore(reply).status(405).header('allow', 'POST').send({ error: 'invalid_request', error_description: 'Use POST' }),
  });
}

function noStore(reply: FastifyReply) {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

function send(reply: FastifyReply, err: OAuthError) {
  // 401 always names the scheme it accepts (RFC 7235 §3.1; RFC 6749 §5.2 when Basic was tried).
  if (err.status === 401) reply.header('www-authenticate', CHALLENGE);
  return noStore(reply).status(err.status).send({ error: err.error, error_description: err.message });
}

/** The grant's parameters from a form or a JSON object; empty values count as absent (§3.1). */
function parameters(body: unknown): Parameters {
  const found: Parameters = {};
  if (body === undefined || body === null) return found;
  if (body instanceof URLSearchParams) {
    for (const name of PARAMETERS) {
      const values = body.getAll(name);
      if (values.length > 1) throw invalidRequest(`${name} is repeated`);
      if (values[0]) found[name] = values[0];
    }
    return found;
  }
  if (typeof body !== 'object' || Array.isArray(body)) throw invalidRequest('The body must be a form or a JSON object');
  for (const name of PARAMETERS) {
    const value = (body as Record<string, unknown>)[name];
    if (value === undefined || value === null || value === '') continue;
    if (typeof value !== 'string') throw invalidRequest(`${name} must be a string`);
    found[name] = value;
  }
  return found;
}

/**
 * HTTP Basic client authentication (RFC 6749 §2.3.1): base64 of the form-urlencoded id and
 * secret joined by ':'. Undefined when there is no Authorization header; any other scheme,
 * or a malformed one, is a failed client authentication.
 */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (!match) throw invalidClient();
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidClient();
  try {
    const formDecode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '));
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw invalidClient();
  }
}

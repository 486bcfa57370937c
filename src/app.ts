import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { trustFunction } from './lib/client-address.ts';
import type { Deps } from './deps.ts';
import { graphqlPlugin } from './http/graphql.plugin.ts';
import { healthPlugin } from './http/health.plugin.ts';
import { jwksPlugin } from './http/jwks.plugin.ts';
import { oauthPlugin } from './http/oauth.plugin.ts';
import { wsPlugin } from './http/ws.plugin.ts';
import { createParleyYoga } from './http/yoga.ts';
import type { ErrorCode } from './lib/errors.ts';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * Builds the HTTP app; never listens (node.ts does). Without `api` (the worker role) it
 * answers only health checks.
 */
export async function buildApp(deps: Deps, { api = true }: { api?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    bodyLimit: deps.config.maxBodyBytes,
    // req.ip: the client's address behind the proxies TRUST_PROXY names (auth failures per address).
    trustProxy: trustFunction(deps.config.trustProxy),
    // An incoming x-request-id (from a proxy or the client) is kept, so logs line up.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });

  app.addHook('onSend', async (req, reply) => void reply.header('x-request-id', req.id));

  // Errors Fastify raises before GraphQL runs (body too large, malformed JSON, unsupported
  // media type) get the same JSON shape and codes as GraphQL errors.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    const code: ErrorCode = status === 413 ? 'PAYLOAD_TOO_LARGE' : status < 500 ? 'BAD_USER_INPUT' : 'INTERNAL';
    if (status >= 500) req.log.error({ err }, 'request failed');
    const message =
      status === 413 ? `Request body is over ${deps.config.maxBodyBytes} bytes` : status < 500 ? err.message : 'Internal error';
    return reply.status(status).send({ errors: [{ message, extensions: { code, requestId: req.id } }] });
  });

  await app.register(healthPlugin, { deps });
  if (!api) return app;
  await app.register(jwksPlugin, { deps });
  await app.register(oauthPlugin, { deps }); // POST /v1/auth/token (encapsulated: its body parser and errors stay there)
  const yoga = createParleyYoga(deps);
  await app.register(graphqlPlugin, { yoga });
  await app.register(wsPlugin, { deps, yoga });
  return app;
}

import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { trustFunction } from './lib/client-address.ts';
import type { Deps } from './deps.ts';
import { adminPlugin } from './http/admin.plugin.ts';
import { graphqlPlugin } from './http/graphql.plugin.ts';
import { healthPlugin } from './http/health.plugin.ts';
import { metricsPlugin } from './http/metrics.plugin.ts';
import { jwksPlugin } from './http/jwks.plugin.ts';
import { oauthPlugin } from './http/oauth.plugin.ts';
import { wsPlugin } from './http/ws.plugin.ts';
import { createParleyYoga } from './http/yoga.ts';
import type { ErrorCode } from './lib/errors.ts';
import { traceHttpRequests } from './observability/http-tracing.ts';
import { logRequests, recordCodes, recordOf, requestIdOf } from './observability/request-log.ts';

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
    // An incoming x-request-id (else a traceparent's trace id) is kept, so logs line up.
    genReqId: (req) => requestIdOf(req.headers),
    // One line per request, written on response by logRequests instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
  });
  logRequests(app, deps.metrics);

  app.addHook('onSend', async (req, reply) => void reply.header('x-request-id', req.id));

  // Errors Fastify raises before GraphQL runs (body too large, malformed JSON, unsupported
  // media type) get the same JSON shape and codes as GraphQL errors.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    const code: ErrorCode = status === 413 ? 'PAYLOAD_TOO_LARGE' : status < 500 ? 'BAD_USER_INPUT' : 'INTERNAL';
    if (status >= 500) req.log.error({ err }, 'request failed');
    recordCodes(recordOf(req), [code]);
    const message =
      status === 413 ? `Request body is over ${deps.config.maxBodyBytes} bytes` : status < 500 ? err.message : 'Internal error';
    return reply.status(status).send({ errors: [{ message, extensions: { code, requestId: req.id } }] });
  });

  await app.register(healthPlugin, { deps });
  await app.register(metricsPlugin, { metrics: deps.metrics, token: deps.config.metricsToken }); // every role
  if (!api) return app;
  traceHttpRequests(app); // after the health checks, so probes make no traces
  await app.register(jwksPlugin, { deps });
  await app.register(oauthPlugin, { deps }); // POST /v1/auth/token (encapsulated: its body parser and errors stay there)
  const yoga = createParleyYoga(deps);
  await app.register(graphqlPlugin, { yoga });
  await app.register(wsPlugin, { deps, yoga });
  await app.register(adminPlugin); // the operator's dashboard at /admin (static files; it calls /graphql)
  return app;
}

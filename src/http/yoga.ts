import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { createYoga, type Plugin } from 'graphql-yoga';
import type { Viewer } from '../auth/viewer.ts';
import type { Deps } from '../deps.ts';
import type { Connection, Context } from '../schema/context.ts';
import { schema } from '../schema/index.ts';
import { refused } from '../lib/errors.ts';
import { maskError, useErrorCodes } from './error-masking.ts';
import { usePersisted } from './persisted-operations.ts';
import { CORS_ALLOWED, createOriginPolicy } from './origins.ts';
import { useRequestRate } from './request-rate.plugin.ts';
import { useOperationTracing } from '../observability/graphql-tracing.ts';
import { useOperationMetrics } from '../observability/operation-metrics.ts';

/** What a transport hands Yoga: the HTTP request, or the socket's already-resolved viewer. */
export type ServerContext =
  | { req: FastifyRequest; reply: FastifyReply; socket?: undefined }
  | { req?: undefined; socket: { viewer: Viewer; requestId: string; connection: Connection } };

/** Limits on the shape of a document, enforced before it executes. */
export const DOCUMENT_LIMITS = { maxDepth: 12, maxTokens: 2000, maxAliases: 30, maxDirectives: 20, maxCost: 5000 };

const header = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(',') : value);

/**
 * One Yoga for both transports. Its context factory is the single place a viewer enters the
 * schema: from the request's headers over HTTP, or from the socket's `connection_init` (read
 * by the same credential resolver when the socket opened) over WebSocket.
 */
export function createParleyYoga(deps: Deps) {
  // CORS by the calling app's allowedOrigins (origins.ts): a request whose origin its app does
  // not allow is refused (403) in the context factory, and its response gets no CORS headers.
  const origins = createOriginPolicy({ apps: deps.services.stores.apps });
  const refusedOrigin = new WeakSet<FastifyRequest>();
  async function httpViewer(req: FastifyRequest) {
    const viewer = await deps.resolveViewer(
      { authorization: header(req.headers.authorization), apiKey: header(req.headers['x-api-key']) },
      { clientAddress: req.ip },
    );
    if (!(await origins.permits(viewer, header(req.headers.origin), req.headers.host))) {
      refusedOrigin.add(req);
      throw refused('FORBIDDEN', "This origin is not in the app's allowedOrigins");
    }
    // Usage: an end user's request makes them active this hour (in memory after the first).
    if (viewer.kind === 'user') deps.services.usage.requestMade(viewer.scope, viewer.userId);
    return viewer;
  }
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    logging: false,
    landingPage: false,
    graphiql: deps.config.graphiql,
    // One operation per request: a JSON array (batching) is refused with 400.
    batching: false,
    maskedErrors: { maskError },
    cors: (_request, server) => {
      const req = (server as ServerContext | undefined)?.req;
      return req && refusedOrigin.has(req) ? false : CORS_ALLOWED;
    },
    context: async (initial) =>
      initial.socket
        ? { viewer: initial.socket.viewer, services: deps.services, requestId: initial.socket.requestId, connection: initial.socket.connection }
        : {
            viewer: await httpViewer(initial.req),
            services: deps.services,
            requestId: initial.req.id,
          },
    plugins: [
      // First: a persisted operation's hash becomes its document before anything reads it.
      ...(deps.config.persistedOperations ? [usePersisted(deps.config.persistedOperations)] : []),
      maxDepthPlugin({ n: DOCUMENT_LIMITS.maxDepth, exposeLimits: true }),
      maxTokensPlugin({ n: DOCUMENT_LIMITS.maxTokens, exposeLimits: true }),
      maxAliasesPlugin({ n: DOCUMENT_LIMITS.maxAliases, exposeLimits: true }),
      maxDirectivesPlugin({ n: DOCUMENT_LIMITS.maxDirectives, exposeLimits: true }),
      // Cost: 1 a scalar, 2 an object, ×1.5 per level of nesting (armor's defaults), so a wide
      // and deep document is refused before it runs even within the depth and token limits.
      costLimitPlugin({ maxCost: DOCUMENT_LIMITS.maxCost, objectCost: 2, scalarCost: 1, depthCostFactor: 1.5, exposeLimits: true }),
      ...(deps.config.introspection ? [] : [useDisableIntrospection()]),
      useErrorCodes(),
      useOperationMetrics(deps.metrics), // after useErrorCodes: reads the codes it sets
      useSubscriptionsOverSocketsOnly(),
      useRequestRate({ limiter: deps.services.requestRate, tenants: deps.services.tenants }),
      useOperationTracing(),
    ],
  });
}
export type ParleyYoga = ReturnType<typeof createParleyYoga>;

/**
 * Subscriptions run over WebSocket only (the contract's transport). Yoga would also serve one
 * over HTTP as server-sent events, which no socket limit, slow-consumer cut-off or live
 * revocation reaches: such a request is refused before it subscribes.
 */
function useSubscriptionsOverSocketsOnly(): Plugin {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      if ((args.contextValue as unknown as Context).connection) return;
      setResultAndStopExecution({
        errors: [refused('BAD_USER_INPUT', 'Subscriptions are served over WebSocket only: graphql-transport-ws at /graphql')],
      });
    },
  };
}

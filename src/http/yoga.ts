import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createYoga } from 'graphql-yoga';
import type { Viewer } from '../auth/viewer.ts';
import type { Deps } from '../deps.ts';
import type { Connection, Context } from '../schema/context.ts';
import { schema } from '../schema/index.ts';
import { maskError, useErrorCodes } from './error-masking.ts';
import { useRequestRate } from './request-rate.plugin.ts';

/** What a transport hands Yoga: the HTTP request, or the socket's already-resolved viewer. */
export type ServerContext =
  | { req: FastifyRequest; reply: FastifyReply; socket?: undefined }
  | { req?: undefined; socket: { viewer: Viewer; requestId: string; connection: Connection } };

/** Limits on the shape of a document, enforced before it executes. */
export const DOCUMENT_LIMITS = { maxDepth: 12, maxTokens: 2000, maxAliases: 30 };

const header = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(',') : value);

/**
 * One Yoga for both transports. Its context factory is the single place a viewer enters the
 * schema: from the request's headers over HTTP, or from the socket's `connection_init` (read
 * by the same credential resolver when the socket opened) over WebSocket.
 */
export function createParleyYoga(deps: Deps) {
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    logging: false,
    landingPage: false,
    graphiql: !deps.config.production,
    maskedErrors: { maskError },
    context: async (initial) =>
      initial.socket
        ? { viewer: initial.socket.viewer, services: deps.services, requestId: initial.socket.requestId, connection: initial.socket.connection }
        : {
            viewer: await deps.resolveViewer({
              authorization: header(initial.req.headers.authorization),
              apiKey: header(initial.req.headers['x-api-key']),
            }),
            services: deps.services,
            requestId: initial.req.id,
          },
    plugins: [
      maxDepthPlugin({ n: DOCUMENT_LIMITS.maxDepth, exposeLimits: true }),
      maxTokensPlugin({ n: DOCUMENT_LIMITS.maxTokens, exposeLimits: true }),
      maxAliasesPlugin({ n: DOCUMENT_LIMITS.maxAliases, exposeLimits: true }),
      useErrorCodes(),
      useRequestRate({ limiter: deps.services.requestRate, tenants: deps.services.tenants }),
    ],
  });
}
export type ParleyYoga = ReturnType<typeof createParleyYoga>;

import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createYoga } from 'graphql-yoga';
import type { Deps } from '../deps.ts';
import { schema } from '../schema/index.ts';
import type { Context } from '../schema/context.ts';
import { maskError, useErrorCodes } from './error-masking.ts';

type ServerContext = { req: FastifyRequest; reply: FastifyReply };

/** Limits on the shape of a document, enforced before it executes. */
export const DOCUMENT_LIMITS = { maxDepth: 12, maxTokens: 2000, maxAliases: 30 };

const header = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(',') : value);

/** GraphQL Yoga at /graphql, GraphQL-over-HTTP compliant; the context resolves the viewer. */
export async function graphqlPlugin(app: FastifyInstance, { deps }: { deps: Deps }) {
  const yoga = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    logging: false,
    landingPage: false,
    graphiql: !deps.config.production,
    maskedErrors: { maskError },
    context: async ({ req }) => ({
      viewer: await deps.resolveViewer({
        authorization: header(req.headers.authorization),
        apiKey: header(req.headers['x-api-key']),
      }),
      services: deps.services,
      requestId: req.id,
    }),
    plugins: [
      maxDepthPlugin({ n: DOCUMENT_LIMITS.maxDepth, exposeLimits: true }),
      maxTokensPlugin({ n: DOCUMENT_LIMITS.maxTokens, exposeLimits: true }),
      maxAliasesPlugin({ n: DOCUMENT_LIMITS.maxAliases, exposeLimits: true }),
      useErrorCodes(),
    ],
  });

  app.route({
    url: yoga.graphqlEndpoint,
    method: ['GET', 'POST', 'OPTIONS'],
    handler: async (req, reply) => {
      const response = await yoga.handleNodeRequestAndResponse(req, reply, { req, reply });
      // Yoga refuses a content type it cannot read with an empty 415; the error handler
      // gives it the JSON error shape (code, requestId) of every other error.
      if (response.status >= 400 && response.body === null) {
        throw Object.assign(new Error(response.statusText || 'Request refused'), { statusCode: response.status });
      }
      response.headers.forEach((value, key) => void reply.header(key, value));
      reply.status(response.status);
      return reply.send(response.body);
    },
  });
}

import type { FastifyInstance } from 'fastify';
import type { ParleyYoga } from './yoga.ts';

/** GraphQL over HTTP at /graphql (GET and POST), compliant with the GraphQL-over-HTTP spec. */
export async function graphqlPlugin(app: FastifyInstance, { yoga }: { yoga: ParleyYoga }) {
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

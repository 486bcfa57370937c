import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.ts';

/** The public keys of every token Parley signs, for apps that verify tokens themselves. */
export async function jwksPlugin(app: FastifyInstance, { deps }: { deps: Deps }) {
  app.get('/.well-known/jwks.json', async (_req, reply) =>
    reply.header('cache-control', 'public, max-age=300').send(await deps.keyring.jwks()),
  );
}

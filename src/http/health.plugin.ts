import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.ts';

/** /healthz: the process answers. /readyz: the store and the bus (Redis, when used) answer. */
export async function healthPlugin(app: FastifyInstance, { deps }: { deps: Deps }) {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (req, reply) => {
    const check = (what: string, ping: () => Promise<void>) =>
      ping().then(
        () => 'ok',
        (err: unknown) => {
          req.log.warn({ err }, `${what} not reachable`);
          return 'unreachable';
        },
      );
    const [database, redis] = await Promise.all([
      check('database', () => deps.db.ping()),
      deps.bus.kind === 'redis' ? check('redis', () => deps.bus.ping()) : 'in-process',
    ]);
    const ready = database === 'ok' && redis !== 'unreachable';
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: { database, bus: redis } });
  });
}

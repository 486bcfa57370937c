import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.ts';

/** /healthz: the process answers. /readyz: the store answers (the bus is in process for now). */
export async function healthPlugin(app: FastifyInstance, { deps }: { deps: Deps }) {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (req, reply) => {
    const database = await deps.db.ping().then(
      () => 'ok',
      (err: unknown) => {
        req.log.warn({ err }, 'database not reachable');
        return 'unreachable';
      },
    );
    const ready = database === 'ok';
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: { database, bus: 'in-process' } });
  });
}

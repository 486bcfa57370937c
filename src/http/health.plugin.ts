import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.ts';

/** What the checks read: the store, the bus, and whether shutdown began. */
export type HealthDeps = {
  db: Pick<Deps['db'], 'ping' | 'pendingMigrations'>;
  bus: Pick<Deps['bus'], 'kind' | 'ping'>;
  lifecycle: Deps['lifecycle'];
};

/**
 * /healthz: the process answers (also while draining: it is alive, just leaving). /readyz:
 * the store and the bus (Redis, when used) answer, every migration of this code is applied,
 * and shutdown has not begun (`draining`: load balancers stop sending before sockets close).
 */
export async function healthPlugin(app: FastifyInstance, { deps }: { deps: HealthDeps }) {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (req, reply) => {
    const check = <T extends string>(what: string, probe: () => Promise<T>) =>
      probe().catch((err: unknown) => {
        req.log.warn({ err }, `${what} not reachable`);
        return 'unreachable' as const;
      });
    const [database, redis, migrations] = await Promise.all([
      check('database', () => deps.db.ping().then(() => 'ok' as const)),
      deps.bus.kind === 'redis' ? check('redis', () => deps.bus.ping().then(() => 'ok' as const)) : ('in-process' as const),
      check('migration table', async () => {
        const pending = await deps.db.pendingMigrations();
        if (pending.length === 0) return 'ok' as const;
        req.log.warn({ pending }, 'migrations not applied');
        return 'pending' as const;
      }),
    ]);
    const draining = deps.lifecycle.draining;
    const ready = !draining && database === 'ok' && redis !== 'unreachable' && migrations === 'ok';
    return reply
      .status(ready ? 200 : 503)
      .send({ status: draining ? 'draining' : ready ? 'ready' : 'not ready', checks: { database, bus: redis, migrations } });
  });
}

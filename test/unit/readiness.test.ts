import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { healthPlugin, type HealthDeps } from '../../src/http/health.plugin.ts';

// /readyz decides from the store, the bus, the migrations and the shutdown state; here each
// is a fake, so every way of being not ready is shown (the real ones: readiness.test.ts).

type Fakes = { ping?: () => Promise<void>; pending?: () => Promise<string[]>; bus?: HealthDeps['bus']; draining?: boolean };

async function probe({ ping = async () => {}, pending = async () => [], bus = { kind: 'in-process', ping: async () => {} }, draining = false }: Fakes = {}) {
  const app = Fastify();
  await app.register(healthPlugin, { deps: { db: { ping, pendingMigrations: pending }, bus, lifecycle: { draining } } });
  const [ready, health] = [await app.inject('/readyz'), await app.inject('/healthz')];
  await app.close();
  return { status: ready.statusCode, body: ready.json(), healthz: health.statusCode };
}
const down = async () => {
  throw new Error('connection refused');
};

describe('/readyz', () => {
  it('200 ready when the store answers, the bus is in process and no migration is pending', async () => {
    expect(await probe()).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'ok', bus: 'in-process', migrations: 'ok' } }, healthz: 200 });
  });

  it('503 when a migration of this code is not applied to the store', async () => {
    const { status, body } = await probe({ pending: async () => ['20990101000000_future'] });
    expect(status).toBe(503);
    expect(body).toEqual({ status: 'not ready', checks: { database: 'ok', bus: 'in-process', migrations: 'pending' } });
    expect(JSON.stringify(body)).not.toContain('future'); // names stay in the log
  });

  it('503 when the store does not answer (its migration table neither)', async () => {
    const { status, body } = await probe({ ping: down, pending: down });
    expect(status).toBe(503);
    expect(body.checks).toEqual({ database: 'unreachable', bus: 'in-process', migrations: 'unreachable' });
  });

  it('503 when Redis does not answer; 200 when it does', async () => {
    expect((await probe({ bus: { kind: 'redis', ping: down } })).body).toEqual({ status: 'not ready', checks: { database: 'ok', bus: 'unreachable', migrations: 'ok' } });
    expect((await probe({ bus: { kind: 'redis', ping: async () => {} } })).status).toBe(200);
  });

  it('503 draining once shutdown began, while /healthz stays 200', async () => {
    expect(await probe({ draining: true })).toEqual({ status: 503, body: { status: 'draining', checks: { database: 'ok', bus: 'in-process', migrations: 'ok' } }, healthz: 200 });
  });
});

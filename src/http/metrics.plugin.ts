import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../observability/metrics.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * GET /metrics: this node's metrics in Prometheus's text format, on every role (the worker's
 * are its webhook attempts and queue). Meant for the internal network; with METRICS_TOKEN set,
 * a scrape must also send `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise).
 */
export async function metricsPlugin(app: FastifyInstance, { metrics, token }: { metrics: Metrics; token: string | null }) {
  const expected = token === null ? null : digest(`Bearer ${token}`);
  app.get('/metrics', async (req, reply) => {
    // Hashed both sides: a length-independent, constant-time comparison.
    if (expected && !timingSafeEqual(digest(req.headers.authorization ?? ''), expected)) {
      return reply.status(401).header('www-authenticate', 'Bearer realm="metrics"').send({ error: 'METRICS_TOKEN required' });
    }
    return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(await metrics.scrape());
  });
}

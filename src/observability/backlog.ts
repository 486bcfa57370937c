import type { PrismaClient } from '../generated/prisma/client.ts';
import { DELIVERY_QUEUE } from '../modules/webhook/webhook-queue.ts';
import type { BacklogProbe } from './metrics.ts';

/**
 * What the scrape-time gauges read: the outbox's unpublished events (the partial index over
 * `published_at IS NULL` keeps this a short scan) and pg-boss's unfinished webhook jobs
 * (its index over states before `active`). Attempts under way are counted in process.
 */
export function createBacklogProbe(prisma: PrismaClient): BacklogProbe {
  return {
    async outbox() {
      const [row] = await prisma.$queryRaw<{ events: number; oldest: number | null }[]>`
        SELECT count(*)::int AS events, extract(epoch FROM now() - min(created_at))::float8 AS oldest
          FROM conversation_event WHERE published_at IS NULL`;
      return { events: row?.events ?? 0, oldestSeconds: Math.max(0, row?.oldest ?? 0) };
    },
    async webhookQueue() {
      // `state < 'active'` exactly: pg-boss's partial index job_i5 (name, start_after) covers
      // that and nothing wider; finished jobs stay in the table for hours and are not scanned.
      const [row] = await prisma.$queryRaw<{ due: number; scheduled: number }[]>`
        SELECT count(*) FILTER (WHERE start_after <= now())::int AS due,
               count(*) FILTER (WHERE start_after > now())::int AS scheduled
          FROM pgboss.job WHERE name = ${DELIVERY_QUEUE} AND state < 'active'`;
      return { due: row?.due ?? 0, scheduled: row?.scheduled ?? 0 };
    },
  };
}

import type { PrismaClient } from '../generated/prisma/client.ts';
import { DELIVERY_QUEUE } from '../modules/webhook/webhook-queue.ts';
import type { BacklogProbe } from './metrics.ts';

/**
 * What the scrape-time gauges read: the outbox's unpublished events (the partial index over
 * `published_at IS NULL` keeps this a short scan) and pg-boss's unfinished webhook jobs
 * (its index over states before `active`).
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
      const [row] = await prisma.$queryRaw<{ due: number; scheduled: number; active: number }[]>`
        SELECT count(*) FILTER (WHERE state < 'active' AND start_after <= now())::int AS due,
               count(*) FILTER (WHERE state < 'active' AND start_after > now())::int AS scheduled,
               count(*) FILTER (WHERE state = 'active')::int AS active
          FROM pgboss.job WHERE name = ${DELIVERY_QUEUE} AND state <= 'active'`;
      return { due: row?.due ?? 0, scheduled: row?.scheduled ?? 0, active: row?.active ?? 0 };
    },
  };
}

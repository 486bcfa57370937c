import PgBoss from 'pg-boss';
import type { Db } from '../../db/client.ts';
import type { QueueConnection } from '../../db/database.ts';

export const DELIVERY_QUEUE = 'webhook-delivery';
/** Attempts a worker fetches at once. */
const BATCH_SIZE = 5;
/**
 * One attempt: `attempt` is its number (a job that runs twice claims it once); `lane` is the
 * endpoint and conversation, whose attempts a worker runs one after another in `seq` order;
 * `waits` counts how often it already waited for an earlier delivery of its lane.
 */
export type DeliveryJob = { deliveryId: string; lane: string; attempt: number; seq: number | null; waits?: number };
export const laneOf = (delivery: { endpointId: string; conversationId: string | null }) => `${delivery.endpointId}:${delivery.conversationId ?? ''}`;
/** The job for attempt `attempt` of a delivery. */
export const jobFor = (delivery: { id: string; endpointId: string; conversationId: string | null; seq: number | null }, attempt: number, waits = 0): DeliveryJob => ({
  deliveryId: delivery.id,
  lane: laneOf(delivery),
  attempt,
  seq: delivery.seq,
  ...(waits > 0 ? { waits } : {}),
});


/**
 * Webhook attempts as pg-boss jobs, on the store itself (its own `pgboss` schema, created and
 * migrated by pg-boss on start; on PGlite through its `db` adapter). Each job is one attempt:
 * the retry schedule is Parley's (WEBHOOK_RETRY_SCHEDULE, Retry-After), so a failed attempt
 * schedules the next as a new job; pg-boss's own retry only brings back jobs whose worker died.
 */
export async function createWebhookQueue({
  connection,
  attemptTimeoutMs,
  onError,
}: {
  connection: QueueConnection;
  /** WEBHOOK_TIMEOUT_MS: a job active for longer than a whole batch of attempts is a dead worker's, and runs again. */
  attemptTimeoutMs: number;
  onError: (err: unknown) => void;
}) {
  // A worker that died mid-attempt (kill -9) holds its job until it expires; pg-boss's
  // maintenance then hands it to another worker. A batch may run all its attempts one after
  // another (one lane), so the bound is a whole batch's worth, and maintenance looks that often.
  const expireInSeconds = Math.max(5, Math.ceil((attemptTimeoutMs * (BATCH_SIZE + 1)) / 1000));
  const boss = new PgBoss({
    ...('connectionString' in connection ? { connectionString: connection.connectionString, max: 2 } : { db: connection.db as PgBoss.Db }),
    schema: 'pgboss',
    // Only workers expire stale jobs and archive old ones; no cron schedules are used.
    supervise: true,
    schedule: false,
    maintenanceIntervalSeconds: Math.min(30, expireInSeconds),
  });
  boss.on('error', onError);
  await boss.start();
  await createQueueOnce(boss, { name: DELIVERY_QUEUE, policy: 'standard', retryLimit: 3, retryDelay: 5, retryBackoff: true, expireInSeconds, retentionDays: 1 });
  const workers: string[] = [];

  /** pg-boss's statements inside a Prisma transaction: the jobs commit (or not) with it. */
  const inTransaction = (db: Db): PgBoss.Db => ({
    executeSql: async (text, values) => ({ rows: (await db.$queryRawUnsafe(text, ...values)) as unknown[] }),
  });

  return {
    /** Queues one attempt per delivery, in the caller's transaction when `db` is one. */
    async enqueue(db: Db | null, attempts: readonly DeliveryJob[], startAfter?: Date) {
      if (attempts.length === 0) return;
      // The expiry goes with each job: the queue's is fixed when it is first created.
      const jobs = attempts.map((data) => ({ name: DELIVERY_QUEUE, data, expireInSeconds, ...(startAfter ? { startAfter: startAfter.toISOString() } : {}) }));
      await boss.insert(jobs, db ? { db: inTransaction(db) } : {});
    },

    /** Runs `handler` on batches of due attempts, `concurrency` batches at a time. */
    async work(handler: (jobs: DeliveryJob[]) => Promise<void>, { concurrency = 2, pollingIntervalSeconds = 0.5 } = {}) {
      for (let i = 0; i < concurrency; i++) {
        workers.push(await boss.work<DeliveryJob>(DELIVERY_QUEUE, { batchSize: BATCH_SIZE, pollingIntervalSeconds }, (jobs) => handler(jobs.map((job) => job.data))));
      }
    },

    /** Wakes this process's workers now (a commit just queued attempts) instead of at their next poll. */
    notify() {
      for (const id of workers) boss.notifyWorker(id);
    },

    /** A job active for longer than this is a dead worker's (claims older than it are stale). */
    expireInSeconds,

    /** Stops fetching, lets the attempts under way finish (up to `timeoutMs`), and closes. */
    async stop(timeoutMs = 15_000) {
      await boss.stop({ graceful: true, wait: true, timeout: timeoutMs });
    },
  };
}
export type WebhookQueue = Awaited<ReturnType<typeof createWebhookQueue>>;

/**
 * Creates the queue unless it exists. Processes starting together on an empty database may
 * deadlock in pg-boss's create_queue (it creates a partition): the loser finds the queue made
 * by the winner, or tries again.
 */
async function createQueueOnce(boss: PgBoss, queue: PgBoss.Queue) {
  for (let tries = 1; ; tries++) {
    if (await boss.getQueue(queue.name)) return;
    try {
      return await boss.createQueue(queue.name, queue);
    } catch (err) {
      if (tries >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 200 * tries));
    }
  }
}

import type { Db } from '../../db/client.ts';
import { traceWebhookAttempt } from '../../observability/delivery-tracing.ts';
import type { Metrics } from '../../observability/metrics.ts';
import type { WebhookSender } from './http-sender.ts';
import { createWebhookStore, type DeliveryRow, type EndpointRow, type WebhookStore } from './webhook.store.ts';
import { ENDPOINT_DISABLED, queueDeliveries } from './webhook-outbox.ts';
import { jobFor, type DeliveryJob, type WebhookQueue } from './webhook-queue.ts';
import { secretsInForce, signedHeaders } from './webhook-signing.ts';

/** How soon a delivery waiting for an earlier one of its lane looks again, doubling up to a cap. */
const ORDER_RECHECK_MS = 100;
const ORDER_RECHECK_MAX_MS = 5_000;

/** ±20 %: receivers that failed together are not all retried in the same second. */
const JITTER = 0.2;

/** Seconds before attempt `next` (2, 3, …): the schedule's, with jitter, or what Retry-After asked. */
export function retryDelaySeconds(schedule: readonly number[], next: number, retryAfterSeconds: number | null, random = Math.random) {
  if (retryAfterSeconds !== null) return retryAfterSeconds;
  const base = schedule[next - 2] ?? schedule.at(-1) ?? 0;
  return base * (1 - JITTER + 2 * JITTER * random());
}

/**
 * Runs webhook attempts: one POST per job, signed per Standard Webhooks (`webhook-id` is the
 * delivery's id on every attempt), every attempt logged. A 2xx delivers; 410 disables the
 * endpoint; anything else is retried on WEBHOOK_RETRY_SCHEDULE (or after Retry-After) until
 * the round is spent, and the delivery is then a dead letter until replayed.
 *
 * Jobs run at least once: each claims its attempt number first (see WebhookStore.claimAttempt),
 * so a job that comes back is a no-op unless its first run died; and `sweep` queues again the
 * deliveries whose job was lost. Nothing is ever left PENDING without a way forward.
 */
export function createWebhookDispatcher(deps: {
  store: WebhookStore;
  /** Runs `fn` in one transaction with a store bound to it. */
  transact: <T>(fn: (db: Db) => Promise<T>) => Promise<T>;
  queue: Pick<WebhookQueue, 'enqueue' | 'notify' | 'expireInSeconds'>;
  sender: WebhookSender;
  secretKey: string;
  retrySchedule: readonly number[];
  /** WEBHOOK_DISABLE_AFTER_SECONDS: failing for this long, an endpoint is disabled when one of its deliveries dies. */
  disableAfterSeconds: number;
  onError: (err: unknown) => void;
  /** Attempts by outcome, retries, dead letters (observability/metrics.ts). */
  metrics?: Pick<Metrics, 'webhookAttempt' | 'webhookInFlight' | 'webhookRetry' | 'deadLetter'>;
}) {
  const { store, transact, queue, sender, secretKey, retrySchedule, disableAfterSeconds, metrics } = deps;
  /** A claim older than a job's expiry is a dead worker's. */
  const staleBefore = () => new Date(Date.now() - queue.expireInSeconds * 1000);
  let stopping = false;

  /**
   * A delivery died: if its endpoint has not succeeded for disableAfterSeconds, it is disabled,
   * and the app is told on its other endpoints (`webhook.endpoint.disabled`), as well as in
   * the endpoint's status and disabledReason.
   */
  async function disableIfFailingLong(delivery: DeliveryRow & { endpoint: EndpointRow }) {
    const { endpoint } = delivery;
    const before = new Date(Date.now() - disableAfterSeconds * 1000);
    const since = endpoint.failingSince ?? new Date();
    const reason = `Failing since ${since.toISOString()}: disabled after ${disableAfterSeconds} seconds without a successful delivery`;
    await transact(async (db) => {
      if (!(await createWebhookStore(db).disableIfFailingSince(delivery.appId, endpoint.id, before, reason))) return;
      const type = ENDPOINT_DISABLED;
      const data = { appId: delivery.appId, endpointId: endpoint.id, url: endpoint.url, reason, failingSince: since.toISOString() };
      await queueDeliveries(db, queue, { appId: delivery.appId, type, body: { type, timestamp: new Date().toISOString(), data }, conversationId: null, seq: null });
    });
  }

  async function attempt(job: DeliveryJob) {
    if (stopping) return; // its job comes back (pg-boss), or the sweep finds the delivery
    const delivery = await store.deliveryForAttempt(job.deliveryId);
    if (!delivery || delivery.status !== 'PENDING') return; // done already: jobs run at least once
    const { endpoint } = delivery;
    if (endpoint.status !== 'ENABLED') {
      await store.finishDelivery(delivery.id, { status: 'FAILED', failedAt: new Date(), claimedAt: null, lastError: 'endpoint disabled' });
      metrics?.deadLetter('endpoint_disabled');
      return;
    }
    // Order across workers: while an earlier event of this lane is queued or being attempted
    // elsewhere, this one waits (backing off); one waiting for a retry does not hold it up.
    if (await store.earlierInFlight(delivery, staleBefore())) {
      const waits = (job.waits ?? 0) + 1;
      const delay = Math.min(ORDER_RECHECK_MAX_MS, ORDER_RECHECK_MS * 2 ** Math.min(waits, 10));
      await queue.enqueue(null, [{ ...job, waits }], new Date(Date.now() + delay));
      return;
    }
    if (!(await store.claimAttempt(delivery.id, job.attempt, staleBefore()))) return;
    const at = new Date();
    const body = JSON.stringify(delivery.payload);
    const headers = signedHeaders(secretsInForce(endpoint, secretKey, at), delivery.id, at, body);
    // Tracing on: a span per attempt, in the trace of the transaction that recorded the event
    // (its traceparent goes to the receiver only with WEBHOOK_TRACEPARENT).
    const settled = metrics?.webhookInFlight();
    const result = await traceWebhookAttempt(delivery, endpoint.url, job.attempt, (traceparent) =>
      sender.send({ url: endpoint.url, headers: traceparent ? { ...headers, traceparent } : headers, body }),
    ).finally(settled);
    // Cut short by our own shutdown: not the receiver's failure. The claim goes stale and the
    // attempt runs again elsewhere.
    if (stopping && result.status === null) return;
    await store.recordAttempt({
      deliveryId: delivery.id,
      attempt: job.attempt,
      status: result.status,
      error: result.error,
      responseSnippet: result.responseSnippet.slice(0, 1024),
      durationMs: Math.round(result.durationMs),
    });
    metrics?.webhookAttempt(result.ok ? 'delivered' : 'failed');
    await settle(delivery, job.attempt, result);
    // Its turn is over: the next event of the lane, which may be waiting (backing off) for
    // this one, is queued to run now (a second job for it claims once).
    const next = await store.nextInLane(delivery);
    if (next) {
      await queue.enqueue(null, [jobFor(next, next.attempts + 1)]);
      queue.notify();
    }
  }

  async function settle(delivery: DeliveryRow & { endpoint: EndpointRow }, number: number, result: Awaited<ReturnType<WebhookSender['send']>>) {
    const last = { lastStatus: result.status, lastError: result.error ?? (result.ok ? null : `HTTP ${result.status}`), claimedAt: null };
    if (result.ok) {
      await store.finishDelivery(delivery.id, { status: 'SUCCEEDED', deliveredAt: new Date(), ...last });
      // Always (a conditional write): another worker may have marked it failing since it was read.
      await store.markHealthy(delivery.appId, delivery.endpointId);
      return;
    }
    // Already failing when read: the first failure is kept anyway, so there is nothing to write.
    if (!delivery.endpoint.failingSince) await store.markFailing(delivery.appId, delivery.endpointId, new Date());
    if (result.status === 410) {
      // Gone: the receiver asks never to be called again.
      await store.updateEndpoint(delivery.appId, delivery.endpointId, { status: 'DISABLED', disabledReason: 'The receiver answered 410 Gone' });
      await store.finishDelivery(delivery.id, { status: 'FAILED', failedAt: new Date(), ...last });
      metrics?.deadLetter('gone');
      return;
    }
    const inRound = number - delivery.roundStart;
    if (inRound > retrySchedule.length) {
      await store.finishDelivery(delivery.id, { status: 'FAILED', failedAt: new Date(), ...last });
      metrics?.deadLetter('exhausted');
      await disableIfFailingLong(delivery);
      return;
    }
    const nextAttemptAt = new Date(Date.now() + retryDelaySeconds(retrySchedule, inRound + 1, result.retryAfterSeconds) * 1000);
    // The retry's job is queued with the delivery's new state, in one transaction: a crash in
    // between cannot leave the delivery waiting for a job that does not exist.
    await transact(async (db) => {
      await createWebhookStore(db).finishDelivery(delivery.id, { nextAttemptAt, ...last });
      await queue.enqueue(db, [jobFor(delivery, number + 1)], nextAttemptAt);
    });
    metrics?.webhookRetry();
  }

  return {
    close: () => sender.close(),
    /** No new attempt starts from now on (shutdown); those under way finish. */
    stop() {
      stopping = true;
    },

    /**
     * A batch of due attempts: those of one endpoint and conversation one after another, in
     * seq order (so a healthy receiver sees a conversation's events in order), the others side
     * by side. A lane goes on past a failed attempt; the batch then fails, so that pg-boss runs
     * its jobs again (those that settled are no-ops).
     */
    async run(jobs: DeliveryJob[]) {
      const lanes = new Map<string, DeliveryJob[]>();
      for (const job of jobs) lanes.set(job.lane, [...(lanes.get(job.lane) ?? []), job]);
      const failures: unknown[] = [];
      await Promise.all(
        [...lanes.values()].map(async (lane) => {
          lane.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0) || (a.deliveryId < b.deliveryId ? -1 : 1));
          for (const job of lane) {
            await attempt(job).catch((err: unknown) => {
              deps.onError(err);
              failures.push(err);
            });
          }
        }),
      );
      if (failures.length > 0) throw new AggregateError(failures, `${failures.length} webhook attempt(s) failed`);
    },

    /**
     * Queues again the deliveries whose job was lost (an error between claim and settle, a
     * job pg-boss gave up on): PENDING, due or claimed longer ago than `graceSeconds`. A job
     * queued twice claims once. Returns how many it queued.
     */
    async sweep(graceSeconds: number) {
      const stuck = await store.stuck(new Date(Date.now() - graceSeconds * 1000));
      await queue.enqueue(null, stuck.map((row) => jobFor(row, row.claimedAt ? row.attempts : row.attempts + 1)));
      return stuck.length;
    },
  };
}
export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>;

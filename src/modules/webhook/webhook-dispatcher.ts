import { Webhook } from 'standardwebhooks';
import { decrypt } from '../../auth/secrets.ts';
import { newId } from '../../lib/ids.ts';
import type { WebhookSender } from './http-sender.ts';
import type { DeliveryRow, EndpointRow, WebhookStore } from './webhook.store.ts';
import { laneOf, type DeliveryJob, type WebhookQueue } from './webhook-queue.ts';

/** The event the app gets on its other endpoints when one is disabled for failing too long. */
export const ENDPOINT_DISABLED = 'webhook.endpoint.disabled';

/** How long a delivery waits for an earlier one of its lane, at most; and how often it looks again. */
const ORDER_WAIT_MS = 5 * 60_000;
const ORDER_RECHECK_MS = 200;

/** ±20 %: receivers that failed together are not all retried in the same second. */
const JITTER = 0.2;

/**
 * Signs with every secret in force, space-separated (Standard Webhooks: a receiver that knows
 * either accepts), so a secret rotation never fails a delivery.
 */
export function signatureHeader(secrets: readonly string[], id: string, at: Date, body: string) {
  return secrets.map((secret) => new Webhook(secret).sign(id, at, body)).join(' ');
}

/** The secrets that sign now: the current one, and the one before it during its overlap. */
export function secretsInForce(endpoint: Pick<EndpointRow, 'secret' | 'previousSecret' | 'previousSecretExpiresAt'>, secretKey: string, now: Date) {
  const secrets = [decrypt(endpoint.secret, secretKey)];
  if (endpoint.previousSecret && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > now) {
    secrets.push(decrypt(endpoint.previousSecret, secretKey));
  }
  return secrets;
}

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
 * the schedule is spent, and the delivery is then a dead letter until replayed.
 */
export function createWebhookDispatcher(deps: {
  store: WebhookStore;
  queue: Pick<WebhookQueue, 'enqueue'>;
  sender: WebhookSender;
  secretKey: string;
  retrySchedule: readonly number[];
  /** WEBHOOK_DISABLE_AFTER_SECONDS: failing for this long, an endpoint is disabled when one of its deliveries dies. */
  disableAfterSeconds: number;
  onError: (err: unknown) => void;
}) {
  const { store, queue, sender, secretKey, retrySchedule, disableAfterSeconds } = deps;

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
    if (!(await store.disableIfFailingSince(delivery.appId, endpoint.id, before, reason))) return;
    const type = ENDPOINT_DISABLED;
    const others = await store.endpointsFor(delivery.appId, type);
    const payload = {
      type,
      timestamp: new Date().toISOString(),
      data: { appId: delivery.appId, endpointId: endpoint.id, url: endpoint.url, reason, failingSince: since.toISOString() },
    };
    const rows = others.map((other) => ({ id: newId.webhookDelivery(), endpointId: other.id, appId: delivery.appId, eventType: type, conversationId: null, seq: null, payload }));
    await store.insertDeliveries(rows);
    await queue.enqueue(null, rows.map((row) => ({ deliveryId: row.id, lane: laneOf(row) })));
  }

  async function attempt(deliveryId: string) {
    const delivery = await store.deliveryForAttempt(deliveryId);
    if (!delivery || delivery.status !== 'PENDING') return; // done already: jobs run at least once
    const { endpoint } = delivery;
    if (endpoint.status !== 'ENABLED') {
      await store.finishDelivery(delivery.id, { status: 'FAILED', failedAt: new Date(), lastError: 'endpoint disabled' });
      return;
    }
    // Order across workers: while an earlier event of this lane is queued or being attempted
    // elsewhere, this one waits a moment (an earlier one waiting for a retry does not hold it
    // up, nor one stuck for longer than ORDER_WAIT_MS).
    if (await store.earlierInFlight(delivery, new Date(Date.now() - ORDER_WAIT_MS))) {
      await queue.enqueue(null, [{ deliveryId: delivery.id, lane: laneOf(delivery) }], new Date(Date.now() + ORDER_RECHECK_MS));
      return;
    }
    if (!(await store.claimAttempt(delivery.id, delivery.attempts))) return;
    const number = delivery.attempts + 1;
    const at = new Date();
    const body = JSON.stringify(delivery.payload);
    const result = await sender.send({
      url: endpoint.url,
      headers: {
        'content-type': 'application/json',
        'webhook-id': delivery.id,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signatureHeader(secretsInForce(endpoint, secretKey, at), delivery.id, at, body),
      },
      body,
    });
    await store.recordAttempt({
      deliveryId: delivery.id,
      attempt: number,
      status: result.status,
      error: result.error,
      responseSnippet: result.responseSnippet.slice(0, 1024),
      durationMs: Math.round(result.durationMs),
    });
    await settle(delivery, number, result);
  }

  async function settle(delivery: DeliveryRow & { endpoint: EndpointRow }, number: number, result: Awaited<ReturnType<WebhookSender['send']>>) {
    const last = { lastStatus: result.status, lastError: result.error ?? (result.ok ? null : `HTTP ${result.status}`) };
    if (result.ok) {
      await store.finishDelivery(delivery.id, { status: 'SUCCEEDED', deliveredAt: new Date(), ...last });
      await store.markHealthy(delivery.appId, delivery.endpointId);
      return;
    }
    await store.markFailing(delivery.appId, delivery.endpointId, new Date());
    if (result.status === 410) {
      // Gone: the receiver asks never to be called again.
      await store.updateEndpoint(delivery.appId, delivery.endpointId, { status: 'DISABLED', disabledReason: 'The receiver answered 410 Gone' });
      await store.finishDelivery(delivery.id, { status: 'FAILED', failedAt: new Date(), ...last });
      return;
    }
    const inRound = number - delivery.roundStart;
    if (inRound > retrySchedule.length) {
      await store.finishDelivery(delivery.id, { status: 'FAILED', failedAt: new Date(), ...last });
      await disableIfFailingLong(delivery);
      return;
    }
    const nextAttemptAt = new Date(Date.now() + retryDelaySeconds(retrySchedule, inRound + 1, result.retryAfterSeconds) * 1000);
    await store.finishDelivery(delivery.id, { nextAttemptAt, ...last });
    await queue.enqueue(null, [{ deliveryId: delivery.id, lane: laneOf(delivery) }], nextAttemptAt);
  }

  return {
    attempt,
    close: () => sender.close(),
    /**
     * A batch of due attempts: those of one endpoint and conversation one after another, in the
     * order they were queued (so a healthy receiver sees a conversation's events in order), the
     * others side by side. One failure never fails the batch: each attempt settles itself.
     */
    async run(jobs: DeliveryJob[]) {
      const lanes = new Map<string, string[]>();
      for (const { deliveryId, lane } of jobs) {
        const ids = lanes.get(lane) ?? [];
        ids.push(deliveryId);
        lanes.set(lane, ids);
      }
      await Promise.all(
        [...lanes.values()].map(async (ids) => {
          // Delivery ids are ULIDs: sorted, they are in the order their events committed.
          for (const id of ids.sort()) await attempt(id).catch(deps.onError);
        }),
      );
    },
  };
}
export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>;

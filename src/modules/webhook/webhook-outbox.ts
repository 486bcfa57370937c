import type { Db } from '../../db/client.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
import { newId } from '../../lib/ids.ts';
import { createWebhookStore } from './webhook.store.ts';
import { jobFor, type WebhookQueue } from './webhook-queue.ts';

/** The event the app gets on its other endpoints when one is disabled for failing too long. */
export const ENDPOINT_DISABLED = 'webhook.endpoint.disabled';

/** The body every endpoint receives (Standard Webhooks' recommended shape): the event as JSON. */
export function webhookBody(event: Pick<Prisma.ConversationEventModel, 'appId' | 'conversationId' | 'seq' | 'type' | 'payload' | 'createdAt'>) {
  return {
    type: event.type,
    timestamp: event.createdAt.toISOString(),
    data: { appId: event.appId, conversationId: event.conversationId, seq: event.seq, ...(event.payload as object) },
  };
}

export type WebhookEvent = { appId: string; type: string; body: object; conversationId: string | null; seq: number | null };

/**
 * A delivery row for each of the app's enabled endpoints that want `event.type`, and their
 * first attempts queued, through `db` (a transaction: they commit with what the caller writes
 * there). Returns how many it queued.
 */
export async function queueDeliveries(db: Db, queue: Pick<WebhookQueue, 'enqueue'>, event: WebhookEvent): Promise<number> {
  const store = createWebhookStore(db);
  const endpoints = await store.endpointsFor(event.appId, event.type);
  if (endpoints.length === 0) return 0;
  const rows = endpoints.map((endpoint) => ({
    id: newId.webhookDelivery(),
    endpointId: endpoint.id,
    appId: event.appId,
    eventType: event.type,
    conversationId: event.conversationId,
    seq: event.seq,
    payload: event.body,
  }));
  await store.insertDeliveries(rows);
  await queue.enqueue(db, rows.map((row) => jobFor(row, 1)));
  return rows.length;
}

/**
 * The webhook side of the outbox: in the transaction that records a conversation event, its
 * deliveries, so that the event and its deliveries commit, or roll back, together (contract
 * guarantee 4).
 */
export function createWebhookOutbox({ queue }: { queue: Pick<WebhookQueue, 'enqueue'> }) {
  return {
    record: (db: Db, event: Prisma.ConversationEventModel): Promise<number> =>
      queueDeliveries(db, queue, { appId: event.appId, type: event.type, body: webhookBody(event), conversationId: event.conversationId, seq: event.seq }),
  };
}
export type WebhookOutbox = ReturnType<typeof createWebhookOutbox>;

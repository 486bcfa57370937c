import type { Db } from '../../db/client.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
import { newId } from '../../lib/ids.ts';
import { createWebhookStore } from './webhook.store.ts';
import { jobFor, type WebhookQueue } from './webhook-queue.ts';

/** The body every endpoint receives (Standard Webhooks' recommended shape): the event as JSON. */
export function webhookBody(event: Pick<Prisma.ConversationEventModel, 'appId' | 'conversationId' | 'seq' | 'type' | 'payload' | 'createdAt'>) {
  return {
    type: event.type,
    timestamp: event.createdAt.toISOString(),
    data: { appId: event.appId, conversationId: event.conversationId, seq: event.seq, ...(event.payload as object) },
  };
}

/**
 * The webhook side of the outbox: in the transaction that records an event, a delivery row for
 * each of the app's enabled endpoints that want its type, and their first attempts queued, so
 * that the event and its deliveries commit, or roll back, together (contract guarantee 4).
 */
export function createWebhookOutbox({ queue }: { queue: Pick<WebhookQueue, 'enqueue'> }) {
  return {
    /** Returns how many deliveries it queued. */
    async record(db: Db, event: Prisma.ConversationEventModel): Promise<number> {
      const store = createWebhookStore(db);
      const endpoints = await store.endpointsFor(event.appId, event.type);
      if (endpoints.length === 0) return 0;
      const payload = webhookBody(event);
      const rows = endpoints.map((endpoint) => ({
        id: newId.webhookDelivery(),
        endpointId: endpoint.id,
        appId: event.appId,
        eventType: event.type,
        conversationId: event.conversationId,
        seq: event.seq,
        payload,
      }));
      await store.insertDeliveries(rows);
      await queue.enqueue(db, rows.map((row) => jobFor(row, 1)));
      return rows.length;
    },
  };
}
export type WebhookOutbox = ReturnType<typeof createWebhookOutbox>;

import { encrypt } from '../../auth/secrets.ts';
import { EventType } from '../../events/event-types.ts';
import { badInput, notFound, overLimit } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import type { PageArgs, TimeCursor } from '../../lib/scope.ts';
import { checkEndpointUrl } from './target-policy.ts';
import { newWebhookSecret } from './webhook-signing.ts';
import { ENDPOINT_DISABLED } from './webhook-outbox.ts';
import type { Db } from '../../db/client.ts';
import { createWebhookStore, type EndpointRow, type WebhookStore } from './webhook.store.ts';
import { jobFor, type WebhookQueue } from './webhook-queue.ts';

/** What an endpoint may subscribe to: the persisted events (typing and read receipts are live only), or "*". */
export const WEBHOOK_EVENT_TYPES: readonly string[] = [...Object.values(EventType), ENDPOINT_DISABLED, '*'];
/** How long the secret before a rotation keeps signing (Standard Webhooks: both sign meanwhile). */
export const SECRET_OVERLAP_MS = 24 * 60 * 60 * 1000;
/** Endpoints an app may have. */
export const MAX_ENDPOINTS_PER_APP = 20;


export type EndpointInput = { url?: string | null; events?: string[] | null; description?: string | null; status?: 'ENABLED' | 'DISABLED' | null };

/** Endpoints of one app, their deliveries and dead letters. `appId` always comes from the caller's scope. */
export function createWebhookService(deps: {
  store: WebhookStore;
  transact: <T>(fn: (db: Db) => Promise<T>) => Promise<T>;
  queue: Pick<WebhookQueue, 'enqueue' | 'notify'>;
  secretKey: string;
  allowPrivateTargets: boolean;
}) {
  const { store, transact, queue, secretKey, allowPrivateTargets } = deps;

  function checkUrl(url: string) {
    const checked = checkEndpointUrl(url, { allowPrivate: allowPrivateTargets });
    if (!checked.ok) throw badInput([{ path: 'input.url', message: checked.reason }]);
    return checked.url.toString();
  }
  function checkEvents(events: string[]) {
    const unknown = events.filter((type) => !WEBHOOK_EVENT_TYPES.includes(type));
    if (events.length === 0 || unknown.length > 0) {
      throw badInput([{ path: 'input.events', message: `One or more of: ${WEBHOOK_EVENT_TYPES.join(', ')}` }]);
    }
    return [...new Set(events)];
  }
  async function endpointOf(appId: string, id: string) {
    return (await store.endpoint(appId, id)) ?? Promise.reject(notFound('Webhook endpoint'));
  }
  /**
   * Dead letters back to pending, each with a fresh round of attempts (same `webhook-id`:
   * receivers de-duplicate), their jobs queued in the same transaction.
   */
  async function replay(appId: string, ids: readonly string[]) {
    const revived = await transact(async (db) => {
      const rows = await createWebhookStore(db).revive(appId, ids);
      await queue.enqueue(db, rows.map((row) => jobFor(row, row.attempts + 1)));
      return rows;
    });
    queue.notify();
    return revived.map((row) => row.id);
  }

  return {
    async create(appId: string, input: { url: string; events?: string[] | null; description?: string | null }) {
      // Every event writes a delivery per endpoint inside its transaction: the count is bounded.
      if ((await store.endpoints(appId)).length >= MAX_ENDPOINTS_PER_APP) throw overLimit('maxWebhookEndpoints', MAX_ENDPOINTS_PER_APP);
      const secret = newWebhookSecret();
      const endpoint = await store.insertEndpoint({
        id: newId.webhookEndpoint(),
        appId,
        url: checkUrl(input.url),
        events: checkEvents(input.events ?? ['*']),
        description: input.description ?? null,
        secret: encrypt(secret, secretKey),
      });
      return { endpoint, secret };
    },

    async update(appId: string, id: string, input: EndpointInput): Promise<EndpointRow> {
      await endpointOf(appId, id);
      const updated = await store.updateEndpoint(appId, id, {
        ...(input.url ? { url: checkUrl(input.url) } : {}),
        ...(input.events ? { events: checkEvents(input.events) } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.status ? { status: input.status, disabledReason: input.status === 'DISABLED' ? 'Disabled by the app' : null } : {}),
      });
      return updated ?? Promise.reject(notFound('Webhook endpoint'));
    },

    async remove(appId: string, id: string) {
      if (!(await store.deleteEndpoint(appId, id))) throw notFound('Webhook endpoint');
      return true;
    },

    /** A new secret signs from now on; the old one signs too for SECRET_OVERLAP_MS. */
    async rotateSecret(appId: string, id: string) {
      const endpoint = await endpointOf(appId, id);
      const secret = newWebhookSecret();
      const updated = await store.updateEndpoint(appId, id, {
        secret: encrypt(secret, secretKey),
        previousSecret: endpoint.secret,
        previousSecretExpiresAt: new Date(Date.now() + SECRET_OVERLAP_MS),
      });
      if (!updated) throw notFound('Webhook endpoint');
      return { endpoint: updated, secret };
    },

    endpoints: (appId: string) => store.endpoints(appId),
    endpoint: endpointOf,
    /** The endpoint's app, for the operator (who names endpoints across apps). */
    appOfEndpoint: async (id: string) => (await store.endpointAnyApp(id))?.appId ?? null,
    appOfDelivery: async (id: string) => (await store.deliveryAnyApp(id))?.appId ?? null,

    async deliveries(appId: string, endpointId: string, page: PageArgs<TimeCursor>) {
      await endpointOf(appId, endpointId);
      return store.deliveriesPage(appId, endpointId, page);
    },
    deadLetters: (appId: string, page: PageArgs<TimeCursor>) => store.deadLettersPage(appId, page),
    attempts: (deliveryIds: readonly string[]) => store.attempts(deliveryIds),

    async replayDeadLetter(appId: string, id: string) {
      const delivery = await store.delivery(appId, id);
      if (!delivery) throw notFound('Webhook delivery');
      if (delivery.status !== 'FAILED') throw badInput([{ path: 'id', message: 'Only a dead letter (a FAILED delivery) can be replayed' }]);
      await replay(appId, [id]);
      return (await store.delivery(appId, id))!;
    },

    async replayDeadLetters(appId: string, endpointId: string) {
      await endpointOf(appId, endpointId);
      return (await replay(appId, await store.failedIds(appId, endpointId))).length;
    },
  };
}
export type WebhookService = ReturnType<typeof createWebhookService>;

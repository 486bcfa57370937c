import type { Db } from '../../db/client.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
import type { PageArgs, TimeCursor } from '../../lib/scope.ts';

export type EndpointRow = Prisma.WebhookEndpointGetPayload<object>;
export type DeliveryRow = Prisma.WebhookDeliveryGetPayload<object>;
export type AttemptRow = Prisma.WebhookAttemptGetPayload<object>;
export type DeliveryStatus = DeliveryRow['status'];

/** A (createdAt, id) keyset page of rows matching `where`. */
const keyset = ({ after, before, inverted }: PageArgs<TimeCursor>) => ({
  AND: [
    after ? { OR: [{ createdAt: { gt: new Date(after.t) } }, { createdAt: new Date(after.t), id: { gt: after.id } }] } : {},
    before ? { OR: [{ createdAt: { lt: new Date(before.t) } }, { createdAt: new Date(before.t), id: { lt: before.id } }] } : {},
  ],
  orderBy: inverted ? [{ createdAt: 'desc' as const }, { id: 'desc' as const }] : [{ createdAt: 'asc' as const }, { id: 'asc' as const }],
});

/** Endpoints, deliveries and attempts. Every function is scoped by the app it serves. */
export function createWebhookStore(db: Db) {
  return {
    insertEndpoint: (data: Pick<EndpointRow, 'id' | 'appId' | 'url' | 'events' | 'description' | 'secret'>) => db.webhookEndpoint.create({ data }),
    endpoint: (appId: string, id: string) => db.webhookEndpoint.findFirst({ where: { id, appId } }),
    /** For the operator, who names an endpoint without knowing its app. */
    endpointAnyApp: (id: string) => db.webhookEndpoint.findUnique({ where: { id } }),
    endpoints: (appId: string) => db.webhookEndpoint.findMany({ where: { appId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] }),
    updateEndpoint: async (appId: string, id: string, data: Prisma.WebhookEndpointUpdateManyMutationInput) => {
      const { count } = await db.webhookEndpoint.updateMany({ where: { id, appId }, data });
      return count === 0 ? null : db.webhookEndpoint.findFirst({ where: { id, appId } });
    },
    deleteEndpoint: async (appId: string, id: string) => (await db.webhookEndpoint.deleteMany({ where: { id, appId } })).count > 0,

    /** An endpoint's health: the first failure since the last success is kept, a success clears it. */
    markFailing: (appId: string, id: string, at: Date) =>
      db.webhookEndpoint.updateMany({ where: { id, appId, failingSince: null }, data: { failingSince: at } }),
    markHealthy: (appId: string, id: string) =>
      db.webhookEndpoint.updateMany({ where: { id, appId, failingSince: { not: null } }, data: { failingSince: null } }),
    /** Disables the endpoint if it has been failing since `before` or earlier; true if this call did. */
    disableIfFailingSince: async (appId: string, id: string, before: Date, reason: string) =>
      (
        await db.webhookEndpoint.updateMany({
          where: { id, appId, status: 'ENABLED', failingSince: { lte: before } },
          data: { status: 'DISABLED', disabledReason: reason },
        })
      ).count === 1,

    /** The app's enabled endpoints that want `type` (the write path: one indexed query per event). */
    endpointsFor: (appId: string, type: string) =>
      db.webhookEndpoint.findMany({
        where: { appId, status: 'ENABLED', OR: [{ events: { has: type } }, { events: { has: '*' } }] },
        select: { id: true },
      }),
    insertDeliveries: (rows: Pick<DeliveryRow, 'id' | 'endpointId' | 'appId' | 'eventType' | 'conversationId' | 'seq' | 'payload'>[]) =>
      db.webhookDelivery.createMany({ data: rows as Prisma.WebhookDeliveryCreateManyInput[] }),

    /** What an attempt needs: the delivery and its endpoint. */
    deliveryForAttempt: (id: string) => db.webhookDelivery.findUnique({ where: { id }, include: { endpoint: true } }),
    delivery: (appId: string, id: string) => db.webhookDelivery.findFirst({ where: { id, appId } }),
    /** For the operator, who names a delivery without knowing its app. */
    deliveryAnyApp: (id: string) => db.webhookDelivery.findUnique({ where: { id }, select: { appId: true } }),
    /**
     * Takes attempt `attempts + 1` of a pending delivery; false when another worker took it
     * first (a job pg-boss brought back while its first run was still going) or it is done.
     */
    claimAttempt: async (id: string, attempts: number) =>
      (await db.webhookDelivery.updateMany({ where: { id, status: 'PENDING', attempts }, data: { attempts: attempts + 1, nextAttemptAt: null } })).count === 1,
    /**
     * An earlier delivery of the same lane (endpoint, conversation) that is queued or in flight
     * (PENDING, no retry scheduled), younger than `since`: the later one waits for it.
     */
    earlierInFlight: async (delivery: Pick<DeliveryRow, 'id' | 'endpointId' | 'conversationId'>, since: Date) =>
      (await db.webhookDelivery.findFirst({
        where: {
          endpointId: delivery.endpointId,
          conversationId: delivery.conversationId,
          status: 'PENDING',
          nextAttemptAt: null,
          id: { lt: delivery.id },
          createdAt: { gt: since },
        },
        select: { id: true },
      })) !== null,
    recordAttempt: (row: Omit<AttemptRow, 'at'>) => db.webhookAttempt.create({ data: row }),
    finishDelivery: (id: string, data: Prisma.WebhookDeliveryUpdateInput) => db.webhookDelivery.update({ where: { id }, data }),
    /** Dead letters back to pending, for a new round of attempts (the log keeps the old ones); the ids that were. */
    revive: async (appId: string, ids: readonly string[]) => {
      const revived = await db.webhookDelivery.findMany({ where: { appId, id: { in: [...ids] }, status: 'FAILED' }, select: { id: true, attempts: true } });
      for (const { id, attempts } of revived) {
        await db.webhookDelivery.updateMany({
          where: { appId, id, status: 'FAILED' },
          data: { status: 'PENDING', roundStart: attempts, failedAt: null, lastError: null, lastStatus: null },
        });
      }
      return revived.map((r) => r.id);
    },
    failedIds: async (appId: string, endpointId: string) =>
      (await db.webhookDelivery.findMany({ where: { appId, endpointId, status: 'FAILED' }, select: { id: true }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] })).map(
        (r) => r.id,
      ),

    deliveriesPage: (appId: string, endpointId: string, page: PageArgs<TimeCursor>) => {
      const { AND, orderBy } = keyset(page);
      return db.webhookDelivery.findMany({ where: { appId, endpointId, AND }, orderBy, take: page.limit });
    },
    deadLettersPage: (appId: string, page: PageArgs<TimeCursor>) => {
      const { AND, orderBy } = keyset(page);
      return db.webhookDelivery.findMany({ where: { appId, status: 'FAILED', AND }, orderBy, take: page.limit });
    },
    attempts: (deliveryIds: readonly string[]) =>
      db.webhookAttempt.findMany({ where: { deliveryId: { in: [...deliveryIds] } }, orderBy: [{ deliveryId: 'asc' }, { attempt: 'asc' }] }),
  };
}
export type WebhookStore = ReturnType<typeof createWebhookStore>;

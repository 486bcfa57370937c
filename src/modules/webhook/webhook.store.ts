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

    /**
     * The app's enabled endpoints that want `type` (the write path: one indexed query per
     * event), key-share locked so that one deleted meanwhile cannot fail the event's transaction.
     */
    endpointsFor: (appId: string, type: string) =>
      db.$queryRaw<{ id: string }[]>`
        SELECT id FROM webhook_endpoint
         WHERE app_id = ${appId} AND status = 'ENABLED' AND (${type} = ANY(events) OR '*' = ANY(events))
         FOR KEY SHARE`,
    insertDeliveries: (rows: Pick<DeliveryRow, 'id' | 'endpointId' | 'appId' | 'eventType' | 'conversationId' | 'seq' | 'payload'>[]) =>
      db.webhookDelivery.createMany({ data: rows as Prisma.WebhookDeliveryCreateManyInput[] }),

    /** What an attempt needs: the delivery and its endpoint. */
    deliveryForAttempt: (id: string) => db.webhookDelivery.findUnique({ where: { id }, include: { endpoint: true } }),
    delivery: (appId: string, id: string) => db.webhookDelivery.findFirst({ where: { id, appId } }),
    /** For the operator, who names a delivery without knowing its app. */
    deliveryAnyApp: (id: string) => db.webhookDelivery.findUnique({ where: { id }, select: { appId: true } }),
    /**
     * Takes attempt number `attempt` of a pending delivery: the next one, not taken yet; or the
     * same one again when its claim is older than `staleBefore` (its worker died). False for a
     * job that runs twice (pg-boss brought it back, or the sweep queued it again) while its first
     * run goes on or after it settled.
     */
    claimAttempt: async (id: string, attempt: number, staleBefore: Date) =>
      (
        await db.webhookDelivery.updateMany({
          where: {
            id,
            status: 'PENDING',
            OR: [
              { attempts: attempt - 1, claimedAt: null },
              { attempts: attempt, claimedAt: { lt: staleBefore } },
            ],
          },
          data: { attempts: attempt, claimedAt: new Date(), nextAttemptAt: null },
        })
      ).count === 1,
    /** The next delivery of a lane waiting for its turn (after `delivery`, not attempted yet, no retry scheduled). */
    nextInLane: (delivery: Pick<DeliveryRow, 'endpointId' | 'conversationId' | 'seq'>) =>
      delivery.seq === null
        ? Promise.resolve(null)
        : db.webhookDelivery.findFirst({
            where: {
              endpointId: delivery.endpointId,
              conversationId: delivery.conversationId,
              status: 'PENDING',
              seq: { gt: delivery.seq },
              nextAttemptAt: null,
              claimedAt: null,
            },
            orderBy: { seq: 'asc' },
            select: { id: true, endpointId: true, conversationId: true, seq: true, attempts: true },
          }),
    /** Deliveries whose job was lost (no claim, due long ago; or a claim long stale), for the sweep. */
    stuck: (before: Date, limit = 500) =>
      db.webhookDelivery.findMany({
        where: {
          status: 'PENDING',
          OR: [
            { claimedAt: null, nextAttemptAt: null, updatedAt: { lt: before } },
            { claimedAt: null, nextAttemptAt: { lt: before } },
            { claimedAt: { lt: before } },
          ],
        },
        select: { id: true, endpointId: true, conversationId: true, seq: true, attempts: true, claimedAt: true },
        orderBy: { updatedAt: 'asc' },
        take: limit,
      }),
    /**
     * An earlier event (by seq) of the same lane (endpoint, conversation) that is queued or in
     * flight: PENDING, no retry scheduled, and not claimed by a worker that died (claim older
     * than `staleBefore`). The later one waits for it. (A lost job is the sweep's to requeue.)
     */
    earlierInFlight: async (delivery: Pick<DeliveryRow, 'endpointId' | 'conversationId' | 'seq'>, staleBefore: Date) =>
      delivery.seq !== null &&
      (await db.webhookDelivery.findFirst({
        where: {
          endpointId: delivery.endpointId,
          conversationId: delivery.conversationId,
          status: 'PENDING',
          nextAttemptAt: null,
          seq: { lt: delivery.seq },
          OR: [{ claimedAt: null }, { claimedAt: { gte: staleBefore } }],
        },
        select: { id: true },
      })) !== null,
    /** Upserted: an attempt re-run after its worker died replaces what that worker may have logged. */
    recordAttempt: (row: Omit<AttemptRow, 'at'>) =>
      db.webhookAttempt.upsert({ where: { deliveryId_attempt: { deliveryId: row.deliveryId, attempt: row.attempt } }, create: row, update: { ...row, at: new Date() } }),
    finishDelivery: (id: string, data: Prisma.WebhookDeliveryUpdateInput) => db.webhookDelivery.update({ where: { id }, data }),
    /**
     * Dead letters back to pending, for a new round of attempts (the log keeps the old ones):
     * the rows this call revived (a concurrent replay revives each once).
     */
    revive: async (appId: string, ids: readonly string[]) => {
      const candidates = await db.webhookDelivery.findMany({ where: { appId, id: { in: [...ids] }, status: 'FAILED' } });
      const revived: DeliveryRow[] = [];
      for (const row of candidates) {
        const { count } = await db.webhookDelivery.updateMany({
          where: { appId, id: row.id, status: 'FAILED' },
          data: { status: 'PENDING', roundStart: row.attempts, claimedAt: null, nextAttemptAt: null, failedAt: null, lastError: null, lastStatus: null },
        });
        if (count === 1) revived.push(row);
      }
      return revived;
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

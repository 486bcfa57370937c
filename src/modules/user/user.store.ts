import type { PrismaClient } from '../../generated/prisma/client.ts';
import { TX_OPTIONS, type Db } from '../../db/client.ts';
import type { AppScope, PageArgs } from '../../lib/scope.ts';
import type { TenantRow } from '../tenant/tenant.store.ts';

export type UserRow = Awaited<ReturnType<PrismaClient['user']['findUniqueOrThrow']>>;

type UserData = { externalId: string; displayName?: string | null; metadata?: object };

/** Updates the user of `externalId` (an absent field is left as it is); null if there is none. */
async function updateExisting(db: Db, scope: AppScope, data: UserData) {
  const [row] = await db.$queryRaw<{ id: string }[]>`
    UPDATE app_user SET
      display_name = CASE WHEN ${data.displayName !== undefined}::boolean THEN ${data.displayName ?? null}::text ELSE display_name END,
      metadata = CASE WHEN ${data.metadata !== undefined}::boolean THEN ${JSON.stringify(data.metadata ?? {})}::jsonb ELSE metadata END
     WHERE app_id = ${scope.appId} AND external_id = ${data.externalId}
    RETURNING id`;
  return row ? db.user.findUniqueOrThrow({ where: { id: row.id } }) : null;
}

export function createUserStore(prisma: Db) {
  /** `fn` in a transaction of its own, or in the one this store is bound to. */
  const transaction = <T>(fn: (tx: Db) => Promise<T>): Promise<T> =>
    '$transaction' in prisma
      ? // Generous waits: on embedded PGlite every transaction queues on one connection.
        prisma.$transaction((tx) => fn(tx), TX_OPTIONS)
      : fn(prisma);
  return {
    /**
     * Creates or updates by `externalId`; an absent field is left as it is. An existing user is
     * updated in one statement, without a lock. A new one is created under the app's row lock,
     * and only if `admit(tenant, users the app has)` does not throw: concurrent creations in
     * one app are counted one after the other, so none overshoots a limit, and concurrent
     * upserts of one new externalId all get the one row (the later ones find it under the lock).
     */
    async upsert(
      scope: AppScope,
      id: string,
      data: UserData,
      admit: (tenant: TenantRow, userCount: number) => void,
    ): Promise<UserRow> {
      return (
        (await updateExisting(prisma, scope, data)) ??
        transaction(async (tx) => {
          // NO KEY UPDATE: the foreign-key checks of rows pointing at the app are not held up.
          await tx.$queryRaw`SELECT id FROM app WHERE id = ${scope.appId} FOR NO KEY UPDATE`;
          // Whoever created it while this waited for the lock has committed: an update now.
          const existing = await updateExisting(tx, scope, data);
          if (existing) return existing;
          admit(await tx.tenant.findUniqueOrThrow({ where: { id: scope.tenantId } }), await tx.user.count({ where: { appId: scope.appId } }));
          const [row] = await tx.$queryRaw<{ id: string }[]>`
            INSERT INTO app_user (id, app_id, external_id, display_name, metadata)
            VALUES (${id}, ${scope.appId}, ${data.externalId}, ${data.displayName ?? null}, ${JSON.stringify(data.metadata ?? {})}::jsonb)
            RETURNING id`;
          return tx.user.findUniqueOrThrow({ where: { id: row!.id } });
        })
      );
    },
    byIds: (scope: AppScope, ids: readonly string[]) =>
      prisma.user.findMany({ where: { appId: scope.appId, id: { in: [...ids] } } }),
    page: (scope: AppScope, { after, before, limit, inverted }: PageArgs<string>) =>
      prisma.user.findMany({
        where: { appId: scope.appId, id: { ...(after ? { gt: after } : {}), ...(before ? { lt: before } : {}) } },
        orderBy: { id: inverted ? 'desc' : 'asc' },
        take: limit,
      }),
  };
}
export type UserStore = ReturnType<typeof createUserStore>;

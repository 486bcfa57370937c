import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { Db } from '../../db/client.ts';
import type { AppScope, PageArgs } from '../../lib/scope.ts';

export type UserRow = Awaited<ReturnType<PrismaClient['user']['findUniqueOrThrow']>>;

export function createUserStore(prisma: Db) {
  return {
    /**
     * Creates or updates by `externalId`; an absent field is left as it is. One statement, so
     * concurrent upserts of a new externalId all get the one row: Prisma's upsert reads, then
     * inserts, when there is nothing to update, and the losers fail on the unique key.
     */
    async upsert(scope: AppScope, id: string, data: { externalId: string; displayName?: string | null; metadata?: object }) {
      const [row] = await prisma.$queryRaw<{ id: string }[]>`
        INSERT INTO app_user (id, app_id, external_id, display_name, metadata)
        VALUES (${id}, ${scope.appId}, ${data.externalId}, ${data.displayName ?? null}, ${JSON.stringify(data.metadata ?? {})}::jsonb)
        ON CONFLICT (app_id, external_id) DO UPDATE SET
          display_name = CASE WHEN ${data.displayName !== undefined}::boolean THEN EXCLUDED.display_name ELSE app_user.display_name END,
          metadata = CASE WHEN ${data.metadata !== undefined}::boolean THEN EXCLUDED.metadata ELSE app_user.metadata END
        RETURNING id`;
      return prisma.user.findUniqueOrThrow({ where: { id: row!.id } });
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

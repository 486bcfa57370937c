import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { AppScope, PageArgs } from '../../lib/scope.ts';

export type UserRow = Awaited<ReturnType<PrismaClient['user']['findUniqueOrThrow']>>;

export function createUserStore(prisma: PrismaClient) {
  return {
    /** Creates or updates by `externalId`; a concurrent upsert of the same id cannot duplicate. */
    upsert: (scope: AppScope, id: string, data: { externalId: string; displayName?: string | null; metadata?: object }) =>
      prisma.user.upsert({
        where: { appId_externalId: { appId: scope.appId, externalId: data.externalId } },
        create: { id, appId: scope.appId, externalId: data.externalId, displayName: data.displayName ?? null, metadata: data.metadata ?? {} },
        update: {
          ...(data.displayName !== undefined ? { displayName: data.displayName } : {}),
          ...(data.metadata !== undefined ? { metadata: data.metadata } : {}),
        },
      }),
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

import { TX_OPTIONS, type Db } from '../../db/client.ts';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { PageArgs, TimeCursor } from '../../lib/scope.ts';

export type TenantRow = Awaited<ReturnType<PrismaClient['tenant']['findUniqueOrThrow']>>;

/**
 * Locks the tenant's row until the transaction `tx` ends and reads it (null if there is none):
 * creations counted against the tenant's limits take it one at a time, and an updateTenant
 * (FOR UPDATE, below) waits for them. NO KEY UPDATE, so the foreign-key checks of inserts
 * that point at the tenant (FOR KEY SHARE) are not held up by it.
 */
export async function lockTenant(tx: Db, id: string) {
  const [locked] = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM tenant WHERE id = ${id} FOR NO KEY UPDATE`;
  return locked ? tx.tenant.findUnique({ where: { id } }) : null;
}

/** Tenants are the top of the hierarchy: only the operator reaches this store. */
export function createTenantStore(prisma: PrismaClient) {
  return {
    insert: (data: { id: string; name: string; plan: TenantRow['plan'] }) => prisma.tenant.create({ data }),
    byId: (id: string) => prisma.tenant.findUnique({ where: { id } }),
    /**
     * Reads the tenant, then writes what `change` makes of it, under the row lock: two updates
     * of different limits both land, neither overwriting the other's. Null if there is none.
     */
    update: (id: string, change: (tenant: TenantRow) => Partial<Pick<TenantRow, 'plan' | 'status'>> & { limits?: object }) =>
      prisma.$transaction(
        async (tx) => {
          const [locked] = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM tenant WHERE id = ${id} FOR UPDATE`;
          if (!locked) return null;
          const tenant = await tx.tenant.findUniqueOrThrow({ where: { id } });
          return tx.tenant.update({ where: { id }, data: change(tenant) });
        },
        TX_OPTIONS,
      ),
    /** Oldest first, keyed by (createdAt, id) so that equal timestamps page correctly. */
    page: ({ after, before, limit, inverted }: PageArgs<TimeCursor>) =>
      prisma.tenant.findMany({
        where: {
          AND: [
            after ? { OR: [{ createdAt: { gt: new Date(after.t) } }, { createdAt: new Date(after.t), id: { gt: after.id } }] } : {},
            before ? { OR: [{ createdAt: { lt: new Date(before.t) } }, { createdAt: new Date(before.t), id: { lt: before.id } }] } : {},
          ],
        },
        orderBy: inverted ? [{ createdAt: 'desc' }, { id: 'desc' }] : [{ createdAt: 'asc' }, { id: 'asc' }],
        take: limit,
      }),
  };
}
export type TenantStore = ReturnType<typeof createTenantStore>;

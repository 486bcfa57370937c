import type { PrismaClient } from '../../generated/prisma/client.ts';
import { TX_OPTIONS } from '../../db/client.ts';
import { lockTenant, type TenantRow } from '../tenant/tenant.store.ts';

export function createAppStore(prisma: PrismaClient) {
  return {
    /**
     * Inserts the app if `admit(tenant, apps the tenant has)` does not throw, under the tenant's
     * row lock: concurrent creations for one tenant are counted one after the other, so none
     * overshoots a limit. Null if there is no such tenant.
     */
    insertCounted: (
      data: { id: string; tenantId: string; name: string; allowedOrigins: string[] },
      admit: (tenant: TenantRow, appCount: number) => void,
    ) =>
      prisma.$transaction(
        async (tx) => {
          const tenant = await lockTenant(tx, data.tenantId);
          if (!tenant) return null;
          admit(tenant, await tx.app.count({ where: { tenantId: data.tenantId } }));
          return tx.app.create({ data });
        },
        TX_OPTIONS,
      ),
    byId: (id: string) => prisma.app.findUnique({ where: { id } }),
    byTenant: (tenantId: string) =>
      prisma.app.findMany({ where: { tenantId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] }),
  };
}
export type AppStore = ReturnType<typeof createAppStore>;

import type { PrismaClient } from '../../generated/prisma/client.ts';

export function createAppStore(prisma: PrismaClient) {
  return {
    insert: (data: { id: string; tenantId: string; name: string; allowedOrigins: string[] }) =>
      prisma.app.create({ data }),
    byId: (id: string) => prisma.app.findUnique({ where: { id } }),
    byTenant: (tenantId: string) =>
      prisma.app.findMany({ where: { tenantId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] }),
  };
}
export type AppStore = ReturnType<typeof createAppStore>;

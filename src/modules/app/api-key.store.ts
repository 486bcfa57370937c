import type { PrismaClient } from '../../generated/prisma/client.ts';

export function createApiKeyStore(prisma: PrismaClient) {
  return {
    insert: (data: { id: string; appId: string; secretHash: string }) => prisma.apiKey.create({ data }),
    /** The key with what authentication needs to know about its app and tenant, in one query. */
    forAuthentication: (id: string) =>
      prisma.apiKey.findUnique({
        where: { id },
        include: { app: { select: { id: true, tenantId: true, tenant: { select: { status: true } } } } },
      }),
    byId: (id: string) => prisma.apiKey.findUnique({ where: { id } }),
    byApp: (appId: string) => prisma.apiKey.findMany({ where: { appId }, orderBy: { createdAt: 'asc' } }),
    revoke: (id: string) =>
      prisma.apiKey.update({ where: { id }, data: { revokedAt: new Date() } }),
  };
}
export type ApiKeyStore = ReturnType<typeof createApiKeyStore>;

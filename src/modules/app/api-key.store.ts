import type { PrismaClient } from '../../generated/prisma/client.ts';

type AuthenticationRow = { id: string; appId: string; secretHash: string; createdAt: Date; revokedAt: Date | null; tenantId: string; status: string };

export function createApiKeyStore(prisma: PrismaClient) {
  return {
    insert: (data: { id: string; appId: string; secretHash: string }) => prisma.apiKey.create({ data }),
    /** The key with what authentication needs to know about its app and tenant: one statement, not Prisma's three. */
    forAuthentication: async (id: string) => {
      const [row] = await prisma.$queryRaw<AuthenticationRow[]>`
        SELECT k.id, k.app_id AS "appId", k.secret_hash AS "secretHash", k.created_at AS "createdAt", k.revoked_at AS "revokedAt",
               a.tenant_id AS "tenantId", t.status::text AS status
        FROM api_key k JOIN app a ON a.id = k.app_id JOIN tenant t ON t.id = a.tenant_id
        WHERE k.id = ${id}`;
      if (!row) return null;
      const { tenantId, status, createdAt, revokedAt, ...key } = row;
      const dates = { createdAt: new Date(createdAt), revokedAt: revokedAt === null ? null : new Date(revokedAt) };
      return { ...key, ...dates, app: { id: key.appId, tenantId, tenant: { status } } };
    },
    byId: (id: string) => prisma.apiKey.findUnique({ where: { id } }),
    byApp: (appId: string) => prisma.apiKey.findMany({ where: { appId }, orderBy: { createdAt: 'asc' } }),
    revoke: (id: string) =>
      prisma.apiKey.update({ where: { id }, data: { revokedAt: new Date() } }),
  };
}
export type ApiKeyStore = ReturnType<typeof createApiKeyStore>;

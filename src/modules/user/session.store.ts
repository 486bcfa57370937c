import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { AppScope } from '../../lib/scope.ts';

export function createSessionStore(prisma: PrismaClient) {
  return {
    insert: (scope: AppScope, data: { id: string; userId: string; expiresAt: Date }) =>
      prisma.session.create({ data: { ...data, appId: scope.appId } }),
    /** The session with its tenant's status, for authenticating a user token in one query. */
    forAuthentication: (id: string) =>
      prisma.session.findUnique({
        where: { id },
        include: { user: { select: { app: { select: { tenantId: true, tenant: { select: { status: true } } } } } } },
      }),
    revokeAllForUser: async (scope: AppScope, userId: string) =>
      (
        await prisma.session.updateMany({
          where: { appId: scope.appId, userId, revokedAt: null },
          data: { revokedAt: new Date() },
        })
      ).count,
  };
}
export type SessionStore = ReturnType<typeof createSessionStore>;

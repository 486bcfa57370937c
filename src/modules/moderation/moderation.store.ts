import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';

export type ModerationHookRow = Prisma.ModerationHookGetPayload<object>;

/** An app's moderation hook (one at most). */
export function createModerationStore(prisma: PrismaClient) {
  return {
    byApp: (appId: string) => prisma.moderationHook.findUnique({ where: { appId } }),
    upsert: (appId: string, data: Pick<ModerationHookRow, 'url' | 'secret' | 'failOpen' | 'timeoutMs'>) =>
      prisma.moderationHook.upsert({ where: { appId }, create: { appId, ...data }, update: data }),
    remove: async (appId: string) => (await prisma.moderationHook.deleteMany({ where: { appId } })).count > 0,
  };
}
export type ModerationStore = ReturnType<typeof createModerationStore>;

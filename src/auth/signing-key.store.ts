import type { PrismaClient } from '../generated/prisma/client.ts';

/** `retiredAt`: when the key stops verifying (null: not scheduled; a past date: retired). */
export type SigningKeyRow = { kid: string; alg: string; publicJwk: unknown; privateJwk: string; createdAt: Date; retiredAt: Date | null };

const inForce = (at: Date) => ({ OR: [{ retiredAt: null }, { retiredAt: { gt: at } }] });

/** Token signing keys are global (not per tenant): the JWKS serves all of them. */
export function createSigningKeyStore(prisma: PrismaClient) {
  return {
    /** Keys that still verify at `at`, oldest first (by kid: a ULID, so by creation, whatever the clocks of the nodes that wrote created_at). */
    active: (at: Date): Promise<SigningKeyRow[]> => prisma.signingKey.findMany({ where: inForce(at), orderBy: { kid: 'asc' } }),
    byKid: (kid: string, at: Date): Promise<SigningKeyRow | null> =>
      prisma.signingKey.findFirst({ where: { kid, ...inForce(at) } }),
    insert: async (row: Omit<SigningKeyRow, 'createdAt' | 'retiredAt'>): Promise<void> => {
      await prisma.signingKey.create({ data: row as never });
    },
    /**
     * Schedules every key older than `keep` to retire at `retireAt` (kids are ULIDs: they sort
     * by creation; a key a concurrent rotation just made is newer and stays). A key already
     * due to retire sooner keeps its date (rotating twice never extends an old key's life).
     */
    retireOlderThan: async (keep: string, retireAt: Date): Promise<void> => {
      await prisma.$transaction([
        prisma.signingKey.updateMany({ where: { kid: { lt: keep }, retiredAt: null }, data: { retiredAt: retireAt } }),
        prisma.signingKey.updateMany({ where: { kid: { lt: keep }, retiredAt: { gt: retireAt } }, data: { retiredAt: retireAt } }),
      ]);
    },
  };
}
export type SigningKeyStore = ReturnType<typeof createSigningKeyStore>;

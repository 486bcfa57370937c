import type { PrismaClient } from '../generated/prisma/client.ts';

export type SigningKeyRow = { kid: string; alg: string; publicJwk: unknown; privateJwk: string; createdAt: Date };

/** Token signing keys are global (not per tenant): the JWKS serves all of them. */
export function createSigningKeyStore(prisma: PrismaClient) {
  return {
    active: (): Promise<SigningKeyRow[]> =>
      prisma.signingKey.findMany({ where: { retiredAt: null }, orderBy: { createdAt: 'asc' } }),
    byKid: (kid: string): Promise<SigningKeyRow | null> =>
      prisma.signingKey.findFirst({ where: { kid, retiredAt: null } }),
    insert: (row: Omit<SigningKeyRow, 'createdAt'>) => prisma.signingKey.create({ data: row as never }),
  };
}
export type SigningKeyStore = ReturnType<typeof createSigningKeyStore>;

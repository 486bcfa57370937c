import type { Prisma, PrismaClient } from '../generated/prisma/client.ts';

/** A store runs on the client or inside a transaction, with the same code. */
export type Db = PrismaClient | Prisma.TransactionClient;

/** Transaction waits, generous: on embedded PGlite every transaction queues on one connection. */
export const TX_OPTIONS = { maxWait: 20_000, timeout: 30_000 } as const;

import type { Prisma, PrismaClient } from '../generated/prisma/client.ts';

/** A store runs on the client or inside a transaction, with the same code. */
export type Db = PrismaClient | Prisma.TransactionClient;

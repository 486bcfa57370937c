import type { PrismaClient } from '../generated/prisma/client.ts';
import { createConversationStore } from '../modules/conversation/conversation.store.ts';
import { createMessageStore } from '../modules/message/message.store.ts';
import type { Db } from './client.ts';

/** The stores that take part in multi-row transactions, bound to one client or transaction. */
export function createTxStores(db: Db) {
  return { conversations: createConversationStore(db), messages: createMessageStore(db) };
}
export type TxStores = ReturnType<typeof createTxStores>;

/** Runs `fn` in one database transaction with stores bound to it. */
export type Transact = <T>(fn: (stores: TxStores) => Promise<T>) => Promise<T>;

export function createTransact(prisma: PrismaClient): Transact {
  // Generous waits: on embedded PGlite every transaction queues on one connection.
  return (fn) => prisma.$transaction((tx) => fn(createTxStores(tx)), { maxWait: 20_000, timeout: 30_000 });
}

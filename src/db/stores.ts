import type { PrismaClient } from '../generated/prisma/client.ts';
import { createConversationStore, type OnEventRecorded } from '../modules/conversation/conversation.store.ts';
import { createMessageStore } from '../modules/message/message.store.ts';
import { TX_OPTIONS, type Db } from './client.ts';

/** The stores that take part in multi-row transactions, bound to one client or transaction. */
export function createTxStores(db: Db, hooks: { onEventRecorded?: OnEventRecorded } = {}) {
  return { conversations: createConversationStore(db, hooks), messages: createMessageStore(db) };
}
export type TxStores = ReturnType<typeof createTxStores> & {
  /** Runs `fn` once the transaction has committed (never if it rolls back). */
  afterCommit(fn: () => Promise<unknown> | void): void;
};

/** Runs `fn` in one database transaction with stores bound to it. */
export type Transact = <T>(fn: (stores: TxStores) => Promise<T>) => Promise<T>;

/**
 * `webhooks.record` runs in the transaction of every event it records (their deliveries commit
 * with it); `webhooks.committed` once such a transaction has committed (wakes the workers).
 */
export function createTransact(
  prisma: PrismaClient,
  { onAfterCommitError, webhooks }: { onAfterCommitError: (err: unknown) => void; webhooks?: { record: (...args: Parameters<OnEventRecorded>) => Promise<number>; committed(): void } },
): Transact {
  return async (fn) => {
    const after: (() => Promise<unknown> | void)[] = [];
    const onEventRecorded: OnEventRecorded | undefined = webhooks
      ? async (db, event) => {
          if ((await webhooks.record(db, event)) > 0 && !after.includes(webhooks.committed)) after.push(webhooks.committed);
        }
      : undefined;
    const result = await prisma.$transaction((tx) => fn({ ...createTxStores(tx, { onEventRecorded }), afterCommit: (f) => void after.push(f) }), TX_OPTIONS);
    // The data is committed: what runs now (publishing) must not turn success into an error.
    for (const f of after) await Promise.resolve().then(f).catch(onAfterCommitError);
    return result;
  };
}

import type { PrismaClient } from '../generated/prisma/client.ts';
import { createConversationStore, type OnEventRecorded } from '../modules/conversation/conversation.store.ts';
import { createMessageStore } from '../modules/message/message.store.ts';
import { inSpan } from '../observability/tracing.ts';
import { TX_OPTIONS, type Db } from './client.ts';

const TRANSACTION_SPAN = 'db.transaction';
const TRANSACTION_SPAN_OPTIONS = { attributes: { 'db.system.name': 'postgresql' } };

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
    const result = await inSpan(TRANSACTION_SPAN, TRANSACTION_SPAN_OPTIONS, (traceparent) =>
      prisma.$transaction(async (tx) => {
        // Tracing on: the rows this transaction writes (events, webhook deliveries) keep its
        // context (their trace_context column defaults to this setting), for the relay and the
        // webhook worker, which may run on another node, to continue the trace.
        if (traceparent) await tx.$executeRaw`SELECT set_config('parley.trace_context', ${traceparent}, true)`;
        return fn({ ...createTxStores(tx, { onEventRecorded }), afterCommit: (f) => void after.push(f) });
      }, TX_OPTIONS),
    );
    // The data is committed: what runs now (publishing) must not turn success into an error.
    for (const f of after) await Promise.resolve().then(f).catch(onAfterCommitError);
    return result;
  };
}

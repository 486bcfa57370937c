import type { ParleyApi } from './api.ts';
import { backoffDelay, sleep } from './backoff.ts';
import { isTransient, ParleyError } from './errors.ts';
import type { AttachmentInput, ParleyMessageFragment } from './generated/graphql.ts';

export type Message = ParleyMessageFragment;

export type SendInput = {
  body: string;
  attachments?: AttachmentInput[];
  metadata?: Record<string, unknown>;
  /** Sending again with the same key returns the original message; a fresh one by default. */
  idempotencyKey?: string;
};

/** A message as the app shows it before the server has it: an optimistic local echo. */
export type LocalMessage = {
  /** The client id, also in `clientId` (no server id yet). */
  id: string;
  clientId: string;
  idempotencyKey: string;
  conversationId: string;
  seq: null;
  body: string;
  attachments: AttachmentInput[];
  metadata: Record<string, unknown>;
  status: 'pending' | 'failed';
  createdAt: string;
  /** Why it failed (status 'failed'). */
  error?: ParleyError;
  /** The highest seq known when it was sent: its message will have a higher one. */
  afterSeq: number;
};

export type OutboxListener = (confirmed?: { message: Message; clientId: string }) => void;

/** randomUUID needs a secure context (https, localhost); getRandomValues does not. */
export const randomId = () => {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
};

/**
 * A conversation's messages in flight. Each send keeps its idempotency key through every retry
 * (network errors, INTERNAL, RATE_LIMITED after its retryAfterSeconds), so a send that reached
 * the server before the answer was lost returns the original message instead of a second one.
 */
export function createOutbox(options: { api: ParleyApi; conversationId: string; knownSeq: () => number; attempts: number; closed?: AbortSignal }) {
  const { api, conversationId, knownSeq, attempts, closed } = options;
  const locals = new Map<string, LocalMessage>();
  /** Server message id → the local echo it replaced. */
  const confirmed = new Map<string, string>();
  const listeners = new Set<OutboxListener>();
  const notify = (change?: { message: Message; clientId: string }) => {
    for (const listener of [...listeners]) listener(change);
  };

  async function deliver(local: LocalMessage): Promise<Message> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await api.sendMessage({
          conversationId,
          body: local.body,
          attachments: local.attachments,
          metadata: local.metadata,
          idempotencyKey: local.idempotencyKey,
        });
      } catch (err) {
        if (!isTransient(err) || attempt + 1 >= attempts || closed?.aborted) throw err;
        const { retryAfterSeconds } = err as ParleyError;
        await sleep(retryAfterSeconds ? retryAfterSeconds * 1000 : backoffDelay(attempt, { minDelayMs: 300, maxDelayMs: 5_000 }), closed);
        if (closed?.aborted) throw new ParleyError('CONNECTION_CLOSED', 'The client was closed before the message could be sent', { cause: err });
      }
    }
  }

  function track(local: LocalMessage): Promise<Message> {
    const sent = deliver(local).then(
      (message) => {
        locals.delete(local.clientId);
        confirmed.set(message.id, local.clientId);
        notify({ message, clientId: local.clientId });
        return message;
      },
      (err: unknown) => {
        const error = err instanceof ParleyError ? err : new ParleyError('INTERNAL', String(err), { cause: err });
        locals.set(local.clientId, { ...local, status: 'failed', error });
        notify();
        throw error;
      },
    );
    sent.catch(() => {}); // the app may ignore `sent` and watch the status instead
    return sent;
  }

  return {
    send(input: SendInput): { local: LocalMessage; sent: Promise<Message> } {
      const clientId = `local-${randomId()}`;
      const local: LocalMessage = {
        id: clientId,
        clientId,
        idempotencyKey: input.idempotencyKey ?? randomId(),
        conversationId,
        seq: null,
        body: input.body,
        attachments: input.attachments ?? [],
        metadata: input.metadata ?? {},
        status: 'pending',
        createdAt: new Date().toISOString(),
        afterSeq: knownSeq(),
      };
      locals.set(clientId, local);
      notify();
      return { local, sent: track(local) };
    },
    /** Sends a failed message again, with its idempotency key. */
    retry(clientId: string): Promise<Message> {
      const failed = locals.get(clientId);
      if (!failed || failed.status !== 'failed') return Promise.reject(new ParleyError('NOT_FOUND', `No failed message ${clientId}`));
      const { error: _error, ...rest } = failed;
      const local: LocalMessage = { ...rest, status: 'pending', afterSeq: Math.min(failed.afterSeq, knownSeq()) };
      locals.set(clientId, local);
      notify();
      return track(local);
    },
    /** Drops a failed message from the views. */
    discard(clientId: string) {
      if (locals.get(clientId)?.status === 'failed' && locals.delete(clientId)) notify();
    },
    locals: () => [...locals.values()],
    clientIdOf: (messageId: string) => confirmed.get(messageId),
    listen(listener: OutboxListener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
export type Outbox = ReturnType<typeof createOutbox>;

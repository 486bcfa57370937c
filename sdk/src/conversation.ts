import type { ParleyApi } from './api.ts';
import type { Realtime } from './connection.ts';
import { startConversationStream, type ConversationEvent } from './conversation-stream.ts';
import { watchConversation, type ConversationView, type WatchOptions } from './conversation-view.ts';
import { ParleyError } from './errors.ts';
import { createOutbox, type Message, type SendInput } from './outbox.ts';

export type EventsOptions = {
  /** Persisted events after this seq (history first, then live); default: from now on. */
  afterSeq?: number;
  /** The stream ended: no longer a member (no error), or for good (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND…). */
  onEnd?: (error?: ParleyError) => void;
};

export type ConversationDeps = {
  api: ParleyApi;
  realtime: Realtime;
  me: () => Promise<{ id: string }>;
  sendAttempts: number;
  /** At most one `typing: true` per this many ms. */
  typingThrottleMs: number;
  /** Aborted when the client is closed. */
  closed: AbortSignal;
};

/** Everything about one conversation an app does; one per conversation id and client. */
export function createConversation(deps: ConversationDeps, conversationId: string) {
  const { api, realtime } = deps;
  let knownSeq = 0;
  const noteSeq = (seq: number) => void (knownSeq = Math.max(knownSeq, seq));
  const outbox = createOutbox({ api, conversationId, knownSeq: () => knownSeq, attempts: deps.sendAttempts, closed: deps.closed });

  function events(onEvent: (event: ConversationEvent) => void, options: EventsOptions = {}): () => void {
    if (deps.closed.aborted) {
      queueMicrotask(() => options.onEnd?.(new ParleyError('CONNECTION_CLOSED', 'The client was closed')));
      return () => {};
    }
    return startConversationStream({
      subscribe: realtime.subscribe,
      conversationId,
      afterSeq: options.afterSeq,
      lastSeq: async () => {
        const conversation = await api.conversation({ id: conversationId });
        if (!conversation) throw new ParleyError('NOT_FOUND', 'Conversation not found');
        return conversation.lastSeq;
      },
      onEvent: (event) => {
        if (event.seq !== null) noteSeq(event.seq);
        onEvent(event);
      },
      onEnd: (error) => options.onEnd?.(error),
    });
  }

  /** Pages of messages, newest page first, each page in seq order; ends at the first message. */
  async function* history(options: { pageSize?: number } = {}): AsyncGenerator<Message[], void, undefined> {
    let before: string | undefined;
    for (;;) {
      const page = await api.messages({ conversationId, last: options.pageSize ?? 50, ...(before ? { before } : {}) });
      const messages = page.edges.map((edge) => edge.node);
      for (const m of messages) noteSeq(m.seq);
      yield messages;
      if (!page.pageInfo.hasPreviousPage || !page.pageInfo.startCursor) return;
      before = page.pageInfo.startCursor;
    }
  }

  let typingSentAt = -Infinity;
  let typingShown = false;
  /** Typing indicators are fire-and-forget: a lost one lapses on the server by itself. */
  function typing(isTyping: boolean) {
    const now = Date.now();
    if (isTyping ? typingShown && now - typingSentAt < deps.typingThrottleMs : !typingShown) return;
    typingShown = isTyping;
    if (isTyping) typingSentAt = now;
    api.sendTyping({ conversationId, typing: isTyping }).catch(() => {});
  }

  return {
    id: conversationId,
    events,
    history,
    send: (input: SendInput) => {
      // After a message, the next keystroke announces typing again at once.
      typingShown = false;
      return outbox.send(input);
    },
    /** Sends a failed local message again (same idempotency key). */
    retry: outbox.retry,
    /** Removes a failed local message from the views. */
    discard: outbox.discard,
    markRead: (seq: number) => api.markRead({ conversationId, seq }),
    markDelivered: (seq: number) => api.markDelivered({ conversationId, seq }),
    typing,
    watch(onView: (view: ConversationView) => void, options: Partial<WatchOptions> = {}) {
      return watchConversation(
        {
          api,
          conversationId,
          me: deps.me,
          outbox,
          noteSeq,
          events: (onEvent, afterSeq, onEnd) => events(onEvent, { afterSeq, onEnd }),
          onReconnected: realtime.onReconnected,
        },
        onView,
        { ...options, pageSize: options.pageSize ?? 50 },
      );
    },
  };
}
export type ParleyConversation = ReturnType<typeof createConversation>;

import { backoffDelay } from './backoff.ts';
import type { ParleyError } from './errors.ts';
import { ConversationEventsDocument, type ParleyEventFragment } from './generated/graphql.ts';
import type { Realtime } from './connection.ts';

export type ConversationEvent = ParleyEventFragment;

export type StreamOptions = {
  subscribe: Realtime['subscribe'];
  conversationId: string;
  /** Deliver persisted events after this seq; undefined: from now (the conversation's lastSeq). */
  afterSeq: number | undefined;
  /** The conversation's current lastSeq (asked only when afterSeq is undefined). */
  lastSeq: () => Promise<number>;
  onEvent: (event: ConversationEvent) => void;
  /** The stream is over: no longer a member (no error), or a final error. */
  onEnd: (error?: ParleyError) => void;
};

/**
 * One conversation's events, each persisted one exactly once and in seq order, whatever the
 * socket does. `last` is the seq of the last event handed to the app; every (re)subscription
 * asks for `afterSeq: last`, so a reconnect resumes exactly there.
 *
 * - seq <= last: a duplicate (an overlap at a resubscription, a redelivery): dropped.
 * - seq == last + 1: delivered.
 * - seq > last + 1: a gap. It is filled by subscribing again with afterSeq = last, not by
 *   reading `messages`: only the server's event log holds every kind of persisted event
 *   (members joining and leaving, edits, deletions), and its replay is gapless and ordered.
 *   The early event is not held: the replay brings it again, right after the missing ones.
 *   Events of the old subscription still in flight are ignored (each has a generation).
 *
 * Typing and read receipts have no seq: they are passed on as they come.
 */
export function startConversationStream(options: StreamOptions): () => void {
  const { subscribe, conversationId, onEvent, onEnd } = options;
  let last = options.afterSeq;
  let generation = 0;
  /** Gaps refilled in a row without progress: a server that keeps skipping is not hammered. */
  let refills = 0;
  let stopped = false;
  let unsubscribe = () => {};

  const finish = (error?: ParleyError) => {
    if (stopped) return;
    stopped = true;
    unsubscribe();
    onEnd(error);
  };

  function listen() {
    const mine = ++generation;
    unsubscribe = subscribe(ConversationEventsDocument, () => ({ conversationId, afterSeq: last ?? null }), {
      next: ({ conversationEvents: event }) => {
        if (stopped || mine !== generation) return;
        if (event.seq === null) return onEvent(event);
        if (last !== undefined && event.seq <= last) return; // duplicate
        if (last !== undefined && event.seq > last + 1) {
          // A gap: replay from `last` (at once the first time).
          unsubscribe();
          generation += 1;
          const wait = refills++ === 0 ? 0 : backoffDelay(refills);
          return void setTimeout(() => !stopped && listen(), wait);
        }
        refills = 0;
        last = event.seq;
        onEvent(event);
      },
      complete: () => mine === generation && finish(),
      error: (err) => mine === generation && finish(err),
    });
  }

  if (last !== undefined) listen();
  else
    options.lastSeq().then(
      (seq) => {
        if (stopped) return;
        last = seq;
        listen();
      },
      (err: ParleyError) => finish(err),
    );

  return () => {
    stopped = true;
    unsubscribe();
  };
}

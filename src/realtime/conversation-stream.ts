import type { Bus } from '../events/bus.ts';
import { topics, type ConversationEnvelope } from '../events/event-map.ts';
import { EventType } from '../events/event-types.ts';
import type { Actor } from '../lib/scope.ts';
import type { ConversationStore } from '../modules/conversation/conversation.store.ts';
import { markReplayed } from './delivery-metrics.ts';
import { EventQueue } from './event-queue.ts';
import { closable, liveStream, type StreamOptions } from './live-stream.ts';

const REPLAY_PAGE = 500;
/** Queued when the bus reconnects: events published meanwhile never arrive, read the log. */
const RESYNC = Symbol('resync');

/** An event read back from the log (marked so: its delivery is no measure of fanout lag). */
export const envelopeOf = (appId: string, row: { conversationId: string; seq: number; type: string; payload: unknown; createdAt: Date }): ConversationEnvelope =>
  markReplayed({
    appId,
    conversationId: row.conversationId,
    seq: row.seq,
    type: row.type as EventType,
    at: row.createdAt.toISOString(),
    payload: row.payload as Record<string, unknown>,
  });

/**
 * The events of one conversation for one member, after `afterSeq`, exactly once and in
 * `seq` order (CONTRACT.md, guarantee 2):
 *  1. listen to the live topic first, buffering;
 *  2. read the log after `afterSeq` (or, without it, note the current `lastSeq`);
 *  3. drain the buffer, dropping what was already emitted;
 *  4. an event past `last + 1` means another one is late or lost on the bus: read the
 *     missing range from the log first (it is committed: seqs commit in order), never
 *     emitting out of order;
 *  5. when the bus reconnects after losing its connection, read the log after `last`: what
 *     was published meanwhile is lost to this node, and no later event may come to reveal it.
 * Ephemeral events (seq null) pass straight through. The stream ends after the member's
 * own `member.left` (once the store confirms they are no longer a member).
 *
 * The fast path: while the consumer is parked (it has written everything it took and waits
 * for more) a live event that is next in order (or ephemeral) is handed to `direct`, from the
 * bus handler, without a queue, a promise or an execution of its own; anything else (a gap,
 * a replay, the member's own departure, `direct` declining) takes the queued path above.
 */
export function conversationStream(
  deps: { bus: Bus; conversations: ConversationStore },
  actor: Actor,
  conversationId: string,
  afterSeq: number | null,
  { maxPending, onSlowConsumer, direct }: StreamOptions<ConversationEnvelope>,
): AsyncGenerator<ConversationEnvelope> {
  const { bus, conversations } = deps;
  const { scope } = actor;
  const queue = new EventQueue<ConversationEnvelope | typeof RESYNC>(maxPending, onSlowConsumer);
  /** The seq of the last persisted event emitted (by either path). */
  let last = afterSeq ?? 0;
  /** True when `e` was handled (written, dropped with its closing socket, or already emitted) on the fast path. */
  const writtenDirectly = (e: ConversationEnvelope) => {
    // Parked means waiting in the loop below: `last` is current and nothing is in flight.
    if (!direct || !queue.parked) return false;
    if (e.seq === null) return direct(e);
    if (e.seq <= last) return true; // already emitted from the log
    if (e.seq !== last + 1) return false; // a gap: the loop reads the log first
    if (e.type === EventType.memberLeft && e.payload.userId === actor.userId) return false; // may end the stream
    if (!direct(e)) return false;
    last = e.seq;
    return true;
  };
  // Subscribed before anything is read, so no event can fall between the log and the live topic.
  const subscription = bus.subscribe(topics.conversation(scope.appId, conversationId), (e) => {
    if (!writtenDirectly(e)) queue.push(e);
  });
  const reconnected = bus.onReconnect(() => queue.push(RESYNC));
  const cleanup = () => {
    queue.close();
    subscription();
    reconnected();
  };
  return closable(ordered(), cleanup);

  async function* ordered(): AsyncGenerator<ConversationEnvelope> {
    const leftForGood = async (e: ConversationEnvelope) =>
      e.type === EventType.memberLeft && e.payload.userId === actor.userId && !(await conversations.membership(scope, conversationId, actor.userId));

    /** Reads the log from `last` up to `until` (or its end), emitting in order. */
    async function* fromLog(until?: number): AsyncGenerator<ConversationEnvelope> {
      for (;;) {
        const rows = await conversations.eventsAfter(scope, conversationId, last, { untilSeq: until, limit: REPLAY_PAGE });
        for (const row of rows) {
          last = row.seq;
          yield envelopeOf(scope.appId, row);
        }
        if (rows.length < REPLAY_PAGE) return;
      }
    }

    try {
      await subscription.ready; // on a networked bus, live only once the server confirms it
      if (afterSeq === null) {
        last = (await conversations.byId(scope, conversationId))?.lastSeq ?? 0; // live only
      } else {
        for await (const e of fromLog()) {
          yield e;
          if (await leftForGood(e)) return;
        }
      }
      for (;;) {
        const e = await queue.next();
        if (!e) return;
        if (e === RESYNC) {
          for await (const missed of fromLog()) {
            yield missed;
            if (await leftForGood(missed)) return;
          }
          continue;
        }
        if (e.seq === null) {
          yield e;
          continue;
        }
        if (e.seq <= last) continue; // already emitted from the log
        if (e.seq > last + 1) {
          for await (const missed of fromLog(e.seq - 1)) {
            yield missed;
            if (await leftForGood(missed)) return;
          }
        }
        if (e.seq !== last + 1) continue; // the log already had it
        last = e.seq;
        yield e;
        if (await leftForGood(e)) return;
      }
    } finally {
      cleanup();
    }
  }
}

/** Live events of every conversation the user is in (their inbox topic), no replay. */
export const inboxStream = (deps: { bus: Bus }, actor: Actor, options: StreamOptions<ConversationEnvelope>) =>
  liveStream<ConversationEnvelope>((push) => [deps.bus.subscribe(topics.inbox(actor.scope.appId, actor.userId), push)], options);

import { describe, expect, it } from 'vitest';
import type { Realtime, Sink } from '../src/connection.ts';
import { startConversationStream, type ConversationEvent } from '../src/conversation-stream.ts';
import { jwtClaims, refreshAt } from '../src/token-source.ts';

/** A transport double: records each subscription, lets the test push events into it. */
function fakeTransport() {
  const subscriptions: { variables: () => unknown; sink: Sink<{ conversationEvents: ConversationEvent }>; closed: boolean }[] = [];
  const subscribe = ((_document, variables, sink) => {
    const sub = { variables, sink: sink as Sink<{ conversationEvents: ConversationEvent }>, closed: false };
    subscriptions.push(sub);
    return () => void (sub.closed = true);
  }) as Realtime['subscribe'];
  return { subscribe, subscriptions, current: () => subscriptions.at(-1)! };
}

const created = (seq: number): ConversationEvent => ({
  __typename: 'MemberLeft',
  type: 'conversation.member.left',
  conversationId: 'cnv_1',
  seq,
  at: new Date(0).toISOString(),
  userId: `usr_${seq}`,
});
const typing = (userId: string): ConversationEvent => ({
  __typename: 'Typing',
  type: 'conversation.typing',
  conversationId: 'cnv_1',
  seq: null,
  at: new Date(0).toISOString(),
  userId,
  typing: true,
});

function stream(afterSeq: number | undefined, lastSeq = 0) {
  const transport = fakeTransport();
  const seen: (number | string)[] = [];
  const ends: unknown[] = [];
  const stop = startConversationStream({
    subscribe: transport.subscribe,
    conversationId: 'cnv_1',
    afterSeq,
    lastSeq: async () => lastSeq,
    onEvent: (e) => seen.push(e.seq ?? `typing:${(e as { userId: string }).userId}`),
    onEnd: (error) => ends.push(error ?? 'complete'),
  });
  const push = (event: ConversationEvent, sub = transport.current()) => sub.sink.next({ conversationEvents: event });
  return { transport, seen, ends, stop, push };
}

describe('the conversation stream ordering', () => {
  it('delivers each persisted event once, in order, dropping duplicates and passing ephemeral ones', () => {
    const s = stream(0);
    for (const seq of [1, 2, 2, 1, 3]) s.push(created(seq));
    s.push(typing('usr_a'));
    s.push(created(3));
    expect(s.seen).toEqual([1, 2, 3, 'typing:usr_a']);
    expect(s.transport.subscriptions).toHaveLength(1);
  });

  it('resumes from the last delivered seq on every (re)subscription', () => {
    const s = stream(4);
    expect(s.transport.current().variables()).toEqual({ conversationId: 'cnv_1', afterSeq: 4 });
    s.push(created(5));
    s.push(created(6));
    // graphql-ws reads the variables again when it resubscribes after a reconnect
    expect(s.transport.current().variables()).toEqual({ conversationId: 'cnv_1', afterSeq: 6 });
  });

  it('fills a gap by resubscribing after the last delivered seq, never delivering out of order', async () => {
    const s = stream(0);
    s.push(created(1));
    const first = s.transport.current();
    s.push(created(3)); // 2 is missing
    expect(s.seen).toEqual([1]);
    expect(first.closed).toBe(true);
    await expect.poll(() => s.transport.subscriptions.length).toBe(2);
    const second = s.transport.current();
    expect(second.variables()).toEqual({ conversationId: 'cnv_1', afterSeq: 1 });
    s.push(created(4), first); // still in flight on the old subscription: ignored
    for (const seq of [2, 3, 4]) s.push(created(seq), second);
    expect(s.seen).toEqual([1, 2, 3, 4]);
  });

  it('starts from the conversation lastSeq when no afterSeq is given', async () => {
    const s = stream(undefined, 7);
    await expect.poll(() => s.transport.subscriptions.length).toBe(1);
    expect(s.transport.current().variables()).toEqual({ conversationId: 'cnv_1', afterSeq: 7 });
    s.push(created(7));
    s.push(created(8));
    expect(s.seen).toEqual([8]);
  });

  it('ends once when the server completes the stream, and stops listening when stopped', () => {
    const s = stream(0);
    s.transport.current().sink.complete();
    expect(s.ends).toEqual(['complete']);
    const t = stream(0);
    t.stop();
    expect(t.transport.current().closed).toBe(true);
    t.push(created(1));
    expect(t.seen).toEqual([]);
  });
});

describe('token expiry', () => {
  const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

  it('reads exp and iat without verifying, and refreshes a fifth of the lifetime early (1 s to 60 s)', () => {
    expect(jwtClaims(jwt({ exp: 2000, iat: 1000, name: 'é' }))).toMatchObject({ exp: 2000, iat: 1000, name: 'é' });
    expect(refreshAt(jwt({ exp: 2000, iat: 1000 }))).toBe(2000_000 - 60_000);
    expect(refreshAt(jwt({ exp: 1100, iat: 1000 }))).toBe(1100_000 - 20_000);
    expect(refreshAt(jwt({ exp: 1002, iat: 1000 }))).toBe(1002_000 - 1_000);
    expect(refreshAt('opaque-token')).toBe(Infinity);
  });
});

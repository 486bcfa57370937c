import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRealtime, type ConnectionState, type Realtime } from '../src/connection.ts';
import { ConversationEventsDocument } from '../src/generated/graphql.ts';
import { createTokenSource } from '../src/token-source.ts';
import { FakeSocket, type ServerPlay } from './fake-socket.ts';

// What the socket does after each kind of loss, against a WebSocket double (the test is the
// server) and a fake clock: which closes are retried, after how long, and which are final.

const minDelayMs = 1_000; // backoffDelay(n) lies in [min·2ⁿ/2, min·2ⁿ]
let realtime: Realtime;

function start(play: ServerPlay, tokens = createTokenSource({ token: 'tok' }), extra: { stableAfterMs?: number } = {}) {
  FakeSocket.reset(play);
  realtime = createRealtime({ url: 'http://parley.test/graphql', tokens, webSocketImpl: FakeSocket, reconnect: { minDelayMs, maxDelayMs: 60_000 }, keepAliveMs: 0, ...extra });
  const states: ConnectionState[] = [];
  realtime.connection.subscribe((s) => states.push(s));
  const received: unknown[] = [];
  const errors: { code: string }[] = [];
  let completed = 0;
  let afterSeq = 0;
  const stop = realtime.subscribe(ConversationEventsDocument, () => ({ conversationId: 'cnv_1', afterSeq }), {
    next: (data) => received.push(data),
    error: (err) => errors.push(err),
    complete: () => (completed += 1),
  });
  return { states, received, errors, stop, completed: () => completed, setAfterSeq: (seq: number) => (afterSeq = seq) };
}

/** Subscribe messages received by all sockets. */
const subscribes = () => FakeSocket.sockets.reduce((n, s) => n + s.subscribed.length, 0);
const lastSocket = () => FakeSocket.sockets.at(-1)!;
const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms);

beforeEach(() => void vi.useFakeTimers());
afterEach(async () => {
  await realtime?.close();
  vi.useRealTimers();
});

describe('closes graphql-ws gives up on by itself', () => {
  it.each([1011, 4500])('a socket closed with %i is reconnected after a backoff, and the subscription resumes', async (code) => {
    const variables: unknown[] = [];
    const s = start({ onSubscribe: (_socket, _id, payload) => variables.push(payload.variables) });
    await tick(10);
    expect(subscribes()).toBe(1);
    s.setAfterSeq(7);
    lastSocket().serverClose(code, 'Internal error');
    await tick(10);
    expect(s.errors).toEqual([]);
    expect(realtime.connection.state).toBe('reconnecting');
    expect(FakeSocket.sockets).toHaveLength(1); // not at once: after backoffDelay(0) >= min/2
    await tick(minDelayMs);
    expect(FakeSocket.sockets).toHaveLength(2);
    expect(subscribes()).toBe(2);
    expect(variables.at(-1)).toEqual({ conversationId: 'cnv_1', afterSeq: 7 });
    expect(realtime.connection.state).toBe('connected');
    lastSocket().next(lastSocket().subscribed[0]!, { data: { conversationEvents: { seq: 8 } } });
    expect(s.received).toHaveLength(1);
    expect(s.errors).toEqual([]);
  });

  it('backs off more and more while connecting keeps failing with 1011', async () => {
    const s = start({ onInit: (socket) => socket.serverClose(1011, 'Internal error') });
    // 60 s of failures: delays of at least 0.5, 1, 2, 4, 8, 16 s… so at most 7 sockets.
    await tick(60_000);
    expect(FakeSocket.sockets.length).toBeGreaterThanOrEqual(4);
    expect(FakeSocket.sockets.length).toBeLessThanOrEqual(7);
    expect(s.errors).toEqual([]);
    expect(realtime.connection.state).toBe('reconnecting');
    // The server recovers: connected, subscribed.
    FakeSocket.play = {};
    await tick(60_000);
    expect(realtime.connection.state).toBe('connected');
    expect(subscribes()).toBe(1);
  });

  it('4403 is final: the stream ends with FORBIDDEN and nothing reconnects', async () => {
    const s = start({});
    await tick(10);
    lastSocket().serverClose(4403, 'suspended');
    await tick(60_000);
    expect(s.errors).toEqual([expect.objectContaining({ code: 'FORBIDDEN' })]);
    expect(realtime.connection.state).toBe('closed');
    expect(FakeSocket.sockets).toHaveLength(1);
  });
});

describe('a server error answering the subscription', () => {
  const answerWith = (code: string, extensions: object = {}) => {
    let answered = 0;
    return {
      onSubscribe: (socket: FakeSocket, id: string) => {
        if (answered++ > 0) return; // the next subscription is served
        socket.next(id, { errors: [{ message: code, extensions: { code, ...extensions } }] });
        socket.serverSend({ id, type: 'complete' });
      },
    };
  };

  it('INTERNAL: subscribes again after a backoff, on the same socket; the app sees no error', async () => {
    const s = start(answerWith('INTERNAL'));
    await tick(10);
    expect(subscribes()).toBe(1);
    await tick(minDelayMs / 2 - 20);
    expect(subscribes()).toBe(1);
    await tick(minDelayMs);
    expect(subscribes()).toBe(2);
    expect(FakeSocket.sockets).toHaveLength(1);
    expect(s.errors).toEqual([]);
    expect(s.completed()).toBe(0);
  });

  it('RATE_LIMITED: subscribes again after retryAfterSeconds', async () => {
    const s = start(answerWith('RATE_LIMITED', { retryAfterSeconds: 30 }));
    await tick(29_000);
    expect(subscribes()).toBe(1);
    await tick(1_100);
    expect(subscribes()).toBe(2);
    expect(s.errors).toEqual([]);
  });

  it.each(['NOT_FOUND', 'FORBIDDEN', 'UNAUTHENTICATED'])('%s is final', async (code) => {
    const s = start(answerWith(code));
    await tick(60_000);
    expect(subscribes()).toBe(1);
    expect(s.errors).toEqual([expect.objectContaining({ code })]);
    expect(s.completed()).toBe(0);
  });
});

describe('a refused token (4401)', () => {
  it('reconnects with a new token after a backoff; refused again before the socket was stable: final', async () => {
    let issued = 0;
    const getToken = vi.fn(async () => `tok${++issued}`);
    // Two tabs revoking each other's sessions: every socket is refused right after connecting.
    const s = start({ onSubscribe: (socket) => socket.serverClose(4401, 'revoked') }, createTokenSource({ getToken }), { stableAfterMs: 5_000 });
    await tick(10);
    expect(FakeSocket.sockets).toHaveLength(1);
    await tick(minDelayMs / 2 - 20);
    expect(FakeSocket.sockets).toHaveLength(1); // not at once
    await tick(minDelayMs);
    expect(FakeSocket.sockets).toHaveLength(2);
    expect(getToken).toHaveBeenCalledTimes(2);
    await tick(60_000);
    expect(FakeSocket.sockets).toHaveLength(2);
    expect(s.errors).toEqual([expect.objectContaining({ code: 'UNAUTHENTICATED' })]);
    expect(realtime.connection.state).toBe('closed');
  });

  it('a socket that stayed up renews the budget: each refusal after a stable socket gets a new token', async () => {
    let issued = 0;
    const getToken = vi.fn(async () => `tok${++issued}`);
    const s = start({}, createTokenSource({ getToken }), { stableAfterMs: 5_000 });
    for (let round = 1; round <= 3; round++) {
      await tick(6_000); // up and stable
      lastSocket().serverClose(4401, 'revoked');
      await tick(minDelayMs + 10);
      expect(FakeSocket.sockets).toHaveLength(round + 1);
    }
    expect(getToken).toHaveBeenCalledTimes(4);
    expect(s.errors).toEqual([]);
    expect(realtime.connection.state).toBe('connected');
  });
});

describe('the connection', () => {
  it('a server that never acks: the socket is dropped after the ack timeout and retried', async () => {
    start({ onInit: () => {} });
    await tick(10);
    expect(realtime.connection.state).toBe('connecting');
    await tick(15_000);
    expect(realtime.connection.state).toBe('reconnecting');
    await tick(minDelayMs);
    expect(FakeSocket.sockets).toHaveLength(2);
  });

  it('a gap refill (unsubscribing, then subscribing again at once) keeps the socket open', async () => {
    const s = start({});
    await tick(10);
    s.stop();
    await tick(0);
    realtime.subscribe(ConversationEventsDocument, () => ({ conversationId: 'cnv_1', afterSeq: 0 }), { next: () => {}, error: () => {}, complete: () => {} });
    await tick(10_000);
    expect(FakeSocket.sockets).toHaveLength(1);
    expect(lastSocket().readyState).toBe(FakeSocket.OPEN);
    expect(subscribes()).toBe(2);
  });

  it('close() ends every stream with CONNECTION_CLOSED, and a subscription after it opens no socket', async () => {
    const s = start({});
    const stopPresence = realtime.onReconnected(() => {
      throw new Error('no reconnect after close');
    });
    await tick(10);
    await realtime.close();
    expect(s.errors).toEqual([expect.objectContaining({ code: 'CONNECTION_CLOSED' })]);
    expect(realtime.connection.state).toBe('closed');
    const late: unknown[] = [];
    realtime.subscribe(ConversationEventsDocument, () => ({ conversationId: 'cnv_1', afterSeq: 0 }), {
      next: () => {},
      error: (err) => late.push(err),
      complete: () => {},
    });
    await tick(60_000);
    expect(late).toEqual([expect.objectContaining({ code: 'CONNECTION_CLOSED' })]);
    expect(FakeSocket.sockets).toHaveLength(1);
    stopPresence();
  });
});

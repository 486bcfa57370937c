import { once } from 'node:events';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { expect, vi } from 'vitest';
import WebSocket from 'ws';
import type { Bus } from '../../src/events/bus.ts';
import type { TestServer } from './server.ts';

/**
 * How a socket is authenticated in connection_init: a user token, an app's API key, or raw
 * connection params (`undefined`: a connection_init with no payload at all).
 */
export type WsCredential = { token: string } | { apiKey: string } | { params: Record<string, unknown> | undefined };
/** How a socket was closed: the close frame's code and reason. */
export type Closed = { code: number; reason: string };
/** A GraphQL error as it arrives over the socket. */
export type WsError = { message: string; extensions?: { code?: string; [key: string]: unknown } };

export const wsUrl = (server: Pick<TestServer, 'graphqlUrl'>) => server.graphqlUrl.replace(/^http/, 'ws');
export const connectionParams = (cred: WsCredential) =>
  'token' in cred ? { authorization: `Bearer ${cred.token}` } : 'apiKey' in cred ? { apiKey: cred.apiKey } : cred.params;

/** Waits for a condition (an assertion that stops throwing); never for a fixed time. */
export const eventually = <T>(check: () => T | Promise<T>, timeout = 10_000) => vi.waitFor(check, { timeout, interval: 20 });

function closedOf(event: unknown): Closed | undefined {
  if (typeof event !== 'object' || event === null || !('code' in event) || typeof event.code !== 'number') return undefined;
  return { code: event.code, reason: 'reason' in event ? String(event.reason) : '' };
}

export type WsClient = {
  client: Client;
  /** Resolves once the server acknowledged connection_init; rejects (with the Closed) if the socket closed first. */
  connected: Promise<void>;
  /** connection_ack messages received (1 once connected; the client never reconnects). */
  acks: number;
  /** How the socket closed, as the client saw it; undefined while it is open. */
  closed: Closed | undefined;
  dispose(): Promise<void>;
};

const openClients = new Set<WsClient>();
const openRawSockets = new Set<WebSocket>();

/** The real graphql-ws client, connecting at once (not lazily), never retrying. */
export function connectWs(server: Pick<TestServer, 'graphqlUrl'>, cred: WsCredential): WsClient {
  let acknowledged = () => {};
  let refused = (_: unknown) => {};
  const connected = new Promise<void>((resolve, reject) => {
    acknowledged = resolve;
    refused = reject;
  });
  connected.catch(() => {}); // a test that expects a refusal looks at `closed`
  // The listeners run once the socket has opened, after `ws` below exists.
  const client = createClient({
    url: wsUrl(server),
    webSocketImpl: WebSocket,
    connectionParams: connectionParams(cred),
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => {},
    on: {
      connected: () => {
        ws.acks += 1;
        acknowledged();
      },
      closed: (event) => {
        ws.closed = closedOf(event) ?? { code: -1, reason: String(event) };
        refused(ws.closed);
      },
    },
  });
  const ws: WsClient = {
    client,
    connected,
    acks: 0,
    closed: undefined,
    dispose: async () => {
      openClients.delete(ws);
      await client.dispose();
    },
  };
  openClients.add(ws);
  return ws;
}

/** Disposes every client connectWs (or rawConnect) made that is still open (for afterEach). */
export async function disposeAllWs() {
  for (const socket of openRawSockets) socket.terminate();
  openRawSockets.clear();
  await Promise.all([...openClients].map((ws) => ws.dispose()));
}

export type WsSubscription<R> = {
  /** The `data` of every `next`, in order of arrival. */
  data: R[];
  /** GraphQL errors (from an `error` message, or a `next` carrying errors). */
  errors: WsError[];
  /** Set when the subscription ended because its socket closed. */
  closed: Closed | undefined;
  /** True once the subscription is over: completed, failed, or its socket closed. */
  ended: boolean;
  unsubscribe(): void;
};

/** Starts a subscription on a graphql-ws client and collects what it receives. */
export function subscribeWs<R, V extends Record<string, unknown>>(ws: WsClient, document: TypedDocumentNode<R, V>, variables: V): WsSubscription<R> {
  const sub: WsSubscription<R> = { data: [], errors: [], closed: undefined, ended: false, unsubscribe: () => {} };
  sub.unsubscribe = ws.client.subscribe<R>(
    { query: print(document), variables },
    {
      next: (result) => {
        if (result.data) sub.data.push(result.data);
        if (result.errors) sub.errors.push(...(result.errors as WsError[]));
      },
      error: (err) => {
        sub.ended = true;
        if (Array.isArray(err)) return void sub.errors.push(...(err as WsError[]));
        const closed = closedOf(err);
        if (closed) sub.closed = closed;
        else sub.errors.push({ message: String(err) });
      },
      complete: () => (sub.ended = true),
    },
  );
  return sub;
}

export type RawMessage = { type: string; id?: string; payload?: unknown };
export type RawSocket = {
  /** The `ws` socket itself: `pause()` stops reading from the network, `resume()` starts again. */
  socket: WebSocket;
  /** Every protocol message received, parsed, in order. */
  messages: RawMessage[];
  /** Resolves with the close code and reason once the socket has closed. */
  closed: Promise<Closed>;
  /** Sends a graphql-transport-ws `subscribe` message. */
  subscribe<R, V>(id: string, document: TypedDocumentNode<R, V>, variables: V): void;
  /** The `data` of the `next` messages received for the subscription `id`. */
  nexts<R, V>(id: string, document: TypedDocumentNode<R, V>): R[];
};

/**
 * A client that speaks graphql-transport-ws by hand over a plain `ws` socket, for what the
 * graphql-ws client hides: pausing reads, or watching the server's pings. `ws` answers
 * pings by itself while it reads. Resolves once the server sent connection_ack.
 */
export async function rawConnect(server: Pick<TestServer, 'graphqlUrl'>, cred: WsCredential): Promise<RawSocket> {
  const socket = new WebSocket(wsUrl(server), 'graphql-transport-ws');
  const messages: RawMessage[] = [];
  socket.on('error', () => {}); // a reset after the server cut the socket is expected, and shows in `closed`
  socket.on('message', (data) => messages.push(JSON.parse(String(data)) as RawMessage));
  openRawSockets.add(socket);
  const closed = new Promise<Closed>((resolve) =>
    socket.once('close', (code, reason) => {
      openRawSockets.delete(socket);
      resolve({ code, reason: String(reason) });
    }),
  );
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'connection_init', payload: connectionParams(cred) }));
  await eventually(() => expect(messages.map((m) => m.type)).toContain('connection_ack'));
  return {
    socket,
    messages,
    closed,
    subscribe: (id, document, variables) => socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query: print(document), variables } })),
    nexts: <R>(id: string) => messages.filter((m) => m.type === 'next' && m.id === id).map((m) => (m.payload as { data: R }).data),
  };
}

/**
 * Counts the server's live bus subscriptions per topic by wrapping `bus.subscribe`: a stream
 * that ends without unsubscribing shows as a count that never returns to zero.
 * `restore()` puts the bus back as it was.
 */
export function spyOnBus(bus: Bus) {
  const active = new Map<string, number>();
  const ever = new Map<string, number>();
  const original = bus.subscribe;
  bus.subscribe = (topic, handler) => {
    active.set(topic, (active.get(topic) ?? 0) + 1);
    ever.set(topic, (ever.get(topic) ?? 0) + 1);
    const subscription = original.call(bus, topic, handler);
    let done = false;
    const unsubscribe = () => {
      if (!done) active.set(topic, active.get(topic)! - 1);
      done = true;
      subscription();
    };
    return Object.assign(unsubscribe, { ready: subscription.ready });
  };
  return {
    /** Subscriptions to `topic` live now. */
    count: (topic: string) => active.get(topic) ?? 0,
    /** Subscriptions to `topic` ever made since the spy was set. */
    made: (topic: string) => ever.get(topic) ?? 0,
    restore: () => void (bus.subscribe = original),
  };
}

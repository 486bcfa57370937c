import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.ts';
import { ParleyError, type GraphQLErrorShape } from './errors.ts';
import type { TokenSource } from './token-source.ts';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** The socket's state, observable: what a UI shows as "online / reconnecting…". */
export type Connection = {
  readonly state: ConnectionState;
  /** Why the state is 'closed' when the socket gave up (UNAUTHENTICATED, FORBIDDEN…); else undefined. */
  readonly error: ParleyError | undefined;
  /** Calls `listener` on every change of state (not at once); returns the function that stops it. */
  subscribe(listener: (state: ConnectionState) => void): () => void;
};

export type Sink<R> = { next(data: R): void; error(err: ParleyError): void; complete(): void };

export type Realtime = {
  connection: Connection;
  /**
   * Subscribes over the shared socket. `variables` is read each time the subscribe message is
   * sent, on every reconnect too, so a stream resumes from where it is, not where it began.
   */
  subscribe<R, V>(document: TypedDocumentNode<R, V>, variables: () => V, sink: Sink<R>): () => void;
  /** Called each time the socket is connected again after a loss (to re-read what is not resumable). */
  onReconnected(listener: () => void): () => void;
  close(): Promise<void>;
};

export type RealtimeOptions = {
  url: string;
  tokens: TokenSource;
  webSocketImpl?: unknown;
  reconnect?: BackoffOptions;
  /** A protocol ping this often (ms); no pong within `pongTimeoutMs` and the socket is dropped and reconnected. */
  keepAliveMs?: number;
  pongTimeoutMs?: number;
  /** No connection_ack this long (ms) after connection_init: the socket is dropped and retried; 15 000. */
  ackTimeoutMs?: number;
  /** A socket up this long (ms) starts the reconnect backoff and the one token refresh afresh; 10 000. */
  stableAfterMs?: number;
};

/**
 * Close codes after which reconnecting cannot help (src/realtime/close-codes.ts; 4401 is handled
 * apart). Every other close is retried, even those graphql-ws gives up on by itself (1011, which
 * Parley sends when connecting failed on its side "so that clients retry", 4500…).
 */
const FATAL_CLOSE: Record<number, 'FORBIDDEN' | 'CONNECTION_CLOSED'> = {
  4403: 'FORBIDDEN', // suspended tenant, or an Origin the app does not allow
  4400: 'CONNECTION_CLOSED', // the protocol was broken: a bug, not a network problem
  4406: 'CONNECTION_CLOSED',
};
const UNAUTHORIZED = 4401;

const closeCodeOf = (value: unknown): number | undefined =>
  typeof value === 'object' && value !== null && 'code' in value && typeof value.code === 'number' ? value.code : undefined;

export const webSocketUrl = (httpUrl: string) => httpUrl.replace(/^http(s?):/i, 'ws$1:');

/**
 * One graphql-ws client for the whole ParleyClient, created on first use (lazy: the socket is
 * open while something is subscribed). graphql-ws retries forever here, with our backoff, and
 * resubscribes every operation on the new socket; the closes it gives up on by itself (1011,
 * 4500, 4401…) are retried by each subscription (`lost`). Parley's close codes decide what is final.
 */
export function createRealtime(options: RealtimeOptions): Realtime {
  const { url, tokens, webSocketImpl, reconnect, keepAliveMs = 10_000, pongTimeoutMs = 5_000, ackTimeoutMs = 15_000, stableAfterMs = 10_000 } = options;
  let state: ConnectionState = 'idle';
  let error: ParleyError | undefined;
  let client: Client | undefined;
  let disposed = false;
  let connectedOnce = false;
  /** The token the current socket authenticated with (to drop it when the server refuses it). */
  let socketToken: string | undefined;
  /** One new token per refusal: a token refused again before the socket was stable is final. */
  let refreshedSinceStable = false;
  /** Reconnects made here, not by graphql-ws (after the closes it gives up on), since the last stable socket. */
  let restarts = 0;
  let restart: { socket: number; wait: Promise<void> } | undefined;
  let stableTimer: ReturnType<typeof setTimeout> | undefined;
  /** Sockets opened so far: the subscriptions of one refused socket share one getToken call. */
  let socketNumber = 0;
  let reauth: { socket: number; retry: Promise<boolean> } | undefined;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;
  const stateListeners = new Set<(state: ConnectionState) => void>();
  const reconnectListeners = new Set<() => void>();
  /** The live subscriptions, each with the function that ends it (telling its sink why, if given). */
  const active = new Map<object, (why?: ParleyError) => void>();

  const setState = (next: ConnectionState, err?: ParleyError) => {
    error = next === 'closed' ? err : undefined;
    if (next === state) return;
    state = next;
    for (const listener of [...stateListeners]) listener(next);
  };

  function getClient(): Client {
    if (client) return client;
    const created: Client = createClient({
      url: webSocketUrl(url),
      ...(webSocketImpl ? { webSocketImpl } : {}),
      lazy: true,
      connectionParams: async () => {
        socketNumber += 1;
        socketToken = await tokens.get();
        return { authorization: `Bearer ${socketToken}` };
      },
      // A server that never acks (a hung onConnect) must not leave the state 'connecting'
      // forever: the socket is closed (4504, retried like a network loss).
      connectionAckWaitTimeout: ackTimeoutMs,
      // A gap refill (unsubscribe, then subscribe again) must not close and reopen the socket.
      lazyCloseTimeout: 1_000,
      ...(keepAliveMs > 0 ? { keepAlive: keepAliveMs } : {}),
      retryAttempts: Infinity,
      retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, backoffDelay(retries, reconnect))),
      // Network errors (refused, reset) and every close but the fatal ones are retried: a
      // restart (1012), a killed node (1006), a slow consumer (4008), too many sockets (4029).
      shouldRetry: (errOrClose) => {
        const code = closeCodeOf(errOrClose);
        return code === undefined || !(code in FATAL_CLOSE);
      },
      on: {
        connecting: (isRetry) => setState(isRetry || state === 'reconnecting' ? 'reconnecting' : 'connecting'),
        connected: () => {
          // Budgets are renewed only by a socket that stays up: two tabs revoking each other's
          // sessions, or a server that acks then closes, must not loop at full speed.
          clearTimeout(stableTimer);
          stableTimer = setTimeout(() => {
            refreshedSinceStable = false;
            restarts = 0;
          }, stableAfterMs);
          setState('connected');
          if (connectedOnce) for (const listener of [...reconnectListeners]) listener();
          connectedOnce = true;
        },
        // graphql-ws sends the pings but never notices a missing pong: a dead network (no
        // close event for minutes) is noticed here, and the socket dropped to reconnect.
        ping: (received) => {
          if (received) return;
          clearTimeout(pongTimer);
          pongTimer = setTimeout(() => created.terminate(), pongTimeoutMs);
        },
        pong: (received) => {
          if (received) clearTimeout(pongTimer);
        },
        closed: () => {
          clearTimeout(pongTimer);
          clearTimeout(stableTimer);
          if (disposed) setState('closed');
          else setState(active.size > 0 ? 'reconnecting' : 'idle');
        },
        error: () => {
          if (!disposed && active.size > 0) setState('reconnecting');
        },
      },
    });
    return (client = created);
  }

  /** A refused token: ask getToken once for a new one; true if worth connecting again. */
  function reauthenticate(): Promise<boolean> {
    const refused = socketToken;
    if (!refused) return Promise.resolve(false);
    if (reauth?.socket === socketNumber) return reauth.retry;
    const retry =
      refreshedSinceStable || !tokens.invalidate(refused)
        ? Promise.resolve(false)
        : tokens.get().then(
            () => true,
            // getToken unreachable (offline): connecting again asks it again, with backoff.
            (err: unknown) => err instanceof ParleyError && err.code === 'NETWORK_ERROR',
          );
    refreshedSinceStable = true;
    reauth = { socket: socketNumber, retry };
    return retry;
  }

  /** The pause before connecting again after a lost socket: one per socket, shared by its subscriptions. */
  function restartDelay(): Promise<void> {
    if (restart?.socket === socketNumber) return restart.wait;
    setState('reconnecting');
    const wait = sleep(backoffDelay(restarts++, reconnect));
    restart = { socket: socketNumber, wait };
    return wait;
  }

  function subscribe<R, V>(document: TypedDocumentNode<R, V>, variables: () => V, sink: Sink<R>): () => void {
    if (disposed) {
      queueMicrotask(() => sink.error(closedError()));
      return () => {};
    }
    const handle = {};
    let stopped = false;
    /** The graphql-ws subscription in use: callbacks of one given up are ignored. */
    let current: object | undefined;
    let unsubscribe = () => {};
    /** Transient server errors in a row (INTERNAL, RATE_LIMITED), for the backoff. */
    let serverErrors = 0;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    const query = print(document);
    const end = () => {
      stopped = true;
      current = undefined;
      clearTimeout(retryTimer);
      active.delete(handle);
    };
    const stop = (why?: ParleyError) => {
      if (stopped) return;
      end();
      unsubscribe();
      if (why) sink.error(why);
    };
    const start = () => {
      if (stopped || disposed) return;
      const mine = {};
      current = mine;
      const payload = {
        query,
        // A getter: graphql-ws stringifies the payload again on each resubscription.
        get variables() {
          return variables() as Record<string, unknown>;
        },
      };
      unsubscribe = getClient().subscribe<R>(payload, {
        next: (result) => {
          if (current !== mine) return;
          if (result.errors?.length && !result.data) return void answered(ParleyError.fromGraphQLErrors(result.errors as unknown as GraphQLErrorShape[]));
          serverErrors = 0;
          if (result.data) sink.next(result.data as R);
        },
        complete: () => {
          if (current !== mine) return;
          end();
          sink.complete();
        },
        error: (err) => {
          if (current !== mine) return;
          if (Array.isArray(err)) return void answered(ParleyError.fromGraphQLErrors(err as GraphQLErrorShape[]));
          void lost(err);
        },
      });
    };
    /**
     * The server answered the subscription with an error. INTERNAL and RATE_LIMITED are passing:
     * subscribe again after a pause (a stream resumes by its variables, e.g. afterSeq); the
     * others (NOT_FOUND, FORBIDDEN, UNAUTHENTICATED, BAD_USER_INPUT) are final.
     */
    const answered = (err: ParleyError) => {
      current = undefined;
      unsubscribe();
      if (err.code !== 'INTERNAL' && err.code !== 'RATE_LIMITED') {
        end();
        return sink.error(err);
      }
      const wait = err.retryAfterSeconds ? err.retryAfterSeconds * 1000 : backoffDelay(serverErrors, reconnect);
      serverErrors += 1;
      retryTimer = setTimeout(start, wait);
    };
    /** The socket was lost and graphql-ws gave up on it: the close code decides. */
    const lost = async (err: unknown) => {
      current = undefined;
      const code = closeCodeOf(err);
      const final =
        code !== undefined && code in FATAL_CLOSE
          ? new ParleyError(FATAL_CLOSE[code]!, `The socket was closed for good (${code}${reasonOf(err)})`)
          : code === UNAUTHORIZED && !(await reauthenticate())
            ? new ParleyError('UNAUTHENTICATED', 'The token was refused (expired, revoked or invalid)')
            : undefined;
      if (stopped) return;
      if (final) {
        end();
        setState('closed', final);
        return sink.error(final);
      }
      // 1011 (Parley failed to connect us: "retry"), 4500, a refreshed token after 4401…
      await restartDelay();
      start();
    };
    active.set(handle, stop);
    start();
    return () => stop();
  }

  return {
    connection: {
      get state() {
        return state;
      },
      get error() {
        return error;
      },
      subscribe(listener) {
        stateListeners.add(listener);
        return () => void stateListeners.delete(listener);
      },
    },
    subscribe,
    onReconnected(listener) {
      reconnectListeners.add(listener);
      return () => void reconnectListeners.delete(listener);
    },
    async close() {
      disposed = true;
      clearTimeout(pongTimer);
      clearTimeout(stableTimer);
      for (const stop of [...active.values()]) stop(closedError());
      reconnectListeners.clear();
      // A connection attempt waiting for its retry ends with "All Subscriptions Gone": fine.
      const disposing = Promise.resolve(client?.dispose()).catch(() => {});
      // dispose() waits for a socket still connecting to be acked (then closes it): not close().
      if (state === 'connected') await disposing;
      setState('closed');
    },
  };
}

const closedError = () => new ParleyError('CONNECTION_CLOSED', 'The client was closed');

const reasonOf = (err: unknown) =>
  typeof err === 'object' && err !== null && 'reason' in err && err.reason ? `: ${String(err.reason)}` : '';

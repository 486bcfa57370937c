import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createApi, type ParleyApi } from './api.ts';
import type { BackoffOptions } from './backoff.ts';
import { createRealtime, type Connection } from './connection.ts';
import { createConversation, type ParleyConversation } from './conversation.ts';
import type { ConversationEvent } from './conversation-stream.ts';
import type { ParleyError } from './errors.ts';
import { InboxEventsDocument, type ParleyUserFragment } from './generated/graphql.ts';
import { createRequester } from './http.ts';
import { watchPresence, type Presence } from './presence.ts';
import { createTokenSource } from './token-source.ts';

export type ParleyClientOptions = {
  /** The GraphQL endpoint over HTTP(S), e.g. http://localhost:4000/graphql; the WebSocket URL is derived. */
  url: string;
  /** A user token (from the app's server, createUserToken). */
  token?: string;
  /** Returns a fresh user token: called at start, before the current one expires, and once after a refusal. */
  getToken?: () => Promise<string>;
  /** A WebSocket class where there is no global one (Node 20: `ws`). */
  webSocketImpl?: unknown;
  fetch?: typeof fetch;
  /** Reconnect delays: exponential from minDelayMs (500) to maxDelayMs (15 000), with jitter. */
  reconnect?: BackoffOptions;
  /** How many times a send is tried (network errors, INTERNAL, RATE_LIMITED) before it is 'failed'; 10. */
  sendAttempts?: number;
  /** At most one `typing: true` per this many ms (the server lets one lapse after 5 s); 3000. */
  typingThrottleMs?: number;
  /** Protocol pings (ms) that detect a dead network; 10 000; 0: none. */
  keepAliveMs?: number;
  /** An HTTP request without an answer this long (ms) fails as NETWORK_ERROR (a send retries it); 30 000. */
  requestTimeoutMs?: number;
};

export type ParleyClient = {
  /** Any typed document (generated from schema.graphql): its data, or a thrown ParleyError. */
  request<R, V>(document: TypedDocumentNode<R, V>, ...variables: {} extends V ? [variables?: V] : [variables: V]): Promise<R>;
  /** One typed method per end-user query and mutation; each returns its root field. */
  api: ParleyApi;
  connection: Connection;
  /** The caller (read once, then cached). */
  me(): Promise<ParleyUserFragment>;
  conversation(conversationId: string): ParleyConversation;
  /** Live events of every conversation the caller is in (not resumable: use conversation().events for that). */
  inbox(onEvent: (event: ConversationEvent) => void, options?: { onEnd?: (error?: ParleyError) => void }): () => void;
  /** Current presence of the users, then every change (read again after a reconnect). */
  presence(userIds: string[], onPresence: (presence: Presence) => void, options?: { onError?: (error: ParleyError) => void }): () => void;
  /**
   * Closes the socket for good: every stream and view ends (CONNECTION_CLOSED), sends still
   * waiting to retry fail, and new streams end at once. HTTP requests still work.
   */
  close(): Promise<void>;
};

export function createParleyClient(options: ParleyClientOptions): ParleyClient {
  const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
  if (!fetchImpl) throw new TypeError('No fetch: pass `fetch` to createParleyClient');
  const tokens = createTokenSource(options);
  const request = createRequester({
    url: options.url,
    tokens,
    fetch: fetchImpl,
    ...(options.requestTimeoutMs !== undefined ? { timeoutMs: options.requestTimeoutMs } : {}),
  });
  /** Aborted by close(): ends the waits between send retries. */
  const lifetime = new AbortController();
  const api = createApi(request);
  const realtime = createRealtime({
    url: options.url,
    tokens,
    webSocketImpl: options.webSocketImpl,
    ...(options.reconnect ? { reconnect: options.reconnect } : {}),
    ...(options.keepAliveMs !== undefined ? { keepAliveMs: options.keepAliveMs } : {}),
  });
  let me: Promise<ParleyUserFragment> | undefined;
  const meOnce = () => {
    me ??= api.me();
    me.catch(() => (me = undefined));
    return me;
  };
  const conversations = new Map<string, ParleyConversation>();
  const conversationDeps = {
    api,
    realtime,
    me: meOnce,
    sendAttempts: options.sendAttempts ?? 10,
    typingThrottleMs: options.typingThrottleMs ?? 3_000,
    closed: lifetime.signal,
  };

  return {
    request: (document, ...[variables]) => request(document, variables as never),
    api,
    connection: realtime.connection,
    me: meOnce,
    conversation(conversationId) {
      let conversation = conversations.get(conversationId);
      if (!conversation) conversations.set(conversationId, (conversation = createConversation(conversationDeps, conversationId)));
      return conversation;
    },
    inbox(onEvent, { onEnd } = {}) {
      return realtime.subscribe(InboxEventsDocument, () => ({}), {
        next: ({ inboxEvents }) => onEvent(inboxEvents),
        error: (err) => onEnd?.(err),
        complete: () => onEnd?.(),
      });
    },
    presence(userIds, onPresence, { onError } = {}) {
      return watchPresence({ api, realtime }, userIds, onPresence, onError);
    },
    close: () => {
      lifetime.abort();
      return realtime.close();
    },
  };
}

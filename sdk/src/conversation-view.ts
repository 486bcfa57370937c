import type { ParleyApi } from './api.ts';
import { backoffDelay } from './backoff.ts';
import type { ConversationEvent } from './conversation-stream.ts';
import { isTransient, ParleyError } from './errors.ts';
import type { LocalMessage, Message, Outbox } from './outbox.ts';

/** A server message, with the client id of the local echo it replaced (a stable key for UIs). */
export type ServerMessage = Message & { clientId?: string };
export type ViewMessage = ServerMessage | LocalMessage;

/** What a chat UI renders, recomputed on every change. */
export type ConversationView = {
  /** Server messages by seq, then local echoes ('pending' | 'failed') in the order they were sent. */
  messages: ViewMessage[];
  /** Who is typing now, the caller excepted. */
  typingUserIds: string[];
  /** False until the newest page and the caller are loaded. */
  ready: boolean;
  /** There are older messages: call loadOlder(). */
  hasOlder: boolean;
  /** No longer followed live (removed from the conversation, client closed…): see the watch's onEnd. */
  ended: boolean;
  loadOlder(): Promise<void>;
};

export type WatchDeps = {
  api: ParleyApi;
  conversationId: string;
  me: () => Promise<{ id: string }>;
  outbox: Outbox;
  noteSeq: (seq: number) => void;
  /** Starts the conversation's event stream after `afterSeq`. */
  events: (onEvent: (event: ConversationEvent) => void, afterSeq: number, onEnd: (error?: ParleyError) => void) => () => void;
  /** Called after each reconnect of the socket; returns the function that stops it. */
  onReconnected: (listener: () => void) => () => void;
};

export type WatchOptions = {
  pageSize: number;
  /** A failure the view lives through (a page that could not be read…). */
  onError?: (error: ParleyError) => void;
  /** The view stopped following the conversation: removed from it (no error), or for good (NOT_FOUND, CONNECTION_CLOSED…). */
  onEnd?: (error?: ParleyError) => void;
};

/** A typing indicator not renewed this long (ms) is dropped: the server lets one lapse after 5 s. */
export const TYPING_TTL_MS = 6_000;

/** Later states of a message win, whichever way they arrive (event, history, send answer). */
const version = (m: Message) => [m.status === 'DELETED' ? 2 : m.status === 'EDITED' ? 1 : 0, m.editedAt ?? ''] as const;
const newerOrSame = (a: Message, b: Message) => {
  const [ra, ea] = version(a);
  const [rb, eb] = version(b);
  return ra !== rb ? ra > rb : ea >= eb;
};

/**
 * History + live events + optimistic echoes, merged. The newest page is read after the
 * conversation's lastSeq, and events are followed from that lastSeq, so nothing falls between.
 *
 * Never twice: a local echo is replaced by the message its send returned. The caller's own
 * message may arrive as an event before that answer; while a send is pending, the caller's
 * messages newer than what was known when it started are held back until the answer says
 * which of them it was.
 */
export function watchConversation(deps: WatchDeps, onView: (view: ConversationView) => void, options: WatchOptions) {
  const { api, conversationId, outbox } = deps;
  const server = new Map<string, ServerMessage>();
  /** Who is typing, each with the timer that drops them (a lost "false" must not stick). */
  const typing = new Map<string, ReturnType<typeof setTimeout>>();
  let myId: string | undefined;
  let ready = false;
  let hasOlder = false;
  let olderCursor: string | null | undefined;
  let stopped = false;
  let stopEvents = () => {};
  let loadingOlder: Promise<void> | undefined;
  let startTimer: ReturnType<typeof setTimeout> | undefined;
  let ended = false;

  const fail = (err: unknown) => {
    if (stopped) return;
    options.onError?.(err instanceof ParleyError ? err : new ParleyError('INTERNAL', String(err), { cause: err }));
  };

  function upsert(message: Message, clientId = outbox.clientIdOf(message.id)) {
    deps.noteSeq(message.seq);
    const existing = server.get(message.id);
    if (existing && !newerOrSame(message, existing)) return;
    const merged: ServerMessage = { ...message };
    const key = clientId ?? existing?.clientId;
    if (key) merged.clientId = key;
    server.set(message.id, merged);
  }

  const stopTyping = (userId: string) => {
    clearTimeout(typing.get(userId));
    typing.delete(userId);
  };

  function render() {
    if (stopped) return;
    const locals = outbox.locals();
    const pending = locals.filter((l) => l.status === 'pending');
    // A message of mine that may be a pending send's (newer than what was known when it was
    // sent, same body) waits for the send's answer; the rest of my history stays visible.
    const held = (m: ServerMessage) => m.sender.id === myId && !m.clientId && pending.some((l) => m.seq > l.afterSeq && m.body === l.body);
    const shown = [...server.values()].filter((m) => !held(m)).sort((a, b) => a.seq - b.seq);
    onView({
      messages: [...shown, ...locals],
      typingUserIds: [...typing.keys()],
      ended,
      ready,
      hasOlder,
      loadOlder,
    });
  }

  function onEvent(event: ConversationEvent) {
    if (event.seq !== null) deps.noteSeq(event.seq);
    switch (event.__typename) {
      case 'MessageCreated':
        stopTyping(event.message.sender.id);
        upsert(event.message);
        break;
      case 'MessageUpdated':
      case 'MessageDeleted':
        // A message older than the loaded pages: its page brings its latest state when loaded.
        if (!server.has(event.message.id)) return;
        upsert(event.message);
        break;
      case 'Typing':
        if (event.userId === myId) return;
        stopTyping(event.userId);
        if (event.typing)
          typing.set(
            event.userId,
            setTimeout(() => {
              typing.delete(event.userId);
              render();
            }, TYPING_TTL_MS),
          );
        break;
      default:
        return;
    }
    render();
  }

  async function loadPage(before?: string) {
    const page = await api.messages({ conversationId, last: options.pageSize, ...(before ? { before } : {}) });
    for (const { node } of page.edges) upsert(node);
    olderCursor = page.pageInfo.startCursor;
    hasOlder = page.pageInfo.hasPreviousPage;
  }

  function loadOlder(): Promise<void> {
    if (!ready || !hasOlder || !olderCursor) return Promise.resolve();
    loadingOlder ??= loadPage(olderCursor)
      .then(render, (err: unknown) => {
        fail(err);
        throw err;
      })
      .finally(() => (loadingOlder = undefined));
    return loadingOlder;
  }

  async function start() {
    const [me, conversation] = await Promise.all([deps.me(), api.conversation({ id: conversationId })]);
    if (!conversation) throw new ParleyError('NOT_FOUND', 'Conversation not found');
    myId = me.id;
    deps.noteSeq(conversation.lastSeq);
    await loadPage();
    if (stopped) return;
    ready = true;
    stopEvents = deps.events(onEvent, conversation.lastSeq, (error) => {
      if (stopped) return;
      ended = true;
      render();
      options.onEnd?.(error);
    });
    render();
  }

  /** The first load, again with backoff while it fails for a passing reason (offline, INTERNAL). */
  function startWithRetries(attempt = 0) {
    start().catch((err: unknown) => {
      if (stopped) return;
      fail(err);
      if (isTransient(err)) return void (startTimer = setTimeout(() => startWithRetries(attempt + 1), backoffDelay(attempt)));
      ended = true;
      render();
      options.onEnd?.(err instanceof ParleyError ? err : undefined);
    });
  }

  const unlisten = outbox.listen((change) => {
    if (change) upsert(change.message, change.clientId);
    render();
  });
  // Typing events missed while the socket was down (a "false" among them) are not replayed.
  const offReconnected = deps.onReconnected(() => {
    if (!typing.size) return;
    for (const userId of [...typing.keys()]) stopTyping(userId);
    render();
  });
  startWithRetries();

  return () => {
    stopped = true;
    clearTimeout(startTimer);
    for (const userId of [...typing.keys()]) stopTyping(userId);
    unlisten();
    offReconnected();
    stopEvents();
  };
}

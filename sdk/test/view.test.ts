import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ParleyApi } from '../src/api.ts';
import type { ConversationEvent } from '../src/conversation-stream.ts';
import { TYPING_TTL_MS, watchConversation, type ConversationView } from '../src/conversation-view.ts';
import { ParleyError } from '../src/errors.ts';
import { createOutbox, type Message } from '../src/outbox.ts';

// The view's merging, with a fake api and a fake event source: the orderings a real server
// produces only by chance (an event before the answer of its send) are forced here.

const user = (id: string) => ({ id, externalId: id, displayName: null, metadata: {}, createdAt: new Date(0).toISOString() });
const message = (seq: number, body: string, senderId = 'usr_me', extra: Partial<Message> = {}): Message => ({
  id: `msg_${seq}`,
  conversationId: 'cnv_1',
  seq,
  body,
  metadata: {},
  status: 'SENT',
  createdAt: new Date(0).toISOString(),
  editedAt: null,
  deletedAt: null,
  attachments: [],
  sender: user(senderId),
  ...extra,
});
const event = (fields: object): ConversationEvent => ({ conversationId: 'cnv_1', at: new Date(0).toISOString(), type: 'x', seq: null, ...fields }) as ConversationEvent;
const created = (m: Message) => event({ __typename: 'MessageCreated', seq: m.seq, message: m });

/** A promise and the functions that settle it. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

function setup(options: { history?: Message[]; lastSeq?: number; conversation?: () => Promise<unknown> } = {}) {
  const history = options.history ?? [];
  const answers: ReturnType<typeof deferred<Message>>[] = [];
  const api = {
    conversation: vi.fn(options.conversation ?? (async () => ({ id: 'cnv_1', lastSeq: options.lastSeq ?? history.at(-1)?.seq ?? 0 }))),
    messages: vi.fn(async () => ({
      edges: history.map((node) => ({ cursor: String(node.seq), node })),
      pageInfo: { hasPreviousPage: false, hasNextPage: false, startCursor: null, endCursor: null },
    })),
    sendMessage: vi.fn(() => {
      const answer = deferred<Message>();
      answers.push(answer);
      return answer.promise;
    }),
  } as unknown as ParleyApi;
  let knownSeq = 0;
  const outbox = createOutbox({ api, conversationId: 'cnv_1', knownSeq: () => knownSeq, attempts: 1 });
  let push: (event: ConversationEvent) => void = () => {};
  let end: (error?: ParleyError) => void = () => {};
  const reconnected = new Set<() => void>();
  const views: ConversationView[] = [];
  const ends: unknown[] = [];
  const errors: ParleyError[] = [];
  const unwatch = watchConversation(
    {
      api,
      conversationId: 'cnv_1',
      me: async () => ({ id: 'usr_me' }),
      outbox,
      noteSeq: (seq) => void (knownSeq = Math.max(knownSeq, seq)),
      events: (onEvent, _afterSeq, onEnd) => {
        push = onEvent;
        end = onEnd;
        return () => {};
      },
      onReconnected: (listener) => (reconnected.add(listener), () => void reconnected.delete(listener)),
    },
    (view) => views.push(view),
    { pageSize: 50, onEnd: (error) => ends.push(error ?? 'removed'), onError: (error) => errors.push(error) },
  );
  return {
    api,
    outbox,
    views,
    ends,
    errors,
    unwatch,
    answers,
    push: (e: ConversationEvent) => push(e),
    end: (error?: ParleyError) => end(error),
    reconnect: () => reconnected.forEach((l) => l()),
    view: () => views.at(-1)!,
    bodies: () => views.at(-1)!.messages.map((m) => m.body),
  };
}

afterEach(() => void vi.useRealTimers());

describe('watchConversation', () => {
  it("shows a sent message once when its event arrives before the send's answer", async () => {
    const v = setup({ history: [message(1, 'hello', 'usr_other')] });
    await vi.waitFor(() => expect(v.view().ready).toBe(true));
    const { local, sent } = v.outbox.send({ body: 'mine' });
    expect(v.bodies()).toEqual(['hello', 'mine']);
    const stored = message(2, 'mine');
    v.push(created(stored)); // the event first…
    expect(v.bodies()).toEqual(['hello', 'mine']);
    v.answers[0]!.resolve(stored); // …then the answer
    await sent;
    expect(v.bodies()).toEqual(['hello', 'mine']);
    expect(v.view().messages.at(-1)).toMatchObject({ id: 'msg_2', seq: 2, clientId: local.clientId });
    for (const view of v.views) expect(new Set(view.messages.map((m) => m.body)).size).toBe(view.messages.length);
  });

  it('a send made before the view is ready hides none of my other messages', async () => {
    const conversation = deferred<unknown>();
    const v = setup({ history: [message(1, 'earlier'), message(2, 'other', 'usr_other')], conversation: () => conversation.promise });
    v.outbox.send({ body: 'new' }); // knownSeq is still 0
    conversation.resolve({ id: 'cnv_1', lastSeq: 2 });
    await vi.waitFor(() => expect(v.view().ready).toBe(true));
    expect(v.bodies()).toEqual(['earlier', 'other', 'new']);
  });

  it('ignores edits and deletions of messages outside the loaded pages, and applies the others', async () => {
    const v = setup({ history: [message(5, 'loaded', 'usr_other')] });
    await vi.waitFor(() => expect(v.view().ready).toBe(true));
    v.push(event({ __typename: 'MessageUpdated', seq: 6, message: message(1, 'old, edited', 'usr_other', { id: 'msg_old', status: 'EDITED', editedAt: 'x' }) }));
    v.push(event({ __typename: 'MessageUpdated', seq: 7, message: message(5, 'loaded, edited', 'usr_other', { status: 'EDITED', editedAt: 'x' }) }));
    expect(v.bodies()).toEqual(['loaded, edited']);
  });

  it('drops a typing indicator after the TTL when its "false" was lost, and all of them on reconnect', async () => {
    vi.useFakeTimers();
    const v = setup();
    await vi.waitFor(() => expect(v.view().ready).toBe(true));
    v.push(event({ __typename: 'Typing', userId: 'usr_a', typing: true }));
    expect(v.view().typingUserIds).toEqual(['usr_a']);
    await vi.advanceTimersByTimeAsync(TYPING_TTL_MS - 100);
    v.push(event({ __typename: 'Typing', userId: 'usr_a', typing: true })); // renewed
    await vi.advanceTimersByTimeAsync(TYPING_TTL_MS - 100);
    expect(v.view().typingUserIds).toEqual(['usr_a']);
    await vi.advanceTimersByTimeAsync(200);
    expect(v.view().typingUserIds).toEqual([]);
    v.push(event({ __typename: 'Typing', userId: 'usr_b', typing: true }));
    v.reconnect();
    expect(v.view().typingUserIds).toEqual([]);
  });

  it('retries a first load that failed for a passing reason; a final one ends the view', async () => {
    vi.useFakeTimers();
    let failures = 2;
    const v = setup({
      conversation: async () => {
        if (failures-- > 0) throw new ParleyError('NETWORK_ERROR', 'offline');
        return { id: 'cnv_1', lastSeq: 0 };
      },
    });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(v.view().ready).toBe(true);
    expect(v.errors.map((e) => e.code)).toEqual(['NETWORK_ERROR', 'NETWORK_ERROR']);
    expect(v.ends).toEqual([]);

    const gone = setup({ conversation: async () => null });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(gone.ends).toEqual([expect.objectContaining({ code: 'NOT_FOUND' })]);
    expect(gone.api.conversation).toHaveBeenCalledTimes(1);
  });

  it('tells the app when the stream ends (removed from the conversation)', async () => {
    const v = setup();
    await vi.waitFor(() => expect(v.view().ready).toBe(true));
    v.end();
    expect(v.ends).toEqual(['removed']);
    expect(v.view().ended).toBe(true);
  });
});

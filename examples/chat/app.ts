// The example chat page: join with a name, then one room through the SDK. Everything a chat UI
// needs comes from `convo.watch` (history, live events and optimistic echoes, reconciled) and
// `client.connection`; this file only draws them.
import { createParleyClient } from '../../sdk/src/index.ts';
import { renderMessages } from './render.ts';

type Session = { userId: string; displayName: string; conversationId: string; token: string; expiresAt: string; graphqlUrl: string };

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

async function postJson<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(answer.error ?? `HTTP ${res.status}`);
  return answer;
}

$('join').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  form.querySelector('button')!.disabled = true;
  try {
    start(await postJson<Session>('/session', { name: $<HTMLInputElement>('name').value }));
  } catch (err) {
    $('join-error').textContent = `Could not join: ${(err as Error).message}`;
    form.querySelector('button')!.disabled = false;
  }
});

function start(session: Session) {
  $('join').hidden = true;
  $('chat').hidden = false;
  $('me').textContent = session.displayName;

  const client = createParleyClient({
    url: session.graphqlUrl,
    token: session.token,
    // Tokens live a couple of minutes: the SDK asks the app's backend for the next one in time.
    getToken: async () => (await postJson<{ token: string }>('/token', {})).token,
    // A message written offline stays pending (retried with backoff, at most 5 s apart) for
    // about five minutes before it shows "not sent · retry": a short loss of network (a
    // train tunnel) should not need a click.
    sendAttempts: 60,
  });

  // The badge: the socket's state, and "offline" when the browser knows it has no network.
  const badge = $('status');
  const showConnection = () => {
    const state = client.connection.state;
    const shown = !navigator.onLine ? 'offline' : state === 'connected' ? 'connected' : state === 'closed' ? 'offline' : 'reconnecting';
    badge.dataset.state = shown;
    badge.dataset.connection = state; // the SDK's own word, for the curious (and the test)
    badge.textContent = shown;
  };
  client.connection.subscribe(showConnection);
  window.addEventListener('online', showConnection);
  window.addEventListener('offline', showConnection);
  showConnection();

  const convo = client.conversation(session.conversationId);
  const names = new Map<string, string>([[session.userId, session.displayName]]);
  // Names for "X is typing…" before X has written anything: the members, read again when
  // someone new turns up.
  let readingMembers: Promise<void> | undefined;
  const readMembers = () =>
    (readingMembers ??= client.api
      .conversation({ id: session.conversationId })
      .then((c) => c?.members.forEach((m) => names.set(m.userId, m.user.displayName ?? m.user.externalId)))
      .catch(() => {})
      .finally(() => (readingMembers = undefined)));
  void readMembers();

  // Read receipts: whatever is on screen while the tab is visible has been read.
  let lastSeq = 0;
  let lastRead = 0;
  const markRead = () => {
    if (document.visibilityState !== 'visible' || lastSeq <= lastRead) return;
    lastRead = lastSeq;
    convo.markRead(lastSeq).catch(() => (lastRead = 0));
  };
  document.addEventListener('visibilitychange', markRead);

  let typingNow: string[] = [];
  const showTyping = (userIds: string[]) => {
    typingNow = userIds;
    const who = typingNow.map((id) => names.get(id) ?? 'Someone');
    $('typing').textContent =
      who.length === 0 ? '' : who.length === 1 ? `${who[0]} is typing…` : `${who.slice(0, -1).join(', ')} and ${who.at(-1)} are typing…`;
  };

  const list = $('messages');
  const older = $<HTMLButtonElement>('older');
  let loadOlder = async () => {};
  // A failed page is reported through the view's onError; the button stays for another try.
  older.addEventListener('click', () => void loadOlder().catch(() => {}));

  convo.watch(
    (view) => {
      const { messages } = view;
      for (const m of messages) if ('sender' in m) names.set(m.sender.id, m.sender.displayName ?? m.sender.externalId);
      // A failed send is tried again with its idempotency key: it can never arrive twice.
      renderMessages(list, messages, { me: session.userId, retry: (m) => m.clientId && void convo.retry(m.clientId).catch(() => {}) });
      older.hidden = !view.hasOlder;
      loadOlder = view.loadOlder;
      if (view.typingUserIds.some((id) => !names.has(id))) void readMembers().then(() => showTyping(typingNow));
      showTyping(view.typingUserIds);
      lastSeq = Math.max(lastSeq, ...messages.map((m) => m.seq ?? 0));
      markRead();
    },
    // The room could not be read, or the stream ended for good: say so rather than sit empty.
    {
      onError: (err) => ($('trouble').textContent = `Trouble: ${err.message}`),
      onEnd: (err) => ($('trouble').textContent = err ? `Disconnected: ${err.message}` : 'You are no longer in this room'),
    },
  );

  // The composer: Enter sends (the SDK shows it at once as pending), typing is announced while
  // there is text (the SDK sends at most one "typing" every few seconds).
  const input = $<HTMLInputElement>('body');
  input.addEventListener('input', () => convo.typing(input.value.trim() !== ''));
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    input.value = '';
    convo.typing(false);
    // Failures show on the message itself (status "failed", with a retry), so nothing to catch here.
    convo.send({ body }).sent.catch(() => {});
  });
  input.focus();
}

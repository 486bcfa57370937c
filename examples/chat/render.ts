import type { ViewMessage } from '../../sdk/src/index.ts';

// Draws the message list from the SDK's view. Rows are keyed and reused, so a re-render moves
// and updates rows rather than rebuilding the list (no flicker, the scroll position holds).
// The key is the local echo's client id, which the server's message keeps (`clientId`) once it
// replaces the echo: the same row goes from pending to sent.

type Options = { me: string; retry: (message: ViewMessage) => void };

const rows = new WeakMap<HTMLElement, Map<string, HTMLLIElement>>();
const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

export function renderMessages(list: HTMLElement, messages: ViewMessage[], { me, retry }: Options) {
  const stickToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const previous = rows.get(list) ?? new Map<string, HTMLLIElement>();
  const next = new Map<string, HTMLLIElement>();
  for (const message of messages) {
    const key = message.clientId ?? message.id;
    const row = previous.get(key) ?? document.createElement('li');
    draw(row, message, me, retry);
    next.set(key, row);
    list.appendChild(row); // in order: appending an existing row moves it
  }
  for (const [key, row] of previous) if (!next.has(key)) row.remove();
  rows.set(list, next);
  if (stickToBottom) list.scrollTop = list.scrollHeight;
}

function draw(row: HTMLLIElement, message: ViewMessage, me: string, retry: Options['retry']) {
  const status = message.status.toLowerCase();
  const drawn = `${message.id}|${status}|${message.body}`;
  if (row.dataset.drawn === drawn) return;
  row.dataset.drawn = drawn;
  row.dataset.id = message.id;
  row.dataset.status = status;
  if (message.seq != null) row.dataset.seq = String(message.seq);
  else delete row.dataset.seq;
  const sender = 'sender' in message ? message.sender : null; // local echoes are the caller's own
  row.className = !sender || sender.id === me ? 'mine' : '';

  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = sender ? (sender.displayName ?? sender.externalId) : '';
  const body = document.createElement('span');
  body.className = 'body';
  body.textContent = status === 'deleted' ? '(deleted)' : message.body;
  const note = document.createElement('span');
  note.className = 'note';
  if (status === 'pending') note.textContent = 'sending…';
  else if (status === 'failed') {
    note.append('not sent · ');
    const again = document.createElement('button');
    again.className = 'link';
    again.type = 'button';
    again.textContent = 'retry';
    again.addEventListener('click', () => retry(message));
    note.append(again);
  } else note.textContent = time.format(new Date(message.createdAt));
  row.replaceChildren(who, body, note);
}

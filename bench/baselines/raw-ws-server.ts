/**
 * Baseline of `npm run bench`: the least a fanout server can do. A `ws` server whose clients
 * subscribe to a conversation with `{"subscribe":"<conversationId>"}` (answered
 * `{"type":"subscribed"}`); `POST /publish {conversationId, body}` serializes ONE
 * graphql-transport-ws `next` frame shaped like Parley's MessageCreated (same fields, same
 * id lengths) and writes that string to every socket of the conversation. No auth, no
 * store, no per-subscriber work beyond the write. Listens on 127.0.0.1:$PORT.
 */
import { createServer } from 'node:http';
import { ulid } from 'ulid';
import { WebSocketServer, type WebSocket } from 'ws';
import { nextFrame } from '../lib/wire.ts';

const port = Number(process.env.PORT ?? 0);
const subscribers = new Map<string, Set<WebSocket>>();
const seqs = new Map<string, number>();
const sender = { id: `usr_${ulid()}`, displayName: 'User 1' };

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const { conversationId, body } = JSON.parse(Buffer.concat(chunks).toString()) as { conversationId: string; body: string };
    const seq = (seqs.get(conversationId) ?? 0) + 1;
    seqs.set(conversationId, seq);
    const at = new Date().toISOString();
    const frame = nextFrame({
      __typename: 'MessageCreated',
      type: 'conversation.message.created',
      conversationId,
      seq,
      at,
      message: { id: ulid(), seq, body, sender, createdAt: at },
    });
    for (const socket of subscribers.get(conversationId) ?? []) socket.send(frame);
    res.writeHead(200, { 'content-type': 'application/json' }).end(`{"seq":${seq}}`);
  });
});

const wss = new WebSocketServer({ server });
wss.on('connection', (socket) => {
  const joined = new Set<string>();
  socket.on('message', (data) => {
    const { subscribe } = JSON.parse(String(data)) as { subscribe?: string };
    if (typeof subscribe !== 'string') return;
    let set = subscribers.get(subscribe);
    if (!set) subscribers.set(subscribe, (set = new Set()));
    set.add(socket);
    joined.add(subscribe);
    socket.send('{"type":"subscribed"}');
  });
  socket.on('close', () => {
    for (const id of joined) subscribers.get(id)?.delete(socket);
  });
});

server.listen(port, '127.0.0.1', () => console.log(`listening ${(server.address() as { port: number }).port}`));
process.on('SIGTERM', () => process.exit(0));

/**
 * A subscriber process of `npm run bench` (forked by bench/run.ts, IPC only). It holds its
 * share of the sockets, one subscription each, speaking graphql-transport-ws in raw `ws`
 * frames (cheaper than the graphql-ws client, so that 10,000 sockets fit on the bench's
 * machine) or the raw-ws baseline's own tiny protocol. Per delivery it checks that seq is
 * the last one + 1 on that socket, and files the latency (receipt − the send time in the
 * body) under the step named in the body. A socket that closes is counted; on Parley it
 * resumes with afterSeq, as a real client would.
 */
import WebSocket from 'ws';
import { emptyHistogram, record, type Histogram } from './lib/histogram.ts';
import { EVENTS_DOCUMENT, SUBSCRIPTION_ID, clock, parseBody, type FromSubscriber, type Protocol, type SocketSpec, type ToSubscriber } from './lib/wire.ts';

type Sock = { spec: SocketSpec; last: number; ws?: WebSocket };

const send = (message: FromSubscriber) => process.send!(message);

let sockets: Sock[] = [];
let protocol: Protocol = 'raw';
let url = '';
let resume = false;
let disposing = false;
let violations = 0;
let closeCount = 0;
let reconnects = 0;
let frameBytes = 0;
const samples: string[] = [];
const errors: string[] = [];
const closes: Record<string, number> = {};
const steps = new Map<number, { count: number; histogram: Histogram }>();

const note = (list: string[], text: string) => void (list.length < 10 && list.push(text.slice(0, 300)));

function delivered(sock: Sock, seq: number, body: string | undefined, bytes: number) {
  const now = clock();
  if (seq !== sock.last + 1) {
    violations++;
    note(samples, `${sock.spec.conversationId}: expected seq ${sock.last + 1}, got ${seq}`);
  }
  if (seq > sock.last) sock.last = seq;
  const parsed = body === undefined ? null : parseBody(body);
  if (!parsed || parsed.step === 0) return; // warm-up, or an event that is not ours (MemberJoined)
  let step = steps.get(parsed.step);
  if (!step) steps.set(parsed.step, (step = { count: 0, histogram: emptyHistogram() }));
  step.count++;
  record(step.histogram, now - parsed.sentAt);
  frameBytes = bytes;
}

/** A `next` frame: seq and body read by position (the common case), JSON.parse otherwise. */
function onNext(sock: Sock, frame: string) {
  const at = frame.indexOf('"seq":');
  const bodyAt = frame.indexOf('"body":"');
  if (at !== -1 && !frame.includes('"errors"')) {
    if (frame.startsWith('null', at + 6)) return; // typing, read receipt: no seq
    const seq = parseInt(frame.slice(at + 6, at + 18), 10);
    if (Number.isInteger(seq)) {
      delivered(sock, seq, bodyAt === -1 ? undefined : frame.slice(bodyAt + 8, frame.indexOf('"', bodyAt + 8)), frame.length);
      return;
    }
  }
  const payload = (JSON.parse(frame) as { payload?: { data?: { conversationEvents?: { seq: number | null; message?: { body: string } } }; errors?: unknown } }).payload;
  if (payload?.errors) note(errors, `next with errors: ${JSON.stringify(payload.errors)}`);
  const event = payload?.data?.conversationEvents;
  if (event && event.seq !== null) delivered(sock, event.seq, event.message?.body, frame.length);
}

/** Opens one socket and subscribes; resolves once subscribed (raw) or the subscribe frame is sent (graphql-ws). */
function connect(sock: Sock): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = protocol === 'raw' ? new WebSocket(url) : new WebSocket(url, 'graphql-transport-ws');
    sock.ws = ws;
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => settle(new Error('not subscribed within 30 s')), 30_000);
    ws.on('open', () => {
      if (protocol === 'raw') ws.send(JSON.stringify({ subscribe: sock.spec.conversationId }));
      else ws.send(JSON.stringify({ type: 'connection_init', payload: sock.spec.token ? { authorization: `Bearer ${sock.spec.token}` } : {} }));
    });
    ws.on('message', (data) => {
      const frame = String(data);
      if (frame.includes('"type":"next"')) return onNext(sock, frame);
      const message = JSON.parse(frame) as { type: string; payload?: unknown };
      if (message.type === 'subscribed') return settle();
      if (message.type === 'connection_ack') {
        const variables = { conversationId: sock.spec.conversationId, afterSeq: resume ? sock.last : null };
        ws.send(JSON.stringify({ id: SUBSCRIPTION_ID, type: 'subscribe', payload: { query: EVENTS_DOCUMENT, variables } }));
        return settle();
      }
      if (message.type === 'ping') return ws.send('{"type":"pong"}');
      if (message.type === 'error') note(errors, `subscribe error: ${JSON.stringify(message.payload)}`);
      if (message.type === 'complete' || message.type === 'error') ws.close(1000, 'subscription ended');
    });
    ws.on('error', (err) => {
      note(errors, String(err));
      settle(err);
    });
    ws.on('close', (code, reason) => {
      settle(new Error(`closed ${code} ${String(reason)}`));
      if (disposing) return;
      closeCount++;
      const key = `${code} ${String(reason)}`.trim().slice(0, 80);
      closes[key] = (closes[key] ?? 0) + 1;
      if (resume) {
        reconnects++;
        setTimeout(() => void connect(sock).catch((err: unknown) => note(errors, `resume: ${String(err)}`)), 100);
      }
    });
  });
}

async function open(message: Extract<ToSubscriber, { type: 'open' }>) {
  protocol = message.protocol;
  url = message.url;
  resume = message.resume;
  sockets = message.sockets.map((spec) => ({ spec, last: 0 }));
  let ok = 0;
  let failed = 0;
  const failures: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(message.concurrency, sockets.length) }, async () => {
      while (next < sockets.length) {
        const sock = sockets[next++]!;
        await connect(sock).then(
          () => ok++,
          (err: unknown) => {
            failed++;
            note(failures, String(err));
          },
        );
      }
    }),
  );
  send({ type: 'opened', ok, failed, errors: failures });
}

const behind = (upTo: number[]) => sockets.reduce((n, s) => n + Math.max(0, (upTo[s.spec.conv] ?? 0) - s.last), 0);

async function awaitUpTo(upTo: number[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (behind(upTo) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  send({ type: 'awaited', complete: behind(upTo) === 0, behind: behind(upTo) });
}

async function closeAll() {
  disposing = true;
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          const ws = s.ws;
          if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => ws.terminate(), 2000);
          ws.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          ws.close(1000, 'bench done');
        }),
    ),
  );
  send({ type: 'closed' });
}

process.on('message', (message: ToSubscriber) => {
  switch (message.type) {
    case 'open':
      return void open(message);
    case 'await':
      return void awaitUpTo(message.upTo, message.timeoutMs);
    case 'stats': {
      const step = steps.get(message.step) ?? { count: 0, histogram: emptyHistogram() };
      return send({ type: 'stats', step: message.step, count: step.count, histogram: step.histogram, closes: closeCount, frameBytes });
    }
    case 'final': {
      const incompleteSockets = sockets.filter((s) => s.last < (message.upTo[s.spec.conv] ?? 0)).length;
      return send({ type: 'final', violations, samples, missing: behind(message.upTo), incompleteSockets, closes, reconnects, errors });
    }
    case 'close':
      return void closeAll();
  }
});
process.on('disconnect', () => process.exit(0));

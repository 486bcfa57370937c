/**
 * The publisher process of `npm run bench` (forked by bench/run.ts, IPC only). Open loop: a
 * step publishes at a fixed rate on a fixed schedule, whatever the target answers (a
 * closed loop would slow down with the server and hide its queueing), round-robin over the
 * scenario's conversations and, on Parley, over each conversation's members. The body
 * carries the INTENDED send time, so a publisher or server that falls behind shows as
 * latency instead of vanishing (coordinated omission). Closed loop (a fixed number in
 * flight, as fast as answered) is only for the send-throughput scenario.
 */
import { Pool } from 'undici';
import { clock, messageBody, type FromPublisher, type PublishConversation, type PublishResult, type PublishTarget, type ToPublisher } from './lib/wire.ts';

const SEND = 'mutation BenchSend($input: SendMessageInput!) { sendMessage(input: $input) { seq } }';
const PUBLISH = 'mutation BenchPublish($c: ID!, $b: String!) { publish(conversationId: $c, body: $b) { seq } }';

let target: PublishTarget;
let conversations: PublishConversation[] = [];
let bodyBytes = 100;
let maxInFlight = 256;
let pool: Pool;
/** Per conversation, whose turn it is to send (members take turns). */
let turns: number[] = [];

const send = (message: FromPublisher) => process.send!(message);

function request(conv: number, body: string): { path: string; headers: Record<string, string>; payload: string } {
  const c = conversations[conv]!;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (target.kind === 'raw') return { path: '/publish', headers, payload: JSON.stringify({ conversationId: c.id, body }) };
  if (target.kind === 'yoga') return { path: '/graphql', headers, payload: JSON.stringify({ query: PUBLISH, variables: { c: c.id, b: body } }) };
  headers.authorization = `Bearer ${c.tokens[turns[conv]!++ % c.tokens.length]}`;
  return { path: '/graphql', headers, payload: JSON.stringify({ query: SEND, variables: { input: { conversationId: c.id, body } } }) };
}

/** One publish; the seq it got, or the error code to count. */
async function publish(conv: number, body: string): Promise<{ seq: number } | { error: string }> {
  const { path, headers, payload } = request(conv, body);
  try {
    const res = await pool.request({ method: 'POST', path, headers, body: payload });
    const text = await res.body.text();
    const parsed = JSON.parse(text) as { seq?: number; data?: Record<string, { seq: number } | null>; errors?: { extensions?: { code?: string }; message: string }[] };
    const seq = parsed.seq ?? Object.values(parsed.data ?? {})[0]?.seq;
    if (typeof seq === 'number') return { seq };
    return { error: parsed.errors?.[0]?.extensions?.code ?? parsed.errors?.[0]?.message.slice(0, 60) ?? `HTTP ${res.statusCode}` };
  } catch (err) {
    return { error: (err as { code?: string }).code ?? String(err).slice(0, 60) };
  }
}

function tally(step: number) {
  const result: PublishResult = {
    step,
    ok: 0,
    errors: {},
    perConversation: conversations.map(() => 0),
    lastSeq: conversations.map(() => 0),
    startedAt: clock(),
    endedAt: 0,
    late: 0,
  };
  const settle = (conv: number, outcome: { seq: number } | { error: string }) => {
    result.endedAt = clock();
    if ('error' in outcome) result.errors[outcome.error] = (result.errors[outcome.error] ?? 0) + 1;
    else {
      result.ok++;
      result.perConversation[conv]!++;
      result.lastSeq[conv] = Math.max(result.lastSeq[conv]!, outcome.seq);
    }
  };
  return { result, settle };
}

async function openLoop(step: number, rate: number, durationMs: number) {
  const { result, settle } = tally(step);
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const t0 = result.startedAt;
  let issued = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  while (issued < total) {
    const now = clock();
    const due = Math.min(total, Math.floor(((now - t0) * rate) / 1000) + 1);
    while (issued < due && inFlight < maxInFlight) {
      const k = issued++;
      const intended = t0 + (k * 1000) / rate;
      if (now - intended > 10) result.late++;
      const conv = k % conversations.length;
      inFlight++;
      const p: Promise<void> = publish(conv, messageBody(intended, step, bodyBytes)).then((outcome) => {
        inFlight--;
        pending.delete(p);
        settle(conv, outcome);
      });
      pending.add(p);
    }
    // Sleep until the next send is due (timers are ~1 ms; several sends go per wake-up at high rates).
    const nextAt = t0 + (issued * 1000) / rate;
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(50, nextAt - clock()))));
  }
  await Promise.all(pending);
  send({ type: 'done', ...result });
}

async function closedLoop(step: number, concurrency: number, durationMs: number) {
  const { result, settle } = tally(step);
  const until = result.startedAt + durationMs;
  let k = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (clock() < until) {
        const conv = k++ % conversations.length;
        settle(conv, await publish(conv, messageBody(clock(), step, bodyBytes)));
      }
    }),
  );
  send({ type: 'done', ...result });
}

process.on('message', (message: ToPublisher) => {
  switch (message.type) {
    case 'init':
      target = message.target;
      conversations = message.conversations;
      turns = conversations.map(() => 0);
      bodyBytes = message.bodyBytes;
      maxInFlight = message.maxInFlight;
      pool = new Pool(new URL(target.url).origin, { connections: maxInFlight, pipelining: 1 });
      return send({ type: 'ready' });
    case 'open-loop':
      return void openLoop(message.step, message.rate, message.durationMs);
    case 'closed-loop':
      return void closedLoop(message.step, message.concurrency, message.durationMs);
  }
});
process.on('disconnect', () => process.exit(0));

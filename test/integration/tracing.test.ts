import { randomBytes } from 'node:crypto';
import { context, SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { print } from 'graphql';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { seedApp, seedGroup, seedUsers, type SeededApp, type SeededUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually, subscribeWs } from '../helpers/ws.ts';
import { createTransact } from '../../src/db/stores.ts';
import { startWorker } from '../../src/jobs/worker.ts';
import { topics, type ConversationEnvelope } from '../../src/events/event-map.ts';
import { EventType } from '../../src/events/event-types.ts';
import { contextOf, inSpan, installTracing, stopTracing, tracingEnabled } from '../../src/observability/tracing.ts';

// Tracing (issue 7): one trace from an HTTP sendMessage through the GraphQL operation, the
// transaction, the bus hop, every socket write of the event and the webhook attempt, checked
// span by span with an in-memory exporter in this process (the server runs in it too).

const Events = graphql(`
  subscription TraceEvents($conversationId: ID!, $afterSeq: Int) {
    conversationEvents(conversationId: $conversationId, afterSeq: $afterSeq) { type seq }
  }
`);
const Inbox = graphql(`subscription TraceInbox { inboxEvents { type seq } }`);
const Send = graphql(`mutation TraceSend($input: SendMessageInput!) { sendMessage(input: $input) { id seq } }`);
const Typing = graphql(`mutation TraceTyping($conversationId: ID!) { sendTyping(conversationId: $conversationId, typing: true) }`);
const CreateEndpoint = graphql(`
  mutation TraceCreateEndpoint($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }
`);

let exporter = new InMemorySpanExporter();
/** Tracing again with other options (a stopped exporter exports nothing: a new one). */
async function reinstall(options: Omit<Parameters<typeof installTracing>[0], 'exporter'> = {}) {
  await stopTracing();
  exporter = new InMemorySpanExporter();
  installTracing({ exporter, ...options });
}
let server: TestServer;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  server = await startServer({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' });
  receiver = await startReceiver();
});
afterEach(() => disposeAllWs());
afterAll(async () => {
  await server?.close();
  await receiver?.close();
  await stopTracing();
});

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** A request over HTTP with the headers a traced caller (or a proxy) adds. */
async function post<R>(user: SeededUser, query: string, variables: object, headers: Record<string, string>): Promise<R> {
  const res = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}`, ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const json = (await res.json()) as { data?: R; errors?: unknown };
  if (!json.data) throw new Error(`request failed: ${JSON.stringify(json.errors)}`);
  return json.data;
}
const send = async (user: SeededUser, conversationId: string, body: string, headers: Record<string, string>) =>
  (await post<{ sendMessage: { id: string; seq: number } }>(user, print(Send), { input: { conversationId, body } }, headers)).sendMessage;

/**
 * An app with a webhook endpoint at the receiver, a group of alice and bob, and bob following it
 * on a socket (conversationEvents and inboxEvents) and live: a first message has come through.
 */
async function setup() {
  const app: SeededApp = await seedApp(server);
  const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
  await ok(server.graphqlUrl, CreateEndpoint, { input: { url: receiver.url, events: ['conversation.message.created'] } }, { apiKey: app.apiKey });
  const conversationId = await seedGroup(server, alice, [bob]);
  const ws = connectWs(server, { token: bob.token });
  await ws.connected;
  const events = subscribeWs(ws, Events, { conversationId, afterSeq: 0 });
  const inbox = subscribeWs(ws, Inbox, {});
  const first = await send(alice, conversationId, 'warm-up', {});
  // Replayed from the log, so the subscription is live; the inbox then gets it live as well.
  await eventually(() => expect(events.data.map((d) => d.conversationEvents.seq)).toContain(first.seq));
  await eventually(() => expect(inbox.data.map((d) => d.inboxEvents.seq)).toContain(first.seq));
  await eventually(() => expect(hooksFor(conversationId)).toHaveLength(1));
  const envelopes: ConversationEnvelope[] = [];
  server.deps.bus.subscribe(topics.conversation(app.appId, conversationId), (e) => void envelopes.push(e));
  return { app, alice, bob, conversationId, events, inbox, envelopes };
}

const hooksFor = (conversationId: string) => receiver.received.filter((r) => JSON.parse(r.body).data.conversationId === conversationId);
const rows = (conversationId: string, seq: number) =>
  Promise.all([
    server.deps.db.prisma.conversationEvent.findUniqueOrThrow({ where: { conversationId_seq: { conversationId, seq } } }),
    server.deps.db.prisma.webhookDelivery.findFirstOrThrow({ where: { conversationId, seq } }),
  ]);

const spansOf = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const idOf = (span: ReadableSpan) => span.spanContext().spanId;
/** The one span matching, and its parent's id. */
function only(spans: ReadableSpan[], match: (s: ReadableSpan) => boolean): ReadableSpan {
  const found = spans.filter(match);
  expect(found, `spans: ${spans.map((s) => s.name).join(', ')}`).toHaveLength(1);
  return found[0]!;
}

describe('tracing off (the default)', () => {
  it('records nothing: no traceparent in envelopes, rows or webhook requests', async () => {
    expect(tracingEnabled()).toBe(false);
    const { alice, conversationId, events, inbox, envelopes } = await setup();
    const traceId = hex(16);
    const sent = await send(alice, conversationId, 'untraced', { traceparent: `00-${traceId}-${hex(8)}-01` });
    await eventually(() => expect(envelopes.map((e) => e.seq)).toContain(sent.seq));
    await eventually(() => expect(events.data.map((d) => d.conversationEvents.seq)).toContain(sent.seq));
    await eventually(() => expect(inbox.data.map((d) => d.inboxEvents.seq)).toContain(sent.seq));
    await eventually(() => expect(hooksFor(conversationId)).toHaveLength(2));
    expect(envelopes.every((e) => !('traceparent' in e))).toBe(true);
    expect(hooksFor(conversationId).every((r) => r.headers.traceparent === undefined)).toBe(true);
    const [event, delivery] = await rows(conversationId, sent.seq);
    expect(event.traceContext).toBeNull();
    expect(delivery.traceContext).toBeNull();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});

describe('tracing on (an in-memory exporter)', () => {
  beforeAll(() => installTracing({ exporter }));

  it('one trace: HTTP → GraphQL operation → transaction → publish → each socket write, and → the webhook attempt', async () => {
    const { alice, conversationId, events, inbox, envelopes } = await setup();
    const traceId = hex(16);
    const callerSpanId = hex(8);
    const sent = await send(alice, conversationId, 'traced', { traceparent: `00-${traceId}-${callerSpanId}-01` });
    await eventually(() => expect(events.data.map((d) => d.conversationEvents.seq)).toContain(sent.seq));
    await eventually(() => expect(inbox.data.map((d) => d.inboxEvents.seq)).toContain(sent.seq));
    await eventually(() => expect(hooksFor(conversationId)).toHaveLength(2));

    await eventually(() => {
      const spans = spansOf(traceId);
      expect(spans.filter((s) => s.kind === SpanKind.CONSUMER)).toHaveLength(2);
      expect(spans.filter((s) => s.kind === SpanKind.CLIENT)).toHaveLength(1);
    });
    const spans = spansOf(traceId);
    const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

    const http = only(spans, (s) => s.kind === SpanKind.SERVER);
    expect(http.name).toBe('POST /graphql');
    expect(parentOf(http)).toBe(callerSpanId);
    expect(http.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/graphql', 'http.response.status_code': 200 });

    const operation = only(spans, (s) => s.name === 'mutation TraceSend');
    expect(parentOf(operation)).toBe(idOf(http));
    expect(operation.attributes).toMatchObject({ 'graphql.operation.type': 'mutation', 'graphql.operation.name': 'TraceSend', 'parley.graphql.root_field': 'sendMessage' });

    const transaction = only(spans, (s) => s.name === 'db.transaction');
    expect(parentOf(transaction)).toBe(idOf(operation));

    const publish = only(spans, (s) => s.kind === SpanKind.PRODUCER);
    expect(publish.name).toBe('publish conversation.message.created');
    expect(parentOf(publish)).toBe(idOf(transaction));
    expect(publish.attributes).toMatchObject({ 'parley.conversation.id': conversationId, 'parley.event.seq': sent.seq });

    const writes = spans.filter((s) => s.kind === SpanKind.CONSUMER);
    expect(writes.map((s) => s.attributes['parley.subscription']).sort()).toEqual(['conversationEvents', 'inboxEvents']);
    for (const write of writes) {
      expect(write.name).toBe('deliver conversation.message.created');
      expect(parentOf(write)).toBe(idOf(publish));
      expect(write.attributes['parley.event.seq']).toBe(sent.seq);
    }

    const attempt = only(spans, (s) => s.kind === SpanKind.CLIENT);
    expect(attempt.name).toBe('webhook attempt');
    expect(parentOf(attempt)).toBe(idOf(transaction));
    expect(attempt.attributes).toMatchObject({ 'http.response.status_code': 200, 'parley.webhook.attempt': 1 });

    // What crossed each hop: the envelope, the rows, the webhook request.
    const envelope = envelopes.find((e) => e.seq === sent.seq)!;
    expect(envelope.traceparent).toBe(`00-${traceId}-${idOf(publish)}-01`);
    const [event, delivery] = await rows(conversationId, sent.seq);
    expect(event.traceContext).toBe(`00-${traceId}-${idOf(transaction)}-01`);
    expect(delivery.traceContext).toBe(`00-${traceId}-${idOf(transaction)}-01`);
    // Receivers are third parties: no traceparent for them unless WEBHOOK_TRACEPARENT.
    const hook = hooksFor(conversationId).find((r) => JSON.parse(r.body).data.seq === sent.seq)!;
    expect(hook.headers.traceparent).toBeUndefined();
  });

  it('a malformed traceparent starts a trace of its own, and the request succeeds', async () => {
    const { alice, conversationId } = await setup();
    for (const traceparent of ['garbage', `00-${'0'.repeat(32)}-${hex(8)}-01`, `00-${hex(16)}-${hex(8)}`]) {
      const requestId = `trace-${hex(6)}`;
      const sent = await send(alice, conversationId, traceparent, { traceparent, 'x-request-id': requestId });
      expect(sent.seq).toBeGreaterThan(0);
      const http = await eventually(() => only(exporter.getFinishedSpans(), (s) => s.attributes['parley.request_id'] === requestId));
      expect(http.parentSpanContext).toBeUndefined();
      // The rest of the chain still hangs off it.
      await eventually(() => expect(spansOf(http.spanContext().traceId).map((s) => s.name)).toContain('publish conversation.message.created'));
    }
  });

  it("a typing event (ephemeral: never stored) is published and delivered in its request's trace", async () => {
    const { alice, conversationId, events } = await setup();
    const traceId = hex(16);
    await post(alice, print(Typing), { conversationId }, { traceparent: `00-${traceId}-${hex(8)}-01` });
    await eventually(() => expect(events.data.map((d) => d.conversationEvents.type)).toContain('conversation.typing'));
    await eventually(() => expect(spansOf(traceId).filter((s) => s.kind === SpanKind.CONSUMER)).toHaveLength(2));
    const spans = spansOf(traceId);
    const operation = only(spans, (s) => s.name === 'mutation TraceTyping');
    const publish = only(spans, (s) => s.kind === SpanKind.PRODUCER);
    expect(publish.name).toBe('publish conversation.typing');
    expect(publish.parentSpanContext?.spanId).toBe(idOf(operation));
    const writes = spans.filter((s) => s.kind === SpanKind.CONSUMER);
    expect(writes.map((s) => s.attributes['parley.subscription']).sort()).toEqual(['conversationEvents', 'inboxEvents']);
    for (const write of writes) expect(write.parentSpanContext?.spanId).toBe(idOf(publish));
  });

  it("events the worker's sweep publishes (no node published them at commit) continue the committing transaction's trace", async () => {
    const app = await seedApp(server);
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const envelopes: ConversationEnvelope[] = [];
    server.deps.bus.subscribe(topics.conversation(app.appId, conversationId), (e) => void envelopes.push(e));
    // Committed without the fast path's kick (as if the node died right after its commit).
    const transact = createTransact(server.deps.db.prisma, { onAfterCommitError: (err) => expect.fail(String(err)) });
    const traceId = hex(16);
    const callerSpanId = hex(8);
    const event = await context.with(contextOf(`00-${traceId}-${callerSpanId}-01`)!, () =>
      transact((stores) => stores.conversations.appendEvent(app, conversationId, EventType.memberLeft, { userId: 'usr_gone' })),
    );
    await eventually(() => expect(envelopes.map((e) => e.seq)).toContain(event.seq), 15_000);
    const spans = spansOf(traceId);
    const transaction = only(spans, (s) => s.name === 'db.transaction');
    expect(transaction.parentSpanContext?.spanId).toBe(callerSpanId);
    const publish = only(spans, (s) => s.kind === SpanKind.PRODUCER);
    expect(publish.parentSpanContext?.spanId).toBe(idOf(transaction));
    expect(envelopes.find((e) => e.seq === event.seq)!.traceparent).toBe(`00-${traceId}-${idOf(publish)}-01`);
  });

  it("a caller's sampled flag does not decide: an unsampled caller's trace is recorded (ratio 1), joined to the caller's span", async () => {
    const { alice, conversationId, envelopes } = await setup();
    const traceId = hex(16);
    const callerSpanId = hex(8);
    const sent = await send(alice, conversationId, 'unsampled', { traceparent: `00-${traceId}-${callerSpanId}-00` });
    await eventually(() => expect(envelopes.map((e) => e.seq)).toContain(sent.seq));
    const http = await eventually(() => only(spansOf(traceId), (s) => s.kind === SpanKind.SERVER));
    expect(http.parentSpanContext?.spanId).toBe(callerSpanId);
    const [event] = await rows(conversationId, sent.seq);
    expect(event.traceContext).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  });

  it("a timer set while a request is traced (the worker started inside it) runs its transactions outside that request's trace", async () => {
    const app = await seedApp(server);
    const [alice, bob] = (await seedUsers(server, app, 2)) as [SeededUser, SeededUser];
    const conversationId = await seedGroup(server, alice, [bob]);
    const transact = createTransact(server.deps.db.prisma, { onAfterCommitError: (err) => expect.fail(String(err)) });
    const traceId = hex(16);
    let sweeps = 0;
    let appended: Promise<{ seq: number }> | undefined;
    const worker = await context.with(contextOf(`00-${traceId}-${hex(8)}-01`)!, () =>
      inSpan('TraceFix request', {}, async () =>
        startWorker({
          // The second sweep runs from a timer the first one set: in the request's context,
          // unless the worker is detached from it.
          relay: {
            sweep: async () => {
              if (++sweeps === 2) appended = transact((stores) => stores.conversations.appendEvent(app, conversationId, EventType.memberLeft, { userId: 'usr_timer' }));
              await appended;
              return 0;
            },
          },
          messages: { deleteExpiredIdempotencyKeys: async () => 0 },
          log: pino({ level: 'silent' }),
          outboxSweepMs: 20,
          webhooks: { queue: { work: async () => {}, expireInSeconds: 60 }, dispatcher: { run: async () => {}, sweep: async () => 0 } },
          usage: { rollUp: async () => 0 },
        } as unknown as Parameters<typeof startWorker>[0]),
      ),
    );
    try {
      const event = await eventually(async () => {
        expect(appended).toBeDefined();
        return appended!;
      });
      const row = await server.deps.db.prisma.conversationEvent.findUniqueOrThrow({ where: { conversationId_seq: { conversationId, seq: event.seq } } });
      // A trace of its own (its transaction is a root span), not the request's.
      const transaction = only(exporter.getFinishedSpans(), (s) => row.traceContext === `00-${s.spanContext().traceId}-${idOf(s)}-01`);
      expect(transaction.name).toBe('db.transaction');
      expect(transaction.parentSpanContext).toBeUndefined();
      expect(transaction.spanContext().traceId).not.toBe(traceId);
      expect(spansOf(traceId).map((s) => s.name)).toEqual(['TraceFix request']);
    } finally {
      await worker.stop();
    }
  });
});

describe('tracing options', () => {
  afterAll(() => reinstall());

  it('by default, a sampled traceparent from a caller records nothing when our ratio says no (0), and nothing is carried', async () => {
    await reinstall({ sampleRatio: 0 });
    const { alice, conversationId, envelopes } = await setup();
    const traceId = hex(16);
    const requestId = `trace-${hex(6)}`;
    const sent = await send(alice, conversationId, 'forced', { traceparent: `00-${traceId}-${hex(8)}-01`, 'x-request-id': requestId });
    await eventually(() => expect(envelopes.map((e) => e.seq)).toContain(sent.seq));
    await eventually(() => expect(hooksFor(conversationId)).toHaveLength(2));
    expect(spansOf(traceId)).toEqual([]);
    expect(exporter.getFinishedSpans().filter((s) => s.attributes['parley.request_id'] === requestId)).toEqual([]);
    expect(envelopes.find((e) => e.seq === sent.seq)!.traceparent).toBeUndefined();
    const [event, delivery] = await rows(conversationId, sent.seq);
    expect(event.traceContext).toBeNull();
    expect(delivery.traceContext).toBeNull();
  });

  it('OTEL_TRUST_INCOMING_SAMPLING: the caller decides: sampled is recorded whatever the ratio, unsampled is not', async () => {
    await reinstall({ sampleRatio: 0, trustIncomingSampling: true });
    const { alice, conversationId, events, envelopes } = await setup();
    const sampled = hex(16);
    const callerSpanId = hex(8);
    const first = await send(alice, conversationId, 'sampled', { traceparent: `00-${sampled}-${callerSpanId}-01` });
    await eventually(() => expect(events.data.map((d) => d.conversationEvents.seq)).toContain(first.seq));
    await eventually(() => expect(spansOf(sampled).filter((s) => s.kind === SpanKind.CONSUMER)).toHaveLength(2));
    expect(only(spansOf(sampled), (s) => s.kind === SpanKind.SERVER).parentSpanContext?.spanId).toBe(callerSpanId);

    await reinstall({ sampleRatio: 1, trustIncomingSampling: true });
    const unsampled = hex(16);
    const second = await send(alice, conversationId, 'unsampled', { traceparent: `00-${unsampled}-${hex(8)}-00` });
    await eventually(() => expect(envelopes.map((e) => e.seq)).toContain(second.seq));
    await eventually(() => expect(hooksFor(conversationId)).toHaveLength(3));
    expect(spansOf(unsampled)).toEqual([]);
    expect(envelopes.find((e) => e.seq === second.seq)!.traceparent).toBeUndefined();
    const [event] = await rows(conversationId, second.seq);
    expect(event.traceContext).toBeNull();
  });

  it("WEBHOOK_TRACEPARENT: the webhook request carries the attempt's traceparent", async () => {
    await reinstall({ webhookTraceparent: true });
    const { alice, conversationId } = await setup();
    const traceId = hex(16);
    const sent = await send(alice, conversationId, 'propagated', { traceparent: `00-${traceId}-${hex(8)}-01` });
    await eventually(() => expect(hooksFor(conversationId)).toHaveLength(2));
    const attempt = await eventually(() => only(spansOf(traceId), (s) => s.kind === SpanKind.CLIENT));
    const hook = hooksFor(conversationId).find((r) => JSON.parse(r.body).data.seq === sent.seq)!;
    expect(hook.headers.traceparent).toBe(`00-${traceId}-${idOf(attempt)}-01`);
  });

});

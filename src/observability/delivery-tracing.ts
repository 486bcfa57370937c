import { SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_SERVER_ADDRESS } from '@opentelemetry/semantic-conventions';
import type { ConversationEnvelope } from '../events/event-map.ts';
import { activeTracer, contextOf, failSpan, inSpan, traceparentOf, traceparentToWebhooks } from './tracing.ts';

/**
 * The trace past the commit: the bus hop (a PRODUCER span per event, its context carried in
 * the envelope), each socket write of it (CONSUMER), each webhook attempt (CLIENT). All take
 * their parent from a persisted or carried traceparent, never from whatever context happens
 * to be active (a relay pass may publish events of several requests).
 */

const eventAttributes = (e: ConversationEnvelope) => ({
  'messaging.system': 'parley',
  'parley.app.id': e.appId,
  'parley.conversation.id': e.conversationId,
  'parley.event.type': e.type,
  ...(e.seq !== null ? { 'parley.event.seq': e.seq } : {}),
});

/**
 * Runs `publish` with a PRODUCER span for each envelope whose `traceparentAt(i)` (the
 * committing transaction's, or the caller's for ephemeral events) is set, and puts that span's
 * context in the envelope, for the nodes that receive it. Ends them when `publish` settles.
 */
export async function tracePublish<T>(envelopes: ConversationEnvelope[], traceparentAt: (i: number) => string | null | undefined, publish: () => Promise<T>): Promise<T> {
  const tracer = activeTracer();
  if (!tracer) return publish();
  const spans: Span[] = [];
  envelopes.forEach((envelope, i) => {
    const parent = contextOf(traceparentAt(i));
    if (!parent) return;
    const span = tracer.startSpan(
      `publish ${envelope.type}`,
      { kind: SpanKind.PRODUCER, attributes: { ...eventAttributes(envelope), 'messaging.operation.type': 'send' } },
      parent,
    );
    envelope.traceparent = traceparentOf(span);
    spans.push(span);
  });
  try {
    return await publish();
  } catch (err) {
    for (const span of spans) failSpan(span, err);
    throw err;
  } finally {
    for (const span of spans) span.end();
  }
}

/**
 * A subscription's events with a CONSUMER span for each one that carries a traceparent, from
 * the moment the stream hands it over until the consumer asks for the next: graphql-ws asks
 * once it has executed the event and written the frame to the socket (it awaits the send).
 * Tracing off: the stream itself, untouched.
 */
export function traceDeliveries(stream: AsyncGenerator<ConversationEnvelope>, subscription: string): AsyncGenerator<ConversationEnvelope> {
  const tracer = activeTracer();
  if (!tracer) return stream;
  let open: Span | undefined;
  // Set by return()/throw(): an item that a pending next() resolves afterwards gets no span
  // (nothing would end it).
  let closed = false;
  const finish = () => {
    open?.end();
    open = undefined;
  };
  const close = () => {
    closed = true;
    finish();
  };
  return {
    async next() {
      finish();
      const item = await stream.next();
      if (!item.done && !closed) open = startDeliverySpan(item.value, subscription);
      return item;
    },
    return(value) {
      close();
      return stream.return(value);
    },
    throw(err) {
      close();
      return stream.throw(err);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  } as AsyncGenerator<ConversationEnvelope>;
}

/** The CONSUMER span of one event's write to one subscriber, when tracing is on and the event carries a context. */
function startDeliverySpan(e: ConversationEnvelope, subscription: string): Span | undefined {
  const tracer = activeTracer();
  const parent = tracer && contextOf(e.traceparent);
  if (!parent) return undefined;
  const attributes = { ...eventAttributes(e), 'messaging.operation.type': 'process', 'parley.subscription': subscription };
  return tracer.startSpan(`deliver ${e.type}`, { kind: SpanKind.CONSUMER, attributes }, parent);
}

/** The span of an event written on a subscription's direct path (http/direct-writer.ts): the write is done. */
export const traceDirectDelivery = (e: ConversationEnvelope, subscription: string) => startDeliverySpan(e, subscription)?.end();

/**
 * A webhook attempt as a CLIENT span, child of the transaction that recorded the delivery (its
 * persisted `traceContext`); `send` gets the `traceparent` header to add to the request, only
 * with WEBHOOK_TRACEPARENT: receivers are third parties, and the header would show them our
 * span ids and a trace id the sender may have chosen.
 */
export function traceWebhookAttempt<R extends { ok: boolean; status: number | null; error?: string | null }>(
  delivery: { id: string; endpointId: string; traceContext: string | null },
  url: string,
  attempt: number,
  send: (traceparent: string | undefined) => Promise<R>,
): Promise<R> {
  const parent = activeTracer() ? contextOf(delivery.traceContext) : undefined;
  if (!parent) return send(undefined);
  const attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: 'POST',
    [ATTR_SERVER_ADDRESS]: URL.canParse(url) ? new URL(url).hostname : '',
    'parley.webhook.delivery_id': delivery.id,
    'parley.webhook.endpoint_id': delivery.endpointId,
    'parley.webhook.attempt': attempt,
  };
  return inSpan(
    'webhook attempt',
    { kind: SpanKind.CLIENT, attributes },
    async (traceparent, span) => {
      const result = await send(traceparentToWebhooks() ? traceparent : undefined);
      if (result.status !== null) span?.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, result.status);
      if (!result.ok) span?.setStatus({ code: SpanStatusCode.ERROR, message: result.error ?? `HTTP ${result.status}` });
      return result;
    },
    parent,
  );
}

import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ConversationEnvelope } from '../../src/events/event-map.ts';
import { traceDeliveries } from '../../src/observability/delivery-tracing.ts';
import { activeTracer, installTracing, stopTracing } from '../../src/observability/tracing.ts';

// A subscription's CONSUMER spans (delivery-tracing.ts) are all ended, even when the consumer
// stops (return/throw) while it waits for the next event.

const exporter = new InMemorySpanExporter();
beforeAll(() => installTracing({ exporter }));
afterAll(() => stopTracing());

const envelope = (seq: number): ConversationEnvelope =>
  ({
    type: 'conversation.message.created',
    appId: 'app_1',
    tenantId: 'ten_1',
    conversationId: 'cnv_1',
    seq,
    payload: {},
    traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`,
  }) as unknown as ConversationEnvelope;

/** A stream whose next() waits until the test hands it an event. */
function fakeStream() {
  const pending: ((r: IteratorResult<ConversationEnvelope>) => void)[] = [];
  const stream = {
    next: () => new Promise<IteratorResult<ConversationEnvelope>>((resolve) => pending.push(resolve)),
    return: async () => ({ done: true, value: undefined }),
    throw: async (err: unknown) => Promise.reject(err),
    [Symbol.asyncIterator]() {
      return this;
    },
  } as unknown as AsyncGenerator<ConversationEnvelope>;
  return { stream, deliver: (seq: number) => pending.shift()!({ done: false, value: envelope(seq) }) };
}

describe('traceDeliveries', () => {
  for (const stop of ['return', 'throw'] as const) {
    it(`every span it starts is ended, also when ${stop}() comes while a next() is pending`, async () => {
      exporter.reset();
      const started = vi.spyOn(activeTracer()!, 'startSpan');
      try {
        const { stream, deliver } = fakeStream();
        const traced = traceDeliveries(stream, 'conversationEvents');
        // An event handed over: its span lasts until the consumer asks for the next.
        const first = traced.next();
        deliver(1);
        expect((await first).value).toMatchObject({ seq: 1 });
        expect(started).toHaveBeenCalledTimes(1);
        const second = traced.next();
        expect(exporter.getFinishedSpans()).toHaveLength(1);
        // The consumer stops while it waits; the event arrives afterwards.
        await (stop === 'return' ? traced.return(undefined) : traced.throw(new Error('gone')).catch(() => undefined));
        deliver(2);
        await second;
        expect(started.mock.calls.length).toBe(exporter.getFinishedSpans().length);
        expect(exporter.getFinishedSpans().map((s) => s.attributes['parley.event.seq'])).toEqual([1]);
      } finally {
        started.mockRestore();
      }
    });
  }
});

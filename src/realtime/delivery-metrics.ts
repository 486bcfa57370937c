import type { ConversationEnvelope } from '../events/event-map.ts';

/** What the streams report per event written to a subscriber (observability/metrics.ts). */
export type DeliveryMetrics = {
  /** A counter for one subscription's deliveries (labels resolved once, not per event). */
  deliveredTo(tenantId: string, field: string): () => void;
  fanoutLag(seconds: number): void;
};

/** Envelopes read back from the log (a replay after `afterSeq`, a gap filled): not live, no lag. */
const replayed = new WeakSet<object>();
export const markReplayed = <T extends object>(envelope: T): T => (replayed.add(envelope), envelope);

/**
 * One subscription's meter: counts an event written to its socket and, for a live persisted
 * event, the time from its commit (`at`) to that write. No metrics: none.
 */
export function deliveryMeter(metrics: DeliveryMetrics | undefined, labels: { tenantId: string; field: string }): ((event: object) => void) | undefined {
  if (!metrics) return undefined;
  const delivered = metrics.deliveredTo(labels.tenantId, labels.field);
  return (event) => {
    delivered();
    const e = event as Partial<ConversationEnvelope>;
    if (typeof e.seq === 'number' && typeof e.at === 'string' && !replayed.has(e)) metrics.fanoutLag((Date.now() - Date.parse(e.at)) / 1000);
  };
}

/**
 * Meters each event of a subscription's queued path once it is written, which means: the
 * consumer asked for the next one, as graphql-ws does once it has executed the event and its
 * send has completed. (The direct path meters its own writes.) No meter: the stream itself.
 */
export function meterDeliveries<T extends object>(stream: AsyncGenerator<T>, meter: ((event: object) => void) | undefined): AsyncGenerator<T> {
  if (!meter) return stream;
  let handedOver: T | undefined;
  const written = () => {
    if (handedOver === undefined) return;
    const e = handedOver;
    handedOver = undefined;
    meter(e);
  };
  return {
    async next() {
      written();
      const item = await stream.next();
      if (!item.done) handedOver = item.value;
      return item;
    },
    return: (value) => ((handedOver = undefined), stream.return(value)),
    throw: (err) => ((handedOver = undefined), stream.throw(err)),
    [Symbol.asyncIterator]() {
      return this;
    },
  } as AsyncGenerator<T>;
}

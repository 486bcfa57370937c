/**
 * Latency histogram with logarithmic buckets (2 % wide, 1 µs … ~100 s): merging the
 * workers' histograms is adding arrays, and a quantile is off by at most one bucket (2 %),
 * where keeping every sample of a 100k-deliveries/s step would cost megabytes per IPC message.
 */
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
const MIN_MS = 0.001;
export const BUCKETS = Math.ceil(Math.log(100_000 / MIN_MS) / LOG_GROWTH) + 1;

export type Histogram = number[];

export const emptyHistogram = (): Histogram => new Array<number>(BUCKETS).fill(0);

export function record(h: Histogram, ms: number): void {
  const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH));
  h[i]!++;
}

export function merge(into: Histogram, from: Histogram): Histogram {
  for (let i = 0; i < BUCKETS; i++) into[i]! += from[i] ?? 0;
  return into;
}

export const countOf = (h: Histogram) => h.reduce((a, b) => a + b, 0);

/** The upper bound of the bucket holding quantile `q` (NaN when empty). */
export function quantile(h: Histogram, q: number): number {
  const total = countOf(h);
  if (total === 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    seen += h[i]!;
    if (seen >= rank) return MIN_MS * GROWTH ** i;
  }
  return Infinity;
}

/**
 * A bounded bridge from pushed events (bus handlers) to an async iterator. When the consumer
 * falls more than `capacity` events behind, the queue drops what it holds and reports
 * `overflowed`: memory stays bounded, and the stream decides what to do (cut the slow
 * consumer off; it resumes from the log by `afterSeq`).
 */
export class EventQueue<T> {
  private items: T[] = [];
  private waiting: ((item: T | undefined) => void) | undefined;
  private closed = false;
  overflowed = false;

  constructor(private readonly capacity: number) {}

  push(item: T) {
    if (this.closed || this.overflowed) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve(item);
    } else if (this.items.length >= this.capacity) {
      this.items = [];
      this.overflowed = true;
      this.close();
    } else {
      this.items.push(item);
    }
  }

  /** The next item, or undefined once the queue is closed (or has overflowed) and drained. */
  next(): Promise<T | undefined> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  close() {
    this.closed = true;
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve?.(undefined);
  }
}

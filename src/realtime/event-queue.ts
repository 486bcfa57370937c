/**
 * A bounded bridge from pushed events (bus handlers) to an async iterator. When the consumer
 * falls more than `capacity` events behind, the queue drops what it holds, closes, and calls
 * `onOverflow` there and then (from `push`: a consumer stalled in a socket write would not
 * pull again to notice). Memory stays bounded; the consumer resumes from the log by `afterSeq`.
 */
export class EventQueue<T> {
  private items: T[] = [];
  private waiting: ((item: T | undefined) => void) | undefined;
  private closed = false;

  constructor(
    private readonly capacity: number,
    private readonly onOverflow: () => void = () => {},
  ) {}

  push(item: T) {
    if (this.closed) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve(item);
    } else if (this.items.length >= this.capacity) {
      this.items = [];
      this.close();
      this.onOverflow();
    } else {
      this.items.push(item);
    }
  }

  /**
   * The consumer is waiting in `next()` with nothing queued: it has finished with everything
   * it took before (graphql-ws asks again only once the last frame was handed to the socket),
   * so an event may be written for it directly, in order (http/direct-writer.ts).
   */
  get parked(): boolean {
    return this.waiting !== undefined;
  }

  /** The next item, or undefined once the queue is closed and drained. */
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

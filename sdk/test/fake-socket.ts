/**
 * A WebSocket double speaking graphql-transport-ws, for createRealtime's `webSocketImpl`: the
 * test plays the server (acks, answers, closes with any code) and counts the sockets opened.
 * Events are dispatched with setTimeout(0), so a fake clock drives the whole exchange.
 */
export type ServerPlay = {
  /** connection_init arrived: ack it (default) or close. */
  onInit?: (socket: FakeSocket) => void;
  /** A subscribe message arrived. */
  onSubscribe?: (socket: FakeSocket, id: string, payload: { variables?: unknown }) => void;
};

export class FakeSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;

  /** Every socket opened, and the play of the server they reach. */
  static sockets: FakeSocket[] = [];
  static play: ServerPlay = {};
  static reset(play: ServerPlay = {}) {
    FakeSocket.sockets = [];
    FakeSocket.play = play;
  }

  readyState = 0;
  /** Subscribe ids this socket received, in order. */
  readonly subscribed: string[] = [];
  onopen: (() => void) | null = null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  onerror: ((err: unknown) => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocol?: string,
  ) {
    FakeSocket.sockets.push(this);
    setTimeout(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen?.();
    }, 0);
  }

  send(data: string) {
    const message = JSON.parse(data) as { type: string; id?: string; payload?: { variables?: unknown } };
    setTimeout(() => {
      if (this.readyState !== 1) return;
      if (message.type === 'connection_init') {
        if (FakeSocket.play.onInit) FakeSocket.play.onInit(this);
        else this.ack();
      } else if (message.type === 'subscribe') {
        this.subscribed.push(message.id!);
        FakeSocket.play.onSubscribe?.(this, message.id!, message.payload ?? {});
      } else if (message.type === 'ping') this.serverSend({ type: 'pong' });
    }, 0);
  }

  /** The client closes. */
  close(code = 1000, reason = '') {
    this.serverClose(code, reason);
  }

  // The server's side:
  ack() {
    this.serverSend({ type: 'connection_ack' });
  }
  serverSend(message: object) {
    if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify(message) });
  }
  next(id: string, payload: object) {
    this.serverSend({ id, type: 'next', payload });
  }
  serverClose(code: number, reason = '') {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    setTimeout(() => {
      this.readyState = 3;
      this.onclose?.({ code, reason, wasClean: true });
    }, 0);
  }
}

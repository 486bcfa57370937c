import type { WebSocket } from 'ws';

/** A tick every this many ms visits one slice of the sockets: no tick pings them all at once. */
const TICK_MS = 100;

/**
 * Liveness for every socket of a server with one timer (not a timer each): each socket is
 * pinged once per `intervalMs`, and one that has not answered the previous ping by its next
 * turn is terminated. The sockets are spread over slices visited in turn, one per tick, so a
 * tick's work (and its pause in delivering events) is a small share of the sockets: pinging
 * 5,000 sockets at once held every delivery up for tens of milliseconds (docs/PERFORMANCE.md).
 */
export function createHeartbeat(intervalMs: number) {
  const SLICES = Math.max(1, Math.round(intervalMs / TICK_MS));
  const slices = Array.from({ length: SLICES }, () => new Map<WebSocket, boolean>());
  const sliceOf = new WeakMap<WebSocket, Map<WebSocket, boolean>>();
  let nextSlice = 0;
  let turn = 0;
  const timer = setInterval(() => {
    const slice = slices[turn]!;
    turn = (turn + 1) % SLICES;
    for (const [socket, answered] of slice) {
      try {
        if (!answered) {
          slice.delete(socket);
          socket.terminate();
        } else {
          slice.set(socket, false);
          socket.ping();
        }
      } catch {
        // one socket's failure is not the others'
      }
    }
  }, intervalMs / SLICES);
  timer.unref();

  return {
    add(socket: WebSocket) {
      const slice = slices[nextSlice]!;
      nextSlice = (nextSlice + 1) % SLICES;
      slice.set(socket, true);
      sliceOf.set(socket, slice);
      socket.on('pong', () => slice.has(socket) && slice.set(socket, true));
    },
    remove(socket: WebSocket) {
      sliceOf.get(socket)?.delete(socket);
    },
    stop: () => clearInterval(timer),
  };
}

import type { ExecutionArgs } from 'graphql';
import type { WebSocket } from 'ws';
import type { DirectWrite } from '../realtime/live-stream.ts';
import { sharedPayload, shapeOf, type Shape } from './shared-frames.ts';

/**
 * A subscription's direct path to its socket (issue 9): a live event that its stream hands
 * over from the bus handler (realtime/conversation-stream.ts, only while graphql-ws is waiting
 * for the next event, so nothing it sent is still in flight) becomes a graphql-transport-ws
 * `next` frame around the payload shared by every subscriber of the same shape, written at
 * once. No per-subscriber execution, serialization, queue or promise; the same bound on the
 * socket's send buffer as graphql-ws's path (past it, the slow consumer is cut off).
 *
 * `write` returns false, and the stream queues the event for graphql-ws as usual, until the
 * subscription's execution arguments are bound, once graphql-ws no longer runs it, and when
 * the payload cannot be shared (or its execution threw: graphql-ws's path reports that);
 * 'dropped' when the socket is closing or was just cut off (nothing to count); 'written'.
 */
export function createDirectWriter(options: {
  socket: WebSocket;
  id: string;
  /** graphql-ws still runs this subscription (a `complete` from the client removes it). */
  running: () => boolean;
  maxBufferedBytes: number;
  cutOff: () => void;
  /** A frame was written (the socket's log and metrics count it). */
  written: () => void;
}): { bind(args: ExecutionArgs): void; write: DirectWrite } {
  const { socket, running, maxBufferedBytes, cutOff, written } = options;
  const head = `{"id":${JSON.stringify(options.id)},"type":"next","payload":`;
  let shape: Shape | undefined;
  return {
    bind(args: ExecutionArgs) {
      shape = shapeOf(args);
    },
    write(event) {
      if (!shape || !running()) return false;
      if (socket.readyState !== socket.OPEN) return 'dropped'; // closing: graphql-ws would drop it too
      if (socket.bufferedAmount > maxBufferedBytes) {
        cutOff();
        return 'dropped';
      }
      let payload: string | undefined;
      try {
        payload = sharedPayload(event, shape);
      } catch {
        return false;
      }
      if (payload === undefined) return false;
      socket.send(`${head}${payload}}`);
      written();
      return 'written';
    },
  };
}
export type DirectWriter = ReturnType<typeof createDirectWriter>;

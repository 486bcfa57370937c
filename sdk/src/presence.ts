import type { ParleyApi } from './api.ts';
import type { Realtime } from './connection.ts';
import type { ParleyError } from './errors.ts';
import { PresenceUpdatedDocument, type ParleyPresenceFragment } from './generated/graphql.ts';

export type Presence = ParleyPresenceFragment;

/**
 * Presence of some users: their current state first, then every change. Changes missed while
 * the socket was down are not replayed by the server, so the state is read again on reconnect.
 */
export function watchPresence(
  deps: { api: ParleyApi; realtime: Realtime },
  userIds: string[],
  onPresence: (presence: Presence) => void,
  onError?: (error: ParleyError) => void,
): () => void {
  let stopped = false;
  const read = () =>
    deps.api.presence({ userIds }).then(
      (list) => list.forEach((p) => !stopped && onPresence(p)),
      (err: ParleyError) => !stopped && onError?.(err),
    );
  const unsubscribe = deps.realtime.subscribe(PresenceUpdatedDocument, () => ({ userIds }), {
    next: ({ presenceUpdated }) => !stopped && onPresence(presenceUpdated),
    error: (err) => !stopped && onError?.(err),
    complete: () => {},
  });
  const offReconnect = deps.realtime.onReconnected(() => void read());
  void read();
  return () => {
    stopped = true;
    offReconnect();
    unsubscribe();
  };
}

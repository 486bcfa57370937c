import type { Bus, Unsubscribe } from '../events/bus.ts';
import { topics } from '../events/event-map.ts';
import type { AppScope } from '../lib/scope.ts';

type Socket = { close(code: number, reason: string): void };

/**
 * The end users' sockets on this node, by user, so that revoking a user's sessions (announced
 * on the bus by whichever node handled it) closes their sockets here. (Sockets per user are
 * counted by the presence tracker, across nodes.)
 */
export function createConnectionRegistry({ bus, onRevoked }: { bus: Bus; onRevoked: (socket: Socket) => void }) {
  const byUser = new Map<string, { sockets: Set<Socket>; unsubscribe: Unsubscribe }>();
  const key = (scope: AppScope, userId: string) => `${scope.appId}:${userId}`;

  return {
    add(scope: AppScope, userId: string, socket: Socket) {
      let entry = byUser.get(key(scope, userId));
      if (!entry) {
        const sockets = new Set<Socket>();
        const unsubscribe = bus.subscribe(topics.user(scope.appId, userId), (e) => {
          if (e.kind === 'sessions.revoked') for (const s of [...sockets]) onRevoked(s);
        });
        byUser.set(key(scope, userId), (entry = { sockets, unsubscribe }));
      }
      entry.sockets.add(socket);
    },

    remove(scope: AppScope, userId: string, socket: Socket) {
      const entry = byUser.get(key(scope, userId));
      if (!entry?.sockets.delete(socket) || entry.sockets.size > 0) return;
      entry.unsubscribe();
      byUser.delete(key(scope, userId));
    },
  };
}

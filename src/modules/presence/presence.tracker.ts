import type { Bus } from '../../events/bus.ts';
import { topics } from '../../events/event-map.ts';
import type { AppScope } from '../../lib/scope.ts';

type Entry = { sockets: number; lastSeenAt: Date | null };

/**
 * Who is online, from the sockets this process holds: a user is online while any of their
 * sockets is open (several devices), and `lastSeenAt` is when the last one closed. Changes
 * are published on the user's presence topic. (One process's view; cluster mode moves this
 * to Redis.)
 */
export function createPresenceTracker({ bus }: { bus: Bus }) {
  const users = new Map<string, Entry>();
  const key = (scope: AppScope, userId: string) => `${scope.appId}:${userId}`;

  function publish(scope: AppScope, userId: string, entry: Entry) {
    bus.publish(topics.presence(scope.appId, userId), {
      appId: scope.appId,
      userId,
      online: entry.sockets > 0,
      lastSeenAt: entry.lastSeenAt?.toISOString() ?? null,
    });
  }

  return {
    connected(scope: AppScope, userId: string) {
      const entry = users.get(key(scope, userId)) ?? { sockets: 0, lastSeenAt: null };
      entry.sockets += 1;
      users.set(key(scope, userId), entry);
      if (entry.sockets === 1) publish(scope, userId, entry);
    },
    disconnected(scope: AppScope, userId: string) {
      const entry = users.get(key(scope, userId));
      if (!entry || entry.sockets === 0) return;
      entry.sockets -= 1;
      if (entry.sockets === 0) {
        entry.lastSeenAt = new Date();
        publish(scope, userId, entry);
      }
    },
    get(scope: AppScope, userId: string) {
      const entry = users.get(key(scope, userId));
      return { userId, online: (entry?.sockets ?? 0) > 0, lastSeenAt: entry?.lastSeenAt ?? null };
    },
  };
}
export type PresenceTracker = ReturnType<typeof createPresenceTracker>;

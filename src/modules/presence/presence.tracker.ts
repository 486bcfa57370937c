import type { Bus } from '../../events/bus.ts';
import { topics } from '../../events/event-map.ts';
import type { AppScope } from '../../lib/scope.ts';

export type Presence = { userId: string; online: boolean; lastSeenAt: Date | null };

/**
 * Who is online, from open sockets: a user is online while any of their sockets is open
 * (several devices, on any node), and `lastSeenAt` is when the last one closed. Changes are
 * published on the user's presence topic. Two implementations: this process's memory, and
 * Redis (redis-presence.tracker.ts) when nodes share the answer.
 */
export type PresenceTracker = {
  /** Counts a socket in, unless the user already has `limit` open: false then, and nothing changes. */
  connect(scope: AppScope, userId: string, socketId: string, limit: number): Promise<boolean>;
  disconnect(scope: AppScope, userId: string, socketId: string): Promise<void>;
  get(scope: AppScope, userIds: string[]): Promise<Presence[]>;
  /** Stops timers; in Redis, also takes this node's sockets out (shutdown). */
  stop(): Promise<void>;
};

export function publishPresence(bus: Bus, appId: string, userId: string, online: boolean, lastSeenAt: Date | null) {
  return bus.publish(topics.presence(appId, userId), {
    appId,
    userId,
    online,
    lastSeenAt: lastSeenAt?.toISOString() ?? null,
  });
}

/** One process: every socket is here, so nothing can outlive its node. */
export function createMemoryPresenceTracker({ bus, onError }: { bus: Bus; onError: (err: unknown) => void }): PresenceTracker {
  const users = new Map<string, { sockets: Set<string>; lastSeenAt: Date | null }>();
  const key = (scope: AppScope, userId: string) => `${scope.appId}:${userId}`;

  return {
    async connect(scope, userId, socketId, limit) {
      const entry = users.get(key(scope, userId)) ?? { sockets: new Set<string>(), lastSeenAt: null };
      if (entry.sockets.size >= limit) return false;
      entry.sockets.add(socketId);
      users.set(key(scope, userId), entry);
      if (entry.sockets.size === 1) publishPresence(bus, scope.appId, userId, true, entry.lastSeenAt).catch(onError);
      return true;
    },
    async disconnect(scope, userId, socketId) {
      const entry = users.get(key(scope, userId));
      if (!entry?.sockets.delete(socketId) || entry.sockets.size > 0) return;
      entry.lastSeenAt = new Date();
      publishPresence(bus, scope.appId, userId, false, entry.lastSeenAt).catch(onError);
    },
    async get(scope, userIds) {
      return userIds.map((userId) => {
        const entry = users.get(key(scope, userId));
        return { userId, online: (entry?.sockets.size ?? 0) > 0, lastSeenAt: entry?.lastSeenAt ?? null };
      });
    },
    stop: async () => {},
  };
}

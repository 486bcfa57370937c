import type { Bus, Subscription } from '../events/bus.ts';
import { topics } from '../events/event-map.ts';
import { CloseCodes } from './close-codes.ts';

type Socket = { close(code: number, reason: string): void };

/** The authenticated callers whose sockets the registry tracks. */
export type SocketViewer =
  | { kind: 'user'; scope: { tenantId: string; appId: string }; userId: string }
  | { kind: 'app'; scope: { tenantId: string; appId: string }; apiKeyId: string };

type Group<V> = { sockets: Map<Socket, V>; subscription: Subscription };

/**
 * The authenticated sockets on this node, so that a revocation announced on the bus by
 * whichever node handled it closes them here:
 * - `user:<app>:<user>` sessions revoked → that user's sockets, 4401;
 * - `tenant:<tenant>` suspended → every socket of the tenant's users and app servers, 4403;
 * - `tenant:<tenant>` API key revoked → the app-server sockets opened with that key, 4401.
 * One bus subscription per user and per tenant with sockets here, dropped with the last one.
 * (Sockets per user are counted by the presence tracker, across nodes.)
 */
export function createConnectionRegistry({ bus }: { bus: Bus }) {
  const byUser = new Map<string, Group<SocketViewer>>();
  const byTenant = new Map<string, Group<SocketViewer>>();
  const userKey = (v: SocketViewer & { kind: 'user' }) => `${v.scope.appId}:${v.userId}`;
  const closeAll = (sockets: Iterable<Socket>, code: number, reason: string) => {
    for (const socket of [...sockets]) socket.close(code, reason);
  };

  function join(groups: Map<string, Group<SocketViewer>>, key: string, subscribe: (sockets: Map<Socket, SocketViewer>) => Subscription) {
    let group = groups.get(key);
    if (!group) {
      const sockets = new Map<Socket, SocketViewer>();
      groups.set(key, (group = { sockets, subscription: subscribe(sockets) }));
    }
    return group;
  }

  function leave(groups: Map<string, Group<SocketViewer>>, key: string, socket: Socket) {
    const group = groups.get(key);
    if (!group?.sockets.delete(socket) || group.sockets.size > 0) return;
    group.subscription();
    groups.delete(key);
  }

  return {
    /**
     * Tracks `socket` until `remove`. Resolves once this node receives the topics that can
     * close it (at once in process; with Redis when the subscriptions are confirmed).
     */
    add(viewer: SocketViewer, socket: Socket): Promise<void> {
      const tenant = join(byTenant, viewer.scope.tenantId, (sockets) =>
        bus.subscribe(topics.tenant(viewer.scope.tenantId), (e) => {
          if (e.kind === 'tenant.suspended') return closeAll(sockets.keys(), CloseCodes.Forbidden, 'This tenant is suspended');
          const opened = [...sockets].filter(([, v]) => v.kind === 'app' && v.apiKeyId === e.apiKeyId).map(([s]) => s);
          closeAll(opened, CloseCodes.Unauthorized, 'API key revoked');
        }),
      );
      tenant.sockets.set(socket, viewer);
      const ready = [tenant.subscription.ready];
      if (viewer.kind === 'user') {
        const user = join(byUser, userKey(viewer), (sockets) =>
          bus.subscribe(topics.user(viewer.scope.appId, viewer.userId), (e) => {
            if (e.kind === 'sessions.revoked') closeAll(sockets.keys(), CloseCodes.Unauthorized, 'Sessions revoked');
          }),
        );
        user.sockets.set(socket, viewer);
        ready.push(user.subscription.ready);
      }
      return Promise.all(ready).then(() => undefined);
    },

    remove(viewer: SocketViewer, socket: Socket) {
      leave(byTenant, viewer.scope.tenantId, socket);
      if (viewer.kind === 'user') leave(byUser, userKey(viewer), socket);
    },
  };
}

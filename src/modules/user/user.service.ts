import type { TokenService } from '../../auth/tokens.ts';
import type { Bus } from '../../events/bus.ts';
import { topics } from '../../events/event-map.ts';
import { notFound, overLimit } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import type { AppScope, PageArgs } from '../../lib/scope.ts';
import { planLimit } from '../tenant/plans.ts';
import type { SessionStore } from './session.store.ts';
import type { UserStore } from './user.store.ts';

export function createUserService(deps: { users: UserStore; sessions: SessionStore; tokens: TokenService; bus: Bus; onError: (err: unknown) => void }) {
  const { users, sessions, tokens, bus, onError } = deps;

  async function requireUser(scope: AppScope, userId: string) {
    const [user] = await users.byIds(scope, [userId]);
    if (!user) throw notFound('User');
    return user;
  }

  return {
    requireUser,

    byIds: (scope: AppScope, ids: readonly string[]) => users.byIds(scope, ids),

    /** A new user is refused past the tenant's maxUsersPerApp, read fresh when it is created; an existing one never is. */
    upsert: (scope: AppScope, input: { externalId: string; displayName?: string | null; metadata?: object | null }) =>
      users.upsert(scope, newId.user(), { ...input, metadata: input.metadata ?? undefined }, (tenant, userCount) => {
        const maxUsersPerApp = planLimit(tenant.plan, tenant.limits, 'maxUsersPerApp');
        if (userCount >= maxUsersPerApp) throw overLimit('maxUsersPerApp', maxUsersPerApp);
      }),

    page: (scope: AppScope, args: PageArgs<string>) => users.page(scope, args),

    /** Each token is a session (`sid`): revoking the session is what invalidates the token. */
    async createToken(scope: AppScope, input: { userId: string; ttlSeconds: number }) {
      await requireUser(scope, input.userId);
      const expiresAt = new Date(Date.now() + input.ttlSeconds * 1000);
      const session = await sessions.insert(scope, { id: newId.session(), userId: input.userId, expiresAt });
      const token = await tokens.signUserToken(
        { userId: input.userId, appId: scope.appId, tenantId: scope.tenantId, sessionId: session.id },
        expiresAt,
      );
      return { token, expiresAt };
    },

    /** Revoked sessions fail authentication at once; the bus tells every node to close the user's sockets. */
    async revokeSessions(scope: AppScope, userId: string) {
      await requireUser(scope, userId);
      const count = await sessions.revokeAllForUser(scope, userId);
      // The sessions are revoked (every HTTP request and new socket is refused) even if the
      // announcement fails; sockets already open elsewhere then stay until they reconnect.
      await bus.publish(topics.user(scope.appId, userId), { appId: scope.appId, userId, kind: 'sessions.revoked' }).catch(onError);
      return count;
    },
  };
}
export type UserService = ReturnType<typeof createUserService>;

import { badInput, forbidden } from '../lib/errors.ts';
import type { Actor, AppScope } from '../lib/scope.ts';
import { builder } from './builder.ts';
import type { Context } from './context.ts';
import { idSchema } from './validators.ts';

/**
 * The user an end-user operation acts as: the token's user, or for an app server the user
 * it names in `asUserId` (which must belong to its app). The scope always comes from the
 * credential, never from an argument.
 */
export async function actorOf(ctx: Context, asUserId: string | null | undefined): Promise<Actor> {
  const { viewer } = ctx;
  if (viewer.kind === 'user') {
    if (asUserId && asUserId !== viewer.userId) throw forbidden('asUserId is for app servers');
    return { scope: viewer.scope, userId: viewer.userId };
  }
  if (viewer.kind === 'app') {
    if (!asUserId) throw badInput([{ path: 'asUserId', message: 'An app server must say which user it acts as' }]);
    await ctx.services.users.requireUser(viewer.scope, asUserId);
    return { scope: viewer.scope, userId: asUserId };
  }
  throw forbidden('Not allowed for this credential');
}

/** The scopes of every end-user operation: an end user, or an app server acting as one. */
export const actorScopes = { endUser: true, appServer: true } as const;

export const asUserIdArg = () =>
  builder.args((t) => ({
    asUserId: t.id({
      required: false,
      description: 'App servers only: the user to act as.',
      validate: idSchema.nullish(),
    }),
  }));

/** The scope of an app-server call; the field's authScopes already admitted only app servers. */
export function appScopeOf({ viewer }: Context): AppScope {
  if (viewer.kind !== 'app') throw forbidden('Only an app server may do this');
  return viewer.scope;
}

/** The app scope of any app-bound caller (app server or end user), for loaders. */
export function scopeOf({ viewer }: Context): AppScope | null {
  return viewer.kind === 'app' || viewer.kind === 'user' ? viewer.scope : null;
}

import { actorOf, actorScopes, asUserIdArg } from '../../schema/actor.ts';
import { builder } from '../../schema/builder.ts';
import { onSlowConsumer, type Context } from '../../schema/context.ts';
import { idListSchema, idSchema } from '../../schema/validators.ts';
import type { Presence } from './presence.service.ts';

/** The users of `userIds` the caller may see: an app server any of its app's, a user those sharing a conversation. */
export async function visiblePresence(ctx: Context, userIds: string[], asUserId: string | null | undefined) {
  const { viewer, services } = ctx;
  if (viewer.kind === 'app' && !asUserId) return { scope: viewer.scope, ids: await services.presence.visibleToApp(viewer.scope, userIds) };
  const actor = await actorOf(ctx, asUserId);
  return { scope: actor.scope, ids: await services.presence.visibleToUser(actor.scope, actor.userId, userIds) };
}

export const PresenceRef = builder.objectRef<Presence>('Presence').implement({
  fields: (t) => ({
    userId: t.exposeID('userId'),
    online: t.exposeBoolean('online'),
    lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.queryFields((t) => ({
  presence: t.field({
    type: [PresenceRef],
    description:
      'Users you share a conversation with (an app server: any user of its app, or as a user with asUserId). Other ids are left out.',
    authScopes: actorScopes,
    args: { userIds: t.arg.idList({ required: true, validate: idListSchema(200) }), ...asUserIdArg() },
    resolve: async (_root, { userIds, asUserId }, ctx) => {
      const { scope, ids } = await visiblePresence(ctx, userIds, asUserId);
      return ctx.services.presence.now(scope, ids);
    },
  }),
}));

builder.mutationFields((t) => ({
  sendTyping: t.boolean({
    description:
      'Tells the other members that the caller is typing (a live event; nothing is stored). "typing: true" lapses by itself after a few seconds unless repeated.',
    authScopes: actorScopes,
    args: {
      conversationId: t.arg.id({ required: true, validate: idSchema }),
      typing: t.arg.boolean({ required: true }),
      ...asUserIdArg(),
    },
    resolve: async (_root, args, ctx) => ctx.services.typing.set(await actorOf(ctx, args.asUserId), args.conversationId, args.typing),
  }),
}));

builder.subscriptionFields((t) => ({
  presenceUpdated: t.field({
    type: PresenceRef,
    description: 'Changes of presence of the given users (only those the caller may see, as for presence).',
    authScopes: actorScopes,
    args: { userIds: t.arg.idList({ required: true, validate: idListSchema(200) }), ...asUserIdArg() },
    subscribe: async (_root, { userIds, asUserId }, ctx) => {
      const { scope, ids } = await visiblePresence(ctx, userIds, asUserId);
      return ctx.services.realtime.presenceUpdates(scope, ids, onSlowConsumer(ctx));
    },
    resolve: (e): Presence => ({ userId: e.userId, online: e.online, lastSeenAt: e.lastSeenAt ? new Date(e.lastSeenAt) : null }),
  }),
}));

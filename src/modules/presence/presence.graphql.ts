import { forbidden } from '../../lib/errors.ts';
import { actorOf, actorScopes, asUserIdArg } from '../../schema/actor.ts';
import { builder } from '../../schema/builder.ts';
import { idListSchema, idSchema } from '../../schema/validators.ts';
import type { Presence } from './presence.service.ts';

const PresenceRef = builder.objectRef<Presence>('Presence').implement({
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
      const { viewer, services } = ctx;
      if (viewer.kind === 'app' && !asUserId) return services.presence.forApp(viewer.scope, userIds);
      const actor = await actorOf(ctx, asUserId);
      return services.presence.forUser(actor.scope, actor.userId, userIds);
    },
  }),
}));

builder.mutationFields((t) => ({
  sendTyping: t.boolean({
    description: 'Tells the other members that the caller is typing (a live event; nothing is stored).',
    authScopes: actorScopes,
    args: {
      conversationId: t.arg.id({ required: true, validate: idSchema }),
      typing: t.arg.boolean({ required: true }),
      ...asUserIdArg(),
    },
    resolve: async (_root, args, ctx) => {
      const actor = await actorOf(ctx, args.asUserId);
      const { role } = await ctx.services.conversations.access(actor, args.conversationId);
      if (role === 'READER') throw forbidden('A READER cannot send typing indicators');
      return true;
    },
  }),
}));

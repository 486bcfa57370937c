import { z } from 'zod';
import { actorOf, actorScopes, asUserIdArg, scopeOf } from '../../schema/actor.ts';
import { builder } from '../../schema/builder.ts';
import { keysetConnection, timeCursor } from '../../schema/pagination.ts';
import { idListSchema, idSchema, metadataSchema, optionalTextSchema, pageArgsSchema } from '../../schema/validators.ts';
import { UserRef } from '../user/user.graphql.ts';
import type { UserRow } from '../user/user.store.ts';
import type { ConversationView } from './conversation.service.ts';
import type { MembershipRow } from './conversation.store.ts';

export const ConversationKindEnum = builder.enumType('ConversationKind', { values: ['DIRECT', 'GROUP'] as const });
export const MemberRoleEnum = builder.enumType('MemberRole', { values: ['OWNER', 'ADMIN', 'MEMBER', 'READER'] as const });

/** A member, with its user when the event that carried it had it loaded already. */
export type MemberView = MembershipRow & { user?: UserRow };

export const MemberRef = builder.objectRef<MemberView>('Member').implement({
  fields: (t) => ({
    userId: t.exposeID('userId'),
    user: t.field({ type: UserRef, resolve: (m) => m.user ?? m.userId }),
    role: t.expose('role', { type: MemberRoleEnum }),
    joinedAt: t.expose('joinedAt', { type: 'DateTime' }),
    lastReadSeq: t.exposeInt('lastReadSeq'),
    lastDeliveredSeq: t.exposeInt('lastDeliveredSeq'),
  }),
});

/** The key of a per-viewer value: the same conversation reads differently for each member. */
const viewerKey = (c: ConversationView) => `${c.viewerId}\u0000${c.id}`;

export const ConversationRef = builder.objectRef<ConversationView>('Conversation').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.expose('kind', { type: ConversationKindEnum }),
    title: t.exposeString('title', { nullable: true }),
    metadata: t.expose('metadata', { type: 'JSONObject' }),
    lastSeq: t.exposeInt('lastSeq', { description: 'The seq of the latest persisted event.' }),
    lastEventAt: t.expose('lastEventAt', { type: 'DateTime' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    // One query for the members of every conversation on the page.
    members: t.loadableList({
      type: MemberRef,
      load: async (ids: string[], ctx) => {
        const scope = scopeOf(ctx);
        const rows = scope ? await ctx.services.stores.conversations.membersOf(scope, ids) : [];
        return ids.map((id) => rows.filter((m) => m.conversationId === id));
      },
      resolve: (c) => c.id,
    }),
    // One query per viewer for the unread counts of every conversation on the page.
    unreadCount: t.loadable({
      type: 'Int',
      load: async (keys: string[], ctx) => {
        const scope = scopeOf(ctx);
        const byViewer = new Map<string, string[]>();
        for (const key of keys) {
          const [viewerId, id] = key.split('\u0000') as [string, string];
          byViewer.set(viewerId, [...(byViewer.get(viewerId) ?? []), id]);
        }
        const counts = new Map<string, number>();
        for (const [viewerId, ids] of byViewer) {
          const found = scope ? await ctx.services.stores.conversations.unreadCounts(scope, viewerId, ids) : new Map();
          for (const id of ids) counts.set(`${viewerId}\u0000${id}`, found.get(id) ?? 0);
        }
        return keys.map((key) => counts.get(key) ?? 0);
      },
      resolve: viewerKey,
    }),
  }),
});

const CreateConversationInput = builder.inputType('CreateConversationInput', {
  fields: (t) => ({
    kind: t.field({ type: ConversationKindEnum, required: true }),
    memberIds: t.idList({
      required: true,
      description: 'The other participants (listing the caller too is allowed). DIRECT takes exactly one.',
      validate: z.array(idSchema).max(1000, 'At most 1000 members at once'),
    }),
    title: t.string({ validate: optionalTextSchema }),
    metadata: t.field({ type: 'JSONObject', validate: metadataSchema }),
  }),
});


builder.queryFields((t) => ({
  conversation: t.field({
    type: ConversationRef,
    nullable: true,
    authScopes: actorScopes,
    args: { id: t.arg.id({ required: true, validate: idSchema }), ...asUserIdArg() },
    resolve: async (_root, { id, asUserId }, ctx) => ctx.services.conversations.get(await actorOf(ctx, asUserId), id),
  }),
  conversations: t.connection({
    type: ConversationRef,
    description: "The caller's conversations, most recent event first.",
    authScopes: actorScopes,
    args: asUserIdArg(),
    validate: pageArgsSchema,
    resolve: async (_root, args, ctx) => {
      const actor = await actorOf(ctx, args.asUserId);
      return keysetConnection(args, timeCursor<ConversationView>((c) => c.lastEventAt), (page) =>
        ctx.services.conversations.page(actor, page),
      );
    },
  }),
}));

builder.mutationFields((t) => ({
  createConversation: t.field({
    type: ConversationRef,
    authScopes: actorScopes,
    args: { input: t.arg({ type: CreateConversationInput, required: true }), ...asUserIdArg() },
    resolve: async (_root, { input, asUserId }, ctx) =>
      ctx.services.conversations.create(await actorOf(ctx, asUserId), input),
  }),
  addMembers: t.field({
    type: ConversationRef,
    authScopes: actorScopes,
    args: {
      conversationId: t.arg.id({ required: true, validate: idSchema }),
      userIds: t.arg.idList({ required: true, validate: idListSchema(1000) }),
      role: t.arg({ type: MemberRoleEnum, required: false, defaultValue: 'MEMBER' }),
      ...asUserIdArg(),
    },
    resolve: async (_root, args, ctx) =>
      ctx.services.conversations.addMembers(await actorOf(ctx, args.asUserId), args.conversationId, args.userIds, args.role ?? 'MEMBER'),
  }),
  removeMember: t.field({
    type: ConversationRef,
    authScopes: actorScopes,
    args: {
      conversationId: t.arg.id({ required: true, validate: idSchema }),
      userId: t.arg.id({ required: true, validate: idSchema }),
      ...asUserIdArg(),
    },
    resolve: async (_root, args, ctx) =>
      ctx.services.conversations.removeMember(await actorOf(ctx, args.asUserId), args.conversationId, args.userId),
  }),
  leaveConversation: t.boolean({
    authScopes: actorScopes,
    args: { conversationId: t.arg.id({ required: true, validate: idSchema }), ...asUserIdArg() },
    resolve: async (_root, args, ctx) => ctx.services.conversations.leave(await actorOf(ctx, args.asUserId), args.conversationId),
  }),
  updateMemberRole: t.field({
    type: MemberRef,
    authScopes: actorScopes,
    args: {
      conversationId: t.arg.id({ required: true, validate: idSchema }),
      userId: t.arg.id({ required: true, validate: idSchema }),
      role: t.arg({ type: MemberRoleEnum, required: true }),
      ...asUserIdArg(),
    },
    resolve: async (_root, args, ctx) =>
      ctx.services.conversations.updateMemberRole(await actorOf(ctx, args.asUserId), args.conversationId, args.userId, args.role),
  }),
}));

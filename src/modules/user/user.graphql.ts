import { z } from 'zod';
import { MAX_TOKEN_TTL_SECONDS } from '../../auth/keyring.ts';
import { actorOf, actorScopes, appScopeOf, asUserIdArg, scopeOf } from '../../schema/actor.ts';
import { builder } from '../../schema/builder.ts';
import { isString, keysetConnection } from '../../schema/pagination.ts';
import { idSchema, metadataSchema, pageArgsSchema, safeText } from '../../schema/validators.ts';
import type { UserRow } from './user.store.ts';

/** Users load through one dataloader per request: a page of messages costs one user query. */
export const UserRef = builder.loadableObject('User', {
  load: async (ids: string[], ctx) => {
    const scope = scopeOf(ctx);
    return scope ? ctx.services.users.byIds(scope, ids) : [];
  },
  toKey: (user: UserRow) => user.id,
  sort: true,
  cacheResolved: true,
  fields: (t) => ({
    id: t.exposeID('id'),
    externalId: t.exposeString('externalId', { description: "The app's own id for this user; unique per app." }),
    displayName: t.exposeString('displayName', { nullable: true }),
    metadata: t.expose('metadata', { type: 'JSONObject' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const UserToken = builder.objectRef<{ token: string; expiresAt: Date }>('UserToken').implement({
  fields: (t) => ({
    token: t.exposeString('token', { description: 'Send as "Authorization: Bearer <token>".' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
  }),
});

const UpsertUserInput = builder.inputType('UpsertUserInput', {
  fields: (t) => ({
    externalId: t.string({ required: true, validate: safeText.min(1).max(200) }),
    displayName: t.string({ validate: safeText.max(200).nullish() }),
    metadata: t.field({ type: 'JSONObject', validate: metadataSchema }),
  }),
});

const CreateUserTokenInput = builder.inputType('CreateUserTokenInput', {
  fields: (t) => ({
    userId: t.id({ required: true, validate: idSchema }),
    ttlSeconds: t.int({
      required: false,
      defaultValue: 3600,
      validate: z.number().int().min(60, 'At least 60 seconds').max(MAX_TOKEN_TTL_SECONDS, 'At most 24 hours').nullish(),
    }),
  }),
});

builder.queryFields((t) => ({
  me: t.field({
    type: UserRef,
    authScopes: actorScopes,
    args: asUserIdArg(),
    resolve: async (_root, { asUserId }, ctx) => (await actorOf(ctx, asUserId)).userId,
  }),
  users: t.connection({
    type: UserRef,
    description: "App server: the app's users, in creation order.",
    authScopes: { appServer: true },
    validate: pageArgsSchema,
    resolve: (_root, args, ctx) =>
      keysetConnection(args, { key: (u: UserRow) => u.id, isKey: isString }, (page) =>
        ctx.services.users.page(appScopeOf(ctx), page),
      ),
  }),
}));

builder.mutationFields((t) => ({
  upsertUser: t.field({
    type: UserRef,
    description: 'App server: creates the user with this externalId, or updates the fields given.',
    authScopes: { appServer: true },
    args: { input: t.arg({ type: UpsertUserInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.users.upsert(appScopeOf(ctx), input),
  }),
  createUserToken: t.field({
    type: UserToken,
    authScopes: { appServer: true },
    args: { input: t.arg({ type: CreateUserTokenInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.users.createToken(appScopeOf(ctx), { userId: input.userId, ttlSeconds: input.ttlSeconds ?? 3600 }),
  }),
  revokeUserSessions: t.boolean({
    description: "App server: every token of the user stops working at once.",
    authScopes: { appServer: true },
    args: { userId: t.arg.id({ required: true, validate: idSchema }) },
    resolve: async (_root, { userId }, ctx) => {
      await ctx.services.users.revokeSessions(appScopeOf(ctx), userId);
      return true;
    },
  }),
}));

import { z } from 'zod';
import { builder } from '../../schema/builder.ts';
import { idSchema, nameSchema, originSchema } from '../../schema/validators.ts';
import type { ApiKeyStore } from './api-key.store.ts';
import type { AppStore } from './app.store.ts';

type AppRow = NonNullable<Awaited<ReturnType<AppStore['byId']>>>;
type ApiKeyRow = NonNullable<Awaited<ReturnType<ApiKeyStore['byId']>>>;

const ApiKeyRef = builder.objectRef<ApiKeyRow>('ApiKey').implement({
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The public half, "pk_…".' }),
    appId: t.exposeID('appId'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
  }),
});

export const AppRef = builder.objectRef<AppRow>('App').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    tenantId: t.exposeID('tenantId'),
    name: t.exposeString('name'),
    allowedOrigins: t.exposeStringList('allowedOrigins'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    apiKeys: t.field({
      type: [ApiKeyRef],
      description: "Operator: the app's keys, revoked ones included.",
      authScopes: { operator: true },
      resolve: (app, _args, { services }) => services.stores.apiKeys.byApp(app.id),
    }),
  }),
});

const CreateApiKeyPayload = builder
  .objectRef<{ apiKey: ApiKeyRow; secret: string; key: string }>('CreateApiKeyPayload')
  .implement({
    fields: (t) => ({
      apiKey: t.field({ type: ApiKeyRef, resolve: (p) => p.apiKey }),
      secret: t.exposeString('secret', { description: 'The secret half, "sk_…": shown this once, never again.' }),
      key: t.exposeString('key', { description: 'The value to send as X-API-Key: "<id>.<secret>".' }),
    }),
  });

const CreateAppInput = builder.inputType('CreateAppInput', {
  fields: (t) => ({
    tenantId: t.id({ required: true, validate: idSchema }),
    name: t.string({ required: true, validate: nameSchema }),
    allowedOrigins: t.stringList({ required: false, validate: z.array(originSchema).max(50).nullish() }),
  }),
});

builder.queryFields((t) => ({
  apps: t.field({
    type: [AppRef],
    description: "Operator: a tenant's apps.",
    authScopes: { operator: true },
    args: { tenantId: t.arg.id({ required: true, validate: idSchema }) },
    resolve: (_root, { tenantId }, { services }) => services.apps.listForTenant(tenantId),
  }),
}));

builder.mutationFields((t) => ({
  createApp: t.field({
    type: AppRef,
    authScopes: { operator: true },
    args: { input: t.arg({ type: CreateAppInput, required: true }) },
    resolve: (_root, { input }, { services }) =>
      services.apps.create({ tenantId: input.tenantId, name: input.name, allowedOrigins: input.allowedOrigins ?? [] }),
  }),
  createApiKey: t.field({
    type: CreateApiKeyPayload,
    authScopes: { operator: true },
    args: { appId: t.arg.id({ required: true, validate: idSchema }) },
    resolve: (_root, { appId }, { services }) => services.apps.createApiKey(appId),
  }),
  revokeApiKey: t.field({
    type: ApiKeyRef,
    authScopes: { operator: true },
    args: { id: t.arg.id({ required: true, validate: idSchema }) },
    resolve: (_root, { id }, { services }) => services.apps.revokeApiKey(id),
  }),
}));

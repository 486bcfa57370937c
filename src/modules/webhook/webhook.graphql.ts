import { z } from 'zod';
import { notFound } from '../../lib/errors.ts';
import { builder } from '../../schema/builder.ts';
import type { Context } from '../../schema/context.ts';
import { keysetConnection, timeCursor } from '../../schema/pagination.ts';
import { idSchema, optionalTextSchema, pageArgsSchema, safeText } from '../../schema/validators.ts';
import type { AttemptRow, DeliveryRow, EndpointRow } from './webhook.store.ts';

const appServer = { appServer: true } as const;
const appServerOrOperator = { appServer: true, operator: true } as const;

/**
 * The app a webhook call is about: an app server's own (naming another app is NOT_FOUND, as
 * for everything of another app), or for the operator the app `lookup` finds.
 */
async function appIdFor(ctx: Context, lookup: () => Promise<string | null>, { named, what = 'App' }: { named?: string | null; what?: string } = {}): Promise<string> {
  if (ctx.viewer.kind === 'app') {
    if (named && named !== ctx.viewer.scope.appId) throw notFound('App');
    return ctx.viewer.scope.appId;
  }
  return (await lookup()) ?? Promise.reject(notFound(what));
}
const ownApp = (ctx: Context) => appIdFor(ctx, async () => null);

const EndpointStatusEnum = builder.enumType('WebhookEndpointStatus', { values: ['ENABLED', 'DISABLED'] as const });
const DeliveryStatusEnum = builder.enumType('WebhookDeliveryStatus', {
  values: {
    PENDING: { description: 'Waiting for its next attempt.' },
    SUCCEEDED: { description: 'A 2xx answer received it.' },
    FAILED: { description: 'A dead letter: every attempt failed (or the endpoint is gone); replayDeadLetter sends it again.' },
  } as const,
});

const EndpointRef = builder.objectRef<EndpointRow>('WebhookEndpoint').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    appId: t.exposeID('appId'),
    url: t.exposeString('url'),
    events: t.exposeStringList('events', { description: 'Event types delivered, or ["*"] for all.' }),
    description: t.exposeString('description', { nullable: true }),
    status: t.expose('status', { type: EndpointStatusEnum }),
    disabledReason: t.exposeString('disabledReason', { nullable: true, description: 'Why it is DISABLED (by the app, or a 410 from the receiver).' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const EndpointSecretPayload = builder.objectRef<{ endpoint: EndpointRow; secret: string }>('WebhookEndpointSecretPayload').implement({
  fields: (t) => ({
    endpoint: t.field({ type: EndpointRef, resolve: (p) => p.endpoint }),
    secret: t.exposeString('secret', { description: 'The signing secret, "whsec_…": shown this once, never again.' }),
  }),
});

const AttemptRef = builder.objectRef<AttemptRow>('WebhookAttempt').implement({
  fields: (t) => ({
    attempt: t.exposeInt('attempt'),
    at: t.expose('at', { type: 'DateTime' }),
    status: t.exposeInt('status', { nullable: true, description: 'The HTTP status, or null when no answer came.' }),
    error: t.exposeString('error', { nullable: true }),
    responseSnippet: t.exposeString('responseSnippet', { nullable: true, description: 'The start of the response body.' }),
    durationMs: t.exposeInt('durationMs'),
  }),
});

const DeliveryRef = builder.objectRef<DeliveryRow>('WebhookDelivery').implement({
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Also the `webhook-id` header of every attempt.' }),
    endpointId: t.exposeID('endpointId'),
    eventType: t.exposeString('eventType'),
    conversationId: t.exposeID('conversationId', { nullable: true }),
    seq: t.exposeInt('seq', { nullable: true }),
    payload: t.field({ type: 'JSONObject', resolve: (d) => d.payload as object, description: 'The body POSTed.' }),
    status: t.expose('status', { type: DeliveryStatusEnum }),
    attempts: t.exposeInt('attempts'),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true }),
    lastStatus: t.exposeInt('lastStatus', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    failedAt: t.expose('failedAt', { type: 'DateTime', nullable: true }),
    attemptLog: t.field({
      type: [AttemptRef],
      description: 'Every attempt, oldest first.',
      resolve: (d, _args, { services }) => services.webhooks.attempts([d.id]),
    }),
  }),
});

const eventsSchema = z.array(safeText.max(100)).min(1, 'At least one event type').max(20).nullish();
const urlSchema = safeText.max(2048, 'At most 2048 characters');

const CreateEndpointInput = builder.inputType('CreateWebhookEndpointInput', {
  fields: (t) => ({
    url: t.string({ required: true, validate: urlSchema, description: 'https (http and private addresses only with WEBHOOK_ALLOW_PRIVATE_TARGETS).' }),
    events: t.stringList({ validate: eventsSchema, description: 'Event types to deliver; default ["*"], all.' }),
    description: t.string({ validate: optionalTextSchema }),
  }),
});
const UpdateEndpointInput = builder.inputType('UpdateWebhookEndpointInput', {
  description: 'Absent fields are left as they are.',
  fields: (t) => ({
    url: t.string({ validate: urlSchema.nullish() }),
    events: t.stringList({ validate: eventsSchema }),
    description: t.string({ validate: optionalTextSchema }),
    status: t.field({ type: EndpointStatusEnum, description: 'DISABLED stops deliveries (pending ones become dead letters); ENABLED resumes.' }),
  }),
});

const deliveryCursor = timeCursor<DeliveryRow>((d) => d.createdAt);

builder.queryFields((t) => ({
  webhookEndpoints: t.field({
    type: [EndpointRef],
    authScopes: appServerOrOperator,
    description: "The app's webhook endpoints, oldest first. The operator names the app; an app server may omit it.",
    args: { appId: t.arg.id({ required: false, validate: idSchema.nullish() }) },
    resolve: async (_root, { appId }, ctx) =>
      ctx.services.webhooks.endpoints(
        await appIdFor(ctx, async () => (appId ? ((await ctx.services.stores.apps.byId(appId))?.id ?? null) : null), { named: appId }),
      ),
  }),
  webhookEndpoint: t.field({
    type: EndpointRef,
    authScopes: appServer,
    args: { id: t.arg.id({ required: true, validate: idSchema }) },
    resolve: async (_root, { id }, ctx) => ctx.services.webhooks.endpoint(await ownApp(ctx), id),
  }),
  webhookDeliveries: t.connection({
    type: DeliveryRef,
    authScopes: appServerOrOperator,
    description: "An endpoint's deliveries, oldest first, with their attempts.",
    args: { endpointId: t.arg.id({ required: true, validate: idSchema }) },
    validate: pageArgsSchema,
    resolve: async (_root, args, ctx) => {
      const appId = await appIdFor(ctx, () => ctx.services.webhooks.appOfEndpoint(args.endpointId), { what: 'Webhook endpoint' });
      return keysetConnection(args, deliveryCursor, (page) => ctx.services.webhooks.deliveries(appId, args.endpointId, page));
    },
  }),
  deadLetters: t.connection({
    type: DeliveryRef,
    authScopes: appServerOrOperator,
    description: "The app's dead letters (FAILED deliveries), oldest first.",
    args: { appId: t.arg.id({ required: true, validate: idSchema }) },
    validate: pageArgsSchema,
    resolve: async (_root, args, ctx) => {
      const appId = await appIdFor(ctx, async () => (await ctx.services.stores.apps.byId(args.appId))?.id ?? null, { named: args.appId });
      return keysetConnection(args, deliveryCursor, (page) => ctx.services.webhooks.deadLetters(appId, page));
    },
  }),
}));

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    type: EndpointSecretPayload,
    authScopes: appServer,
    args: { input: t.arg({ type: CreateEndpointInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ctx.services.webhooks.create(await ownApp(ctx), input),
  }),
  updateWebhookEndpoint: t.field({
    type: EndpointRef,
    authScopes: appServer,
    args: { id: t.arg.id({ required: true, validate: idSchema }), input: t.arg({ type: UpdateEndpointInput, required: true }) },
    resolve: async (_root, { id, input }, ctx) => ctx.services.webhooks.update(await ownApp(ctx), id, input),
  }),
  deleteWebhookEndpoint: t.boolean({
    authScopes: appServer,
    description: 'Deletes the endpoint with its deliveries.',
    args: { id: t.arg.id({ required: true, validate: idSchema }) },
    resolve: async (_root, { id }, ctx) => ctx.services.webhooks.remove(await ownApp(ctx), id),
  }),
  rotateWebhookEndpointSecret: t.field({
    type: EndpointSecretPayload,
    authScopes: appServer,
    description: 'A new secret signs from now on; the old one signs too for 24 hours (receivers accept either).',
    args: { id: t.arg.id({ required: true, validate: idSchema }) },
    resolve: async (_root, { id }, ctx) => ctx.services.webhooks.rotateSecret(await ownApp(ctx), id),
  }),
  replayDeadLetter: t.field({
    type: DeliveryRef,
    authScopes: appServerOrOperator,
    description: 'Sends a dead letter again, with a fresh round of attempts and the same webhook-id.',
    args: { id: t.arg.id({ required: true, validate: idSchema }) },
    resolve: async (_root, { id }, ctx) =>
      ctx.services.webhooks.replayDeadLetter(await appIdFor(ctx, () => ctx.services.webhooks.appOfDelivery(id), { what: 'Webhook delivery' }), id),
  }),
  replayDeadLetters: t.int({
    authScopes: appServerOrOperator,
    description: "Sends every dead letter of an endpoint again; how many.",
    args: { endpointId: t.arg.id({ required: true, validate: idSchema }) },
    resolve: async (_root, { endpointId }, ctx) =>
      ctx.services.webhooks.replayDeadLetters(await appIdFor(ctx, () => ctx.services.webhooks.appOfEndpoint(endpointId), { what: 'Webhook endpoint' }), endpointId),
  }),
}));

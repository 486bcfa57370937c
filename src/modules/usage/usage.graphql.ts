import { Kind, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import { z } from 'zod';
import { badInput, forbidden, notFound } from '../../lib/errors.ts';
import { builder } from '../../schema/builder.ts';
import type { Context } from '../../schema/context.ts';
import { idSchema } from '../../schema/validators.ts';
import type { TenantUsage, UsageBucket, UsageTotals } from './usage.service.ts';
import type { UsageScope } from './usage.store.ts';

const GranularityEnum = builder.enumType('UsageGranularity', { values: ['HOUR', 'DAY'] as const });

const counts = {
  messages: 'Messages sent (sendMessage).',
  webhookDeliveries: 'Webhook deliveries created (one per event per endpoint).',
  webhookAttempts: 'Webhook delivery attempts made.',
  webhookAttemptsSucceeded: 'Attempts answered with a 2xx.',
  webhookDeadLetters: 'Deliveries that became dead letters.',
} as const;

const UsageBucketRef = builder.objectRef<UsageBucket>('UsageBucket').implement({
  description: 'One UTC hour or day of a tenant.',
  fields: (t) => ({
    start: t.expose('start', { type: 'DateTime', description: 'The bucket start, UTC.' }),
    activeUsers: t.exposeInt('activeUsers', { description: 'Distinct users active in the bucket (a request, a socket held, a message sent).' }),
    peakSockets: t.exposeInt('peakSockets', { description: 'The most sockets open at once in the bucket, on all nodes (sampled).' }),
    messages: t.exposeInt('messages', { description: counts.messages }),
    webhookDeliveries: t.exposeInt('webhookDeliveries', { description: counts.webhookDeliveries }),
    webhookAttempts: t.exposeInt('webhookAttempts', { description: counts.webhookAttempts }),
    webhookAttemptsSucceeded: t.exposeInt('webhookAttemptsSucceeded', { description: counts.webhookAttemptsSucceeded }),
    webhookDeadLetters: t.exposeInt('webhookDeadLetters', { description: counts.webhookDeadLetters }),
  }),
});

const UsageTotalsRef = builder.objectRef<UsageTotals>('UsageTotals').implement({
  fields: (t) => ({
    monthlyActiveUsers: t.exposeInt('monthlyActiveUsers', { description: 'Distinct users active in [from, to).' }),
    peakSockets: t.exposeInt('peakSockets', { description: 'The highest bucket peak.' }),
    webhookSuccessRate: t.exposeFloat('webhookSuccessRate', { nullable: true, description: 'Succeeded / attempts; null when there were no attempts.' }),
    messages: t.exposeInt('messages', { description: counts.messages }),
    webhookDeliveries: t.exposeInt('webhookDeliveries', { description: counts.webhookDeliveries }),
    webhookAttempts: t.exposeInt('webhookAttempts', { description: counts.webhookAttempts }),
    webhookAttemptsSucceeded: t.exposeInt('webhookAttemptsSucceeded', { description: counts.webhookAttemptsSucceeded }),
    webhookDeadLetters: t.exposeInt('webhookDeadLetters', { description: counts.webhookDeadLetters }),
  }),
});

const AppUsageRef = builder.objectRef<TenantUsage['apps'][number]>('AppUsage').implement({
  fields: (t) => ({
    appId: t.exposeID('appId'),
    name: t.exposeString('name'),
    totals: t.field({ type: UsageTotalsRef, resolve: (a) => a.totals }),
    currentSockets: t.exposeInt('currentSockets', { description: "The app's open sockets now, on all nodes." }),
  }),
});

const TenantUsageRef = builder.objectRef<TenantUsage>('TenantUsage').implement({
  fields: (t) => ({
    tenantId: t.exposeID('tenantId'),
    from: t.expose('from', { type: 'DateTime', description: 'The range start, rounded down to a whole bucket (UTC).' }),
    to: t.expose('to', { type: 'DateTime', description: 'The range end (excluded), rounded up to a whole bucket (UTC).' }),
    granularity: t.expose('granularity', { type: GranularityEnum }),
    totals: t.field({ type: UsageTotalsRef, resolve: (u) => u.totals }),
    buckets: t.field({ type: [UsageBucketRef], description: 'Every bucket of [from, to), empty ones included, oldest first.', resolve: (u) => u.buckets }),
    apps: t.field({ type: [AppUsageRef], resolve: (u) => u.apps }),
    currentSockets: t.exposeInt('currentSockets', { description: "The tenant's open sockets now, on all nodes (an app server: its app's)." }),
  }),
});

type LiveConnections = { total: number; tenants: { tenantId: string; name: string; sockets: number }[] };
const TenantConnectionsRef = builder.objectRef<LiveConnections['tenants'][number]>('TenantConnections').implement({
  fields: (t) => ({ tenantId: t.exposeID('tenantId'), name: t.exposeString('name'), sockets: t.exposeInt('sockets') }),
});
const LiveConnectionsRef = builder.objectRef<LiveConnections>('LiveConnections').implement({
  fields: (t) => ({
    total: t.exposeInt('total'),
    tenants: t.field({ type: [TenantConnectionsRef], description: 'Tenants with open sockets, most first.', resolve: (l) => l.tenants }),
  }),
});

/**
 * The operator names any tenant and sees all of it; an app server gets its own app only (another
 * tenant's id is NOT_FOUND, as if it did not exist; its sibling apps are not shown to it).
 */
function scopeOf({ viewer }: Context, tenantId: string | null | undefined): UsageScope {
  if (viewer.kind === 'operator') {
    if (!tenantId) throw badInput([{ path: 'tenantId', message: 'The operator must say which tenant' }]);
    return { tenantId };
  }
  if (viewer.kind !== 'app') throw forbidden('Not allowed for this credential');
  if (tenantId && tenantId !== viewer.scope.tenantId) throw notFound('Tenant');
  return { tenantId: viewer.scope.tenantId, appId: viewer.scope.appId };
}

/** Whether the selection under this field asks for any of `names`, at any depth (fragments included). */
function asksFor(info: GraphQLResolveInfo, names: ReadonlySet<string>): boolean {
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode | undefined): boolean =>
    !!set &&
    set.selections.some((s) => {
      if (s.kind === Kind.FIELD) return names.has(s.name.value) || walk(s.selectionSet);
      if (s.kind === Kind.INLINE_FRAGMENT) return walk(s.selectionSet);
      if (seen.has(s.name.value)) return false;
      seen.add(s.name.value);
      return walk(info.fragments[s.name.value]?.selectionSet);
    });
  return info.fieldNodes.some((node) => walk(node.selectionSet));
}
/** The distinct-user counts are the costly part: skipped when nobody asks (the dashboard's tenant list). */
const ACTIVE_USER_FIELDS = new Set(['activeUsers', 'monthlyActiveUsers']);

builder.queryFields((t) => ({
  usage: t.field({
    type: TenantUsageRef,
    description:
      "A tenant's usage over [from, to) (default: the last 30 days by DAY, 48 hours by HOUR, up to now): the operator's for any tenant; an app server's for its own app only (totals, buckets, peaks and sockets of that app, `apps` holding just it).",
    authScopes: { operator: true, appServer: true },
    args: {
      tenantId: t.arg.id({ required: false, validate: idSchema.nullish() }),
      from: t.arg({ type: 'DateTime', required: false, validate: z.date().nullish() }),
      to: t.arg({ type: 'DateTime', required: false, validate: z.date().nullish() }),
      granularity: t.arg({ type: GranularityEnum, required: false, defaultValue: 'DAY' }),
    },
    resolve: (_root, args, ctx, info) =>
      ctx.services.usage.tenantUsage(
        scopeOf(ctx, args.tenantId),
        { from: args.from, to: args.to, granularity: args.granularity ?? 'DAY' },
        { activeUsers: asksFor(info, ACTIVE_USER_FIELDS) },
      ),
  }),
  liveConnections: t.field({
    type: LiveConnectionsRef,
    description: 'Operator: open sockets now, on all nodes, per tenant.',
    authScopes: { operator: true },
    resolve: (_root, _args, { services }) => services.usage.liveConnections(),
  }),
}));

import { z } from 'zod';
import { builder } from '../../schema/builder.ts';
import { keysetConnection, timeCursor } from '../../schema/pagination.ts';
import { idSchema, nameSchema, pageArgsSchema } from '../../schema/validators.ts';
import { LIMIT_NAMES, type TenantLimits } from './plans.ts';
import type { TenantRow } from './tenant.store.ts';

export const PlanEnum = builder.enumType('Plan', { values: ['FREE', 'PRO', 'ENTERPRISE'] as const });
export const TenantStatusEnum = builder.enumType('TenantStatus', { values: ['ACTIVE', 'SUSPENDED'] as const });

const TenantLimitsRef = builder.objectRef<TenantLimits>('TenantLimits').implement({
  description: "The tenant's effective limits: its plan's defaults unless overridden.",
  fields: (t) => Object.fromEntries(LIMIT_NAMES.map((name) => [name, t.exposeInt(name)])) as never,
});

export const TenantRef = builder.objectRef<TenantRow>('Tenant').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    plan: t.expose('plan', { type: PlanEnum }),
    status: t.expose('status', { type: TenantStatusEnum }),
    limits: t.field({ type: TenantLimitsRef, resolve: (tenant, _args, { services }) => services.tenants.effective(tenant) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const limitValue = z.number().int().min(0, 'Must be 0 or more').max(1_000_000_000).nullish();
const TenantLimitsInput = builder.inputType('TenantLimitsInput', {
  description:
    'A number overrides the plan default; null returns to it; an absent field is left as it is. Overrides stay when the plan changes.',
  fields: (t) => Object.fromEntries(LIMIT_NAMES.map((name) => [name, t.int({ validate: limitValue })])) as never,
});

const CreateTenantInput = builder.inputType('CreateTenantInput', {
  fields: (t) => ({
    name: t.string({ required: true, validate: nameSchema }),
    plan: t.field({ type: PlanEnum, required: false, defaultValue: 'FREE' }),
  }),
});

const UpdateTenantInput = builder.inputType('UpdateTenantInput', {
  fields: (t) => ({
    plan: t.field({ type: PlanEnum }),
    status: t.field({ type: TenantStatusEnum }),
    limits: t.field({ type: TenantLimitsInput }),
  }),
});

const tenantCursor = timeCursor<TenantRow>((t) => t.createdAt);

builder.queryFields((t) => ({
  tenants: t.connection({
    type: TenantRef,
    description: 'Operator: every tenant, oldest first.',
    authScopes: { operator: true },
    validate: pageArgsSchema,
    resolve: (_root, args, { services }) => keysetConnection(args, tenantCursor, (page) => services.tenants.page(page)),
  }),
  tenant: t.field({
    type: TenantRef,
    nullable: true,
    authScopes: { operator: true },
    args: { id: t.arg.id({ required: true, validate: idSchema }) },
    resolve: (_root, { id }, { services }) => services.tenants.get(id),
  }),
}));

builder.mutationFields((t) => ({
  createTenant: t.field({
    type: TenantRef,
    authScopes: { operator: true },
    args: { input: t.arg({ type: CreateTenantInput, required: true }) },
    resolve: (_root, { input }, { services }) => services.tenants.create({ name: input.name, plan: input.plan ?? 'FREE' }),
  }),
  updateTenant: t.field({
    type: TenantRef,
    authScopes: { operator: true },
    args: {
      id: t.arg.id({ required: true, validate: idSchema }),
      input: t.arg({ type: UpdateTenantInput, required: true }),
    },
    resolve: (_root, { id, input }, { services }) => services.tenants.update(id, input as never),
  }),
}));

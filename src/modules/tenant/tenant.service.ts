import { notFound } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import type { PageArgs, TimeCursor } from '../../lib/scope.ts';
import { mergeOverrides, type LimitName, type Plan } from './plans.ts';
import type { TenantStore } from './tenant.store.ts';

export type UpdateTenantInput = {
  plan?: Plan | null;
  status?: 'ACTIVE' | 'SUSPENDED' | null;
  limits?: Partial<Record<LimitName, number | null>> | null;
};

export function createTenantService({ tenants }: { tenants: TenantStore }) {
  return {
    create: (input: { name: string; plan: Plan }) => tenants.insert({ id: newId.tenant(), ...input }),

    async get(id: string) {
      return (await tenants.byId(id)) ?? Promise.reject(notFound('Tenant'));
    },

    async update(id: string, input: UpdateTenantInput) {
      const updated = await tenants.update(id, (tenant) => ({
        ...(input.plan ? { plan: input.plan } : {}),
        ...(input.status ? { status: input.status } : {}),
        ...(input.limits ? { limits: mergeOverrides(tenant.limits, input.limits) } : {}),
      }));
      if (!updated) throw notFound('Tenant');
      return updated;
    },

    page: (args: PageArgs<TimeCursor>) => tenants.page(args),
  };
}
export type TenantService = ReturnType<typeof createTenantService>;

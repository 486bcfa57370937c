import type { Bus } from '../../events/bus.ts';
import { createTtlCache } from '../../lib/ttl-cache.ts';
import { topics } from '../../events/event-map.ts';
import { notFound } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import type { PageArgs, TimeCursor } from '../../lib/scope.ts';
import { effectiveLimits, mergeOverrides, type DeploymentLimits, type LimitName, type Plan, type TenantLimits } from './plans.ts';
import type { TenantStore } from './tenant.store.ts';

export type UpdateTenantInput = {
  plan?: Plan | null;
  status?: 'ACTIVE' | 'SUSPENDED' | null;
  limits?: Partial<Record<LimitName, number | null>> | null;
};

/** How long a node trusts the limits it read: an updateTenant reaches every node within this. */
const LIMITS_CACHE_MS = 5_000;

export function createTenantService({
  tenants,
  bus,
  deployment,
  onError,
}: {
  tenants: TenantStore;
  deployment: DeploymentLimits;
  /** Announces a suspension, so that every node closes the tenant's sockets. */
  bus: Pick<Bus, 'publish'>;
  onError: (err: unknown) => void;
}) {
  const cachedLimits = createTtlCache(LIMITS_CACHE_MS, async (id): Promise<TenantLimits> => {
    const tenant = await tenants.byId(id);
    if (!tenant) throw notFound('Tenant');
    return effectiveLimits(tenant.plan, tenant.limits, deployment);
  });
  return {
    create: (input: { name: string; plan: Plan }) => tenants.insert({ id: newId.tenant(), ...input }),

    async get(id: string) {
      return (await tenants.byId(id)) ?? Promise.reject(notFound('Tenant'));
    },

    /** A tenant row's effective limits (its plan's, its own overrides, the deployment's caps). */
    effective: (tenant: { plan: Plan; limits: unknown }) => effectiveLimits(tenant.plan, tenant.limits, deployment),

    /** The tenant's effective limits, read at most every few seconds (checked on hot paths). */
    limits: (id: string): Promise<TenantLimits> => cachedLimits.get(id),

    async update(id: string, input: UpdateTenantInput) {
      const updated = await tenants.update(id, (tenant) => ({
        ...(input.plan ? { plan: input.plan } : {}),
        ...(input.status ? { status: input.status } : {}),
        ...(input.limits ? { limits: mergeOverrides(tenant.limits, input.limits) } : {}),
      }));
      if (!updated) throw notFound('Tenant');
      cachedLimits.delete(id);
      // Requests and new sockets are refused from now on (credentials read the status); open
      // sockets close on every node. If the announcement fails, they stay until they reconnect.
      if (input.status === 'SUSPENDED') await bus.publish(topics.tenant(id), { tenantId: id, kind: 'tenant.suspended' }).catch(onError);
      return updated;
    },

    page: (args: PageArgs<TimeCursor>) => tenants.page(args),
  };
}
export type TenantService = ReturnType<typeof createTenantService>;

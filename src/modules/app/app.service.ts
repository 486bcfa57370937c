import { hashSecret } from '../../auth/secrets.ts';
import type { Bus } from '../../events/bus.ts';
import { topics } from '../../events/event-map.ts';
import { notFound, overLimit } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import { planLimit } from '../tenant/plans.ts';
import type { TenantStore } from '../tenant/tenant.store.ts';
import type { ApiKeyStore } from './api-key.store.ts';
import type { AppStore } from './app.store.ts';

/** Operator-side management of apps and their API keys. */
export function createAppService(deps: {
  apps: AppStore;
  apiKeys: ApiKeyStore;
  tenants: TenantStore;
  /** Announces a revoked key, so that every node closes the sockets it opened. */
  bus: Pick<Bus, 'publish'>;
  onError: (err: unknown) => void;
}) {
  const { apps, apiKeys, tenants } = deps;
  return {
    /** Refused past the tenant's maxApps, read fresh under the tenant's row lock. */
    async create(input: { tenantId: string; name: string; allowedOrigins: string[] }) {
      const app = await apps.insertCounted({ id: newId.app(), ...input }, (tenant, appCount) => {
        const maxApps = planLimit(tenant.plan, tenant.limits, 'maxApps');
        if (appCount >= maxApps) throw overLimit('maxApps', maxApps);
      });
      if (!app) throw notFound('Tenant');
      return app;
    },

    async listForTenant(tenantId: string) {
      if (!(await tenants.byId(tenantId))) throw notFound('Tenant');
      return apps.byTenant(tenantId);
    },

    /** The secret exists only in this return value: the store keeps its scrypt hash. */
    async createApiKey(appId: string) {
      if (!(await apps.byId(appId))) throw notFound('App');
      const id = newId.apiKeyId();
      const secret = newId.apiKeySecret();
      const apiKey = await apiKeys.insert({ id, appId, secretHash: await hashSecret(secret) });
      return { apiKey, secret, key: `${id}.${secret}` };
    },

    /**
     * Requests and new sockets with the key are refused from now on (authentication reads the
     * row); sockets it opened close on every node. Announced again on a repeat, in case the
     * first announcement failed.
     */
    async revokeApiKey(id: string) {
      const key = await apiKeys.byId(id);
      if (!key) throw notFound('API key');
      const revoked = key.revokedAt ? key : await apiKeys.revoke(id);
      const app = await apps.byId(key.appId);
      if (app) {
        await deps.bus
          .publish(topics.tenant(app.tenantId), { tenantId: app.tenantId, kind: 'apiKey.revoked', appId: app.id, apiKeyId: id })
          .catch(deps.onError);
      }
      return revoked;
    },
  };
}
export type AppService = ReturnType<typeof createAppService>;

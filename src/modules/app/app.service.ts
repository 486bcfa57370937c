import { hashSecret } from '../../auth/secrets.ts';
import { notFound } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import type { TenantStore } from '../tenant/tenant.store.ts';
import type { ApiKeyStore } from './api-key.store.ts';
import type { AppStore } from './app.store.ts';

/** Operator-side management of apps and their API keys. */
export function createAppService(deps: { apps: AppStore; apiKeys: ApiKeyStore; tenants: TenantStore }) {
  const { apps, apiKeys, tenants } = deps;
  return {
    async create(input: { tenantId: string; name: string; allowedOrigins: string[] }) {
      if (!(await tenants.byId(input.tenantId))) throw notFound('Tenant');
      return apps.insert({ id: newId.app(), ...input });
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

    async revokeApiKey(id: string) {
      const key = await apiKeys.byId(id);
      if (!key) throw notFound('API key');
      return key.revokedAt ? key : apiKeys.revoke(id);
    },
  };
}
export type AppService = ReturnType<typeof createAppService>;

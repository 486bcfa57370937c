import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/index.ts';
import { ok } from '../helpers/client.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { seedApp, seedUser } from '../helpers/seed.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { connectWs, disposeAllWs, eventually } from '../helpers/ws.ts';

// A suspension or key revocation handled by one node closes the sockets held by the others
// (announced over Redis).

const UpdateTenant = graphql(`
  mutation Revoke2ClusterUpdateTenant($id: ID!, $input: UpdateTenantInput!) {
    updateTenant(id: $id, input: $input) { id }
  }
`);
const RevokeKey = graphql(`
  mutation Revoke2ClusterRevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) { id }
  }
`);
const CreateKey = graphql(`
  mutation Revoke2ClusterCreateKey($appId: ID!) {
    createApiKey(appId: $appId) { key }
  }
`);

let redis: Awaited<ReturnType<typeof startRedis>>;
let nodes: [TestServer, TestServer];

beforeAll(async () => {
  redis = await startRedis();
  const shared = { REDIS_URL: redis.url, ADMIN_TOKEN: `shared-admin-${Date.now()}-token` };
  nodes = [await startServer(shared), await startServer(shared)];
});
afterEach(() => disposeAllWs());
afterAll(async () => {
  for (const node of nodes ?? []) await node.close();
  await redis?.stop();
});

describe('live revocation across nodes', () => {
  it("suspending a tenant on one node closes its sockets on the other (4403)", async () => {
    const app = await seedApp(nodes[0]);
    const user = await seedUser(nodes[0], app);
    const sockets = [connectWs(nodes[1], { token: user.token }), connectWs(nodes[1], { apiKey: app.apiKey })];
    await Promise.all(sockets.map((ws) => ws.connected));
    await ok(nodes[0].graphqlUrl, UpdateTenant, { id: app.tenantId, input: { status: 'SUSPENDED' } }, { token: nodes[0].adminToken });
    await eventually(() => expect(sockets.map((ws) => ws.closed?.code)).toEqual([4403, 4403]));
  });

  it('revoking an API key on one node closes the sockets it opened on the other (4401), not another key’s', async () => {
    const app = await seedApp(nodes[0]);
    const { createApiKey } = await ok(nodes[0].graphqlUrl, CreateKey, { appId: app.appId }, { token: nodes[0].adminToken });
    const revoked = connectWs(nodes[1], { apiKey: app.apiKey });
    const kept = connectWs(nodes[1], { apiKey: createApiKey.key });
    await Promise.all([revoked.connected, kept.connected]);
    await ok(nodes[0].graphqlUrl, RevokeKey, { id: app.apiKeyId }, { token: nodes[0].adminToken });
    await eventually(() => expect(revoked.closed?.code).toBe(4401));
    // The revocation closed its sockets on node 2 in one go; a later round trip to node 2
    // finds the other key's socket still open.
    const later = await seedUser(nodes[0], { ...app, apiKey: createApiKey.key });
    const probe = connectWs(nodes[1], { token: later.token });
    await probe.connected;
    expect(kept.closed).toBeUndefined();
  });
});

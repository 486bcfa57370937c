import type { Gql } from './parley-api.ts';

// What the demo needs in Parley, created on first start and found again on the next: a tenant,
// an app whose allowedOrigins is the page's origin, an API key, and one group conversation
// that every visitor joins, owned by a "host" user the backend acts as.

export type DemoRoom = { tenantId: string; appId: string; apiKey: string; hostUserId: string; conversationId: string };

export type DemoRoomOptions = {
  adminToken: string;
  /** The page's origins, e.g. http://localhost:5173: the only ones allowed to call Parley with the app's tokens. */
  origins: string[];
  tenantName?: string;
  appName?: string;
};

type Connection<T> = { edges: { node: T }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };

async function findTenant(gql: Gql, adminToken: string, name: string) {
  let after: string | null = null;
  do {
    const { tenants }: { tenants: Connection<{ id: string; name: string }> } = await gql(
      { adminToken },
      `query ExampleTenants($after: String) { tenants(first: 100, after: $after) { edges { node { id name } } pageInfo { hasNextPage endCursor } } }`,
      { after },
    );
    const found = tenants.edges.find((e) => e.node.name === name);
    if (found) return found.node.id;
    after = tenants.pageInfo.hasNextPage ? tenants.pageInfo.endCursor : null;
  } while (after);
  return null;
}

async function findOrCreateApp(gql: Gql, adminToken: string, tenantId: string, name: string, origins: string[]) {
  const { apps } = await gql<{ apps: { id: string; name: string; allowedOrigins: string[] }[] }>(
    { adminToken },
    `query ExampleApps($tenantId: ID!) { apps(tenantId: $tenantId) { id name allowedOrigins } }`,
    { tenantId },
  );
  // Apps cannot change their origins, so another port means another app.
  const found = apps.find((a) => a.name === name && origins.every((o) => a.allowedOrigins.includes(o)));
  if (found) return found.id;
  const { createApp } = await gql<{ createApp: { id: string } }>(
    { adminToken },
    `mutation ExampleCreateApp($input: CreateAppInput!) { createApp(input: $input) { id } }`,
    { input: { tenantId, name, allowedOrigins: origins } },
  );
  return createApp.id;
}

/** Creates what is missing and returns the room; a key is minted on every start (secrets are shown once). */
export async function provisionDemoRoom(
  gql: Gql,
  { adminToken, origins, tenantName = 'Parley example', appName = 'Example chat' }: DemoRoomOptions,
): Promise<DemoRoom> {
  const tenantId =
    (await findTenant(gql, adminToken, tenantName)) ??
    (
      await gql<{ createTenant: { id: string } }>(
        { adminToken },
        `mutation ExampleCreateTenant($input: CreateTenantInput!) { createTenant(input: $input) { id } }`,
        { input: { name: tenantName, plan: 'PRO' } },
      )
    ).createTenant.id;
  const appId = await findOrCreateApp(gql, adminToken, tenantId, appName, origins);
  const { createApiKey } = await gql<{ createApiKey: { key: string } }>(
    { adminToken },
    `mutation ExampleCreateApiKey($appId: ID!) { createApiKey(appId: $appId) { key } }`,
    { appId },
  );
  const app = { apiKey: createApiKey.key };

  const { upsertUser: host } = await gql<{ upsertUser: { id: string } }>(
    app,
    `mutation ExampleHost { upsertUser(input: { externalId: "example-host", displayName: "Host" }) { id } }`,
  );
  // The host is in this one conversation only, so its first conversation is the room.
  const { conversations } = await gql<{ conversations: Connection<{ id: string }> }>(
    app,
    `query ExampleRooms($host: ID!) { conversations(asUserId: $host, first: 1) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`,
    { host: host.id },
  );
  const conversationId =
    conversations.edges[0]?.node.id ??
    (
      await gql<{ createConversation: { id: string } }>(
        app,
        `mutation ExampleCreateRoom($host: ID!) { createConversation(asUserId: $host, input: { kind: GROUP, memberIds: [], title: "Demo room" }) { id } }`,
        { host: host.id },
      )
    ).createConversation.id;

  return { tenantId, appId, apiKey: createApiKey.key, hostUserId: host.id, conversationId };
}

// Every GraphQL document the admin page sends, in one place, and the one function that sends
// them. test/integration/admin-page.test.ts validates each document against schema.graphql,
// so a schema change that would break the page fails CI. Plain ES module: no imports, no
// browser globals at import time (the test imports it in Node).

export const DOCUMENTS = {
  /** Checks a token at login: only the operator may list tenants. */
  DashboardWhoAmI: `query DashboardWhoAmI { tenants(first: 1) { edges { cursor } } }`,

  DashboardTenants: `
    query DashboardTenants($first: Int!, $after: String) {
      tenants(first: $first, after: $after) {
        edges { node { id name plan status createdAt } }
        pageInfo { hasNextPage endCursor }
      }
    }`,

  /** One tenant's row in the list: messages over usage's default range (30 days) and live sockets. */
  DashboardTenantSummary: `
    query DashboardTenantSummary($tenantId: ID!) {
      usage(tenantId: $tenantId) { tenantId totals { messages } currentSockets }
    }`,

  DashboardTenant: `
    query DashboardTenant($id: ID!) {
      tenant(id: $id) { id name plan status createdAt }
      apps(tenantId: $id) { id name createdAt }
    }`,

  DashboardUsage: `
    query DashboardUsage($tenantId: ID!, $from: DateTime!, $to: DateTime!, $granularity: UsageGranularity!) {
      usage(tenantId: $tenantId, from: $from, to: $to, granularity: $granularity) {
        from to granularity currentSockets
        totals {
          messages monthlyActiveUsers peakSockets webhookDeliveries webhookAttempts
          webhookAttemptsSucceeded webhookDeadLetters webhookSuccessRate
        }
        buckets { start messages activeUsers peakSockets webhookAttempts webhookAttemptsSucceeded webhookDeadLetters }
        apps { appId name currentSockets totals { messages webhookSuccessRate webhookDeadLetters } }
      }
    }`,

  DashboardLiveConnections: `
    query DashboardLiveConnections { liveConnections { total tenants { tenantId name sockets } } }`,

  DashboardSetTenantStatus: `
    mutation DashboardSetTenantStatus($id: ID!, $status: TenantStatus!) {
      updateTenant(id: $id, input: { status: $status }) { id status }
    }`,

  DashboardDeadLetters: `
    query DashboardDeadLetters($appId: ID!, $first: Int!, $after: String) {
      deadLetters(appId: $appId, first: $first, after: $after) {
        edges { node { id endpointId eventType seq status attempts lastStatus lastError failedAt createdAt } }
        pageInfo { hasNextPage endCursor }
      }
      webhookEndpoints(appId: $appId) { id url status }
    }`,

  DashboardReplayDeadLetter: `
    mutation DashboardReplayDeadLetter($id: ID!) {
      replayDeadLetter(id: $id) { id status attempts nextAttemptAt }
    }`,
};

/** A GraphQL error answer: `code` is the contract's (UNAUTHENTICATED, FORBIDDEN, …). */
export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * Sends one document to Parley's /graphql (same origin) with the operator token. Resolves
 * with `data`; rejects with an ApiError carrying the first error's code.
 */
export async function request(token, name, variables = {}) {
  const query = DOCUMENTS[name];
  if (!query) throw new Error(`Unknown document ${name}`);
  let res;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query, variables, operationName: name }),
    });
  } catch {
    throw new ApiError('Parley could not be reached', 'NETWORK', 0);
  }
  const body = await res.json().catch(() => ({}));
  const [error] = body.errors ?? [];
  if (error || !body.data) {
    throw new ApiError(error?.message ?? `HTTP ${res.status}`, error?.extensions?.code ?? 'INTERNAL', res.status);
  }
  return body.data;
}

// The example's backend talks to Parley as an app's server does: plain GraphQL over HTTP with
// the operator token (to set the demo up) or the app's API key (everything else). The browser
// never sees either; it gets only its own user token.

export type Credential = { adminToken: string } | { apiKey: string };

export class ParleyApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export type Gql = <T>(credential: Credential, query: string, variables?: Record<string, unknown>) => Promise<T>;

/** One GraphQL request; the data, or a ParleyApiError with the first error's contract code. */
export function parleyApi(graphqlUrl: string): Gql {
  return async <T>(credential: Credential, query: string, variables: Record<string, unknown> = {}) => {
    const auth: Record<string, string> = 'apiKey' in credential ? { 'x-api-key': credential.apiKey } : { authorization: `Bearer ${credential.adminToken}` };
    const res = await fetch(graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...auth },
      body: JSON.stringify({ query, variables }),
    }).catch((err: Error) => {
      throw new ParleyApiError('NETWORK_ERROR', `Parley is not reachable at ${graphqlUrl} (${(err.cause as Error | undefined)?.message ?? err.message})`);
    });
    const body = (await res.json().catch(() => ({}))) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
    const error = body.errors?.[0];
    if (error || !body.data) {
      throw new ParleyApiError(error?.extensions?.code ?? 'INTERNAL', error?.message ?? `Parley answered HTTP ${res.status}`);
    }
    return body.data;
  };
}

import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { ParleyError, type GraphQLErrorShape } from './errors.ts';
import type { TokenSource } from './token-source.ts';

export type RequestFn = <R, V>(document: TypedDocumentNode<R, V>, variables: V) => Promise<R>;

/** Printing a document costs more than sending it: each SDK document is printed once. */
const printed = new WeakMap<object, string>();
const printOnce = (document: TypedDocumentNode<unknown, unknown>) => {
  let text = printed.get(document);
  if (text === undefined) printed.set(document, (text = print(document)));
  return text;
};

/**
 * GraphQL over HTTP (POST, graphql-response+json). An UNAUTHENTICATED answer with a refreshable
 * token asks getToken for a new one and tries once more; everything else is the caller's to retry.
 */
export function createRequester(options: { url: string; tokens: TokenSource; fetch: typeof fetch; timeoutMs?: number }): RequestFn {
  const { url, tokens, fetch: fetchImpl, timeoutMs = 30_000 } = options;

  async function once<R, V>(document: TypedDocumentNode<R, V>, variables: V, token: string): Promise<R> {
    // A server that never answers must not leave a send 'pending' forever: the request is
    // abandoned as a network error, which a send retries with the same idempotency key.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      return await answer<R>(
        controller.signal,
        fetchImpl(url, {
          signal: controller.signal,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          authorization: `Bearer ${token}`,
        },
          body: JSON.stringify({ query: printOnce(document as TypedDocumentNode<unknown, unknown>), variables: variables ?? {} }),
        }),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  async function answer<R>(signal: AbortSignal, fetching: Promise<Response>): Promise<R> {
    const timedOut = () => (signal.aborted ? ` (no answer within ${timeoutMs} ms)` : '');
    let res: Response;
    try {
      res = await fetching;
    } catch (err) {
      throw new ParleyError('NETWORK_ERROR', `Parley is unreachable${timedOut()}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    let body: { data?: R | null; errors?: GraphQLErrorShape[] };
    try {
      body = (await res.json()) as typeof body;
    } catch (err) {
      // A proxy's error page, or a body cut short (or never finished: the timeout).
      throw new ParleyError('NETWORK_ERROR', `Unreadable answer (HTTP ${res.status})${timedOut()}`, { status: res.status, cause: err });
    }
    if (body.errors?.length) throw ParleyError.fromGraphQLErrors(body.errors, res.status, res.headers.get('retry-after'));
    if (!body.data) throw new ParleyError('INTERNAL', `No data in the answer (HTTP ${res.status})`, { status: res.status });
    return body.data;
  }

  return async (document, variables) => {
    const token = await tokens.get();
    try {
      return await once(document, variables, token);
    } catch (err) {
      if (!(err instanceof ParleyError) || err.code !== 'UNAUTHENTICATED' || !tokens.invalidate(token)) throw err;
      return once(document, variables, await tokens.get());
    }
  };
}

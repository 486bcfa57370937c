import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';

export type Credential = { token: string } | { apiKey: string } | { none: true };
export type GqlError = { message: string; path?: (string | number)[]; extensions: { code: string; requestId: string; [k: string]: unknown } };
export type GqlResponse<R> = { status: number; headers: Headers; data: R | null | undefined; errors: GqlError[] | undefined };

export function authHeaders(cred: Credential): Record<string, string> {
  if ('token' in cred) return { authorization: `Bearer ${cred.token}` };
  if ('apiKey' in cred) return { 'x-api-key': cred.apiKey };
  return {};
}

/** Executes a typed document over real HTTP, as an app would. */
export async function execute<R, V>(
  graphqlUrl: string,
  document: TypedDocumentNode<R, V>,
  variables: V,
  cred: Credential,
): Promise<GqlResponse<R>> {
  const res = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...authHeaders(cred) },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await res.json()) as { data?: R | null; errors?: GqlError[] };
  return { status: res.status, headers: res.headers, data: body.data, errors: body.errors };
}

/** Executes and insists on success: the data, or a thrown error naming the codes. */
export async function ok<R, V>(graphqlUrl: string, document: TypedDocumentNode<R, V>, variables: V, cred: Credential): Promise<R> {
  const res = await execute(graphqlUrl, document, variables, cred);
  if (res.errors?.length || !res.data) {
    throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
  }
  return res.data;
}

/** The single error code of a failed operation (throws if it did not fail exactly once). */
export async function errorCode<R, V>(graphqlUrl: string, document: TypedDocumentNode<R, V>, variables: V, cred: Credential) {
  const res = await execute(graphqlUrl, document, variables, cred);
  if (res.errors?.length !== 1) throw new Error(`expected one error, got ${JSON.stringify(res.errors ?? res.data)}`);
  return res.errors[0]!.extensions.code;
}

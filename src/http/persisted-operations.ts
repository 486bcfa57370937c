import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { defaultExtractPersistedOperationId, usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { parse } from 'graphql';
import type { GraphQLParams, Plugin } from 'graphql-yoga';
import { looksLikeJwt } from '../auth/credentials.ts';
import type { Viewer } from '../auth/viewer.ts';
import { AppError, refused } from '../lib/errors.ts';

/**
 * Persisted operations (PERSISTED_OPERATIONS_FILE): a manifest `{ "<sha256 hex>": "<document>" }`
 * (graphql-codegen's client preset `persistedDocuments: true` writes it, keys `sha256:<hex>`),
 * requested Apollo-style with `extensions.persistedQuery: { version: 1, sha256Hash }`. With
 * `only` (PERSISTED_OPERATIONS_ONLY) an app or a user may run nothing else; the operator may
 * (its tools write documents of their own, and its token already can do everything).
 */
export type PersistedOperations = Readonly<{ file: string; only: boolean; documents: ReadonlyMap<string, string> }>;

const HASH = /^(?:sha256:)?([0-9a-f]{64})$/i;
const normalise = (hash: string) => HASH.exec(hash)?.[1]?.toLowerCase();
/** At most this many bad entries are listed at start; more are counted. */
const LISTED = 10;

/**
 * Reads and checks the manifest once, at start: every entry's key must be the SHA-256 of its
 * document (so a hash always names the one document the client was built with) and every
 * document must parse. Returns the problems instead when there are any (config.ts reports them).
 */
export function readPersistedOperations(file: string, only: boolean): PersistedOperations | { problems: string[] } {
  let manifest: unknown;
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return { problems: [`cannot read ${file} as JSON: ${(err as Error).message}`] };
  }
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) {
    return { problems: [`${file} must be a JSON object { "<sha256 hex>": "<document>" }`] };
  }
  const documents = new Map<string, string>();
  const problems: string[] = [];
  for (const [key, document] of Object.entries(manifest)) {
    const hash = normalise(key);
    if (typeof document !== 'string') problems.push(`${file}: "${key}" is not a document string`);
    else if (!hash) problems.push(`${file}: "${key}" is not a SHA-256 hex hash`);
    else if (createHash('sha256').update(document).digest('hex') !== hash) problems.push(`${file}: "${key}" is not the SHA-256 of its document`);
    else if (!parses(document)) problems.push(`${file}: the document of "${key}" is not valid GraphQL`);
    else documents.set(hash, document);
  }
  if (problems.length > LISTED) problems.splice(LISTED, Infinity, `${file}: … and ${problems.length - LISTED} more`);
  return problems.length > 0 ? { problems } : Object.freeze({ file, only, documents });
}

function parses(document: string) {
  try {
    parse(document);
    return true;
  } catch {
    return false;
  }
}

/** The contract's codes for the plugin's three refusals (its own codes are not the contract's). */
const HASH_PATH = 'extensions.persistedQuery.sha256Hash';
const badInput = (message: string) =>
  new AppError('BAD_USER_INPUT', message, { issues: [{ path: HASH_PATH, message }], http: { status: 400 } });
const notFound = () => badInput("PersistedQueryNotFound: no persisted operation has this hash (the client and the server's manifest differ)");
const noHash = () => badInput('Send a query, or a persisted operation as extensions.persistedQuery { version: 1, sha256Hash }');
// FORBIDDEN, not BAD_USER_INPUT: the same request is allowed to the operator, so it is the
// credential, not the input, that may not do it.
const onlyPersisted = () =>
  refused('FORBIDDEN', 'Only persisted operations are accepted: send extensions.persistedQuery { version: 1, sha256Hash } instead of a query');

const lookUp = (ops: PersistedOperations, hash: string) => {
  const key = normalise(hash);
  return key === undefined ? null : (ops.documents.get(key) ?? null);
};

/**
 * Over HTTP: Yoga's plugin turns a hash into its document before anything else runs, so the
 * document limits, validation and the caches treat it as if the client had sent it. It runs
 * before the context factory, on the raw request. A document is let through only with a
 * bearer that is no JWT, that is an attempt at ADMIN_TOKEN: the credential resolver then
 * accepts the operator, or refuses the guess (401) and counts it against the address's
 * budget. Comparing here would answer guesses uncounted (403 or not).
 */
export function usePersisted(ops: PersistedOperations): Plugin {
  const operatorAttempt = (authorization: string | null) => {
    const bearer = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    return bearer !== null && !looksLikeJwt(bearer[1]!);
  };
  return usePersistedOperations({
    getPersistedOperation: (hash) => lookUp(ops, hash),
    allowArbitraryOperations: ops.only ? (request) => operatorAttempt(request.headers.get('authorization')) : true,
    customErrors: { notFound, keyNotFound: noHash, persistedQueryOnly: onlyPersisted },
  });
}

/**
 * Over WebSocket (ws.plugin.ts, before it parses): the same rules for a `subscribe` message,
 * where the socket's viewer is already known. Returns the document to parse, or throws.
 */
export function persistedSource(
  ops: PersistedOperations | null,
  payload: { query: string; extensions?: Record<string, unknown> | null },
  viewer: Viewer,
): string {
  if (!ops) return payload.query;
  if (payload.query) {
    if (ops.only && viewer.kind !== 'operator') throw onlyPersisted();
    return payload.query;
  }
  // The plugin's own extractor (extensions.persistedQuery, version 1); it reads only the params.
  const hash = defaultExtractPersistedOperationId({ extensions: payload.extensions ?? undefined } as GraphQLParams, undefined as never, {});
  if (hash === null) throw noHash();
  const document = lookUp(ops, hash);
  if (document === null) throw notFound();
  return document;
}

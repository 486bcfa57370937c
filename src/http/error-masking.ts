import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { FastifyBaseLogger } from 'fastify';
import { errorCatalogue } from '../lib/errors.ts';
import type { ServerContext } from './yoga.ts';

/**
 * Yoga's `maskError`: AppErrors and GraphQL's own request errors (syntax, validation,
 * variable coercion) pass through; anything thrown inside a resolver that is not an AppError
 * becomes INTERNAL, with the original kept (unserialised) for the log.
 */
export function maskError(error: unknown): Error {
  if (isGraphQLError(error)) {
    const original = error.originalError;
    if (!original || isGraphQLError(original) || error.path === undefined) return error;
  }
  return new GraphQLError('Internal error', {
    extensions: { code: 'INTERNAL' },
    originalError: error instanceof Error ? error : new Error(String(error)),
    ...(isGraphQLError(error) ? { path: error.path, nodes: error.nodes } : {}),
  });
}

/**
 * By name, not instanceof: `graphql` ships CommonJS and ESM builds, and a process can load
 * both (vitest does), each with its own GraphQLError class.
 */
const isGraphQLError = (e: unknown): e is GraphQLError => e instanceof Error && e.name === 'GraphQLError';

/**
 * Every error leaves with a contract code and the request id to quote; INTERNAL ones are
 * logged with their cause. Errors without a catalogue code are the client's: GraphQL syntax,
 * validation and variable errors, document limits (Yoga's and GraphQL Armor's own codes),
 * so BAD_USER_INPUT. Used for HTTP responses and WebSocket messages alike.
 */
export function shapeErrors(
  errors: readonly GraphQLError[],
  requestId: string,
  log: Pick<FastifyBaseLogger, 'error'>,
  { keepHttp = true } = {},
) {
  for (const error of errors) {
    const extensions = error.extensions as Record<string, unknown>;
    if (!(String(extensions.code) in errorCatalogue)) {
      extensions.code = 'BAD_USER_INPUT';
      extensions.issues ??= [{ path: inputPath(error.message), message: error.message }];
    }
    delete extensions.originalError; // Yoga's, on some request errors: internal detail
    // Yoga reads `http` to pick the HTTP status and strips it; no one does that on a socket.
    if (!keepHttp) delete extensions.http;
    extensions.requestId = requestId;
    if (extensions.code === 'INTERNAL') log.error({ err: error.originalError ?? error, path: error.path, requestId }, 'resolver failed');
  }
  return errors;
}

/** Shapes the errors of every HTTP response. */
export function useErrorCodes(): Plugin<Record<string, never>, ServerContext> {
  return {
    onResultProcess({ result, serverContext }) {
      const { req } = serverContext;
      if (!req) return; // WebSocket results are shaped by the socket server
      for (const item of Array.isArray(result) ? result : [result]) {
        if (item && 'errors' in item && item.errors) shapeErrors(item.errors as GraphQLError[], req.id, req.log);
      }
    },
  };
}

/**
 * Where GraphQL's own input errors point: `Variable "$input" got invalid value … at
 * "input.title"` → "input.title"; a variable without a deeper path → its name; an error in
 * the document itself (syntax, validation, limits) → "" (the document).
 */
export function inputPath(message: string): string {
  const variable = /^Variable "\$(\w+)"/.exec(message);
  if (!variable) return '';
  return /got invalid value .* at "([^"]+)"/.exec(message)?.[1] ?? variable[1]!;
}

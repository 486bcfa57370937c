import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { FastifyRequest } from 'fastify';
import { errorCatalogue } from '../lib/errors.ts';

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
 * so BAD_USER_INPUT.
 */
export function useErrorCodes(): Plugin<Record<string, never>, { req: FastifyRequest }> {
  return {
    onResultProcess({ result, serverContext }) {
      const req = serverContext.req;
      for (const item of Array.isArray(result) ? result : [result]) {
        if (!item || !('errors' in item) || !item.errors) continue;
        for (const error of item.errors as GraphQLError[]) {
          const extensions = error.extensions as Record<string, unknown>;
          if (!(String(extensions.code) in errorCatalogue)) {
            extensions.code = 'BAD_USER_INPUT';
            extensions.issues ??= [{ path: inputPath(error.message), message: error.message }];
          }
          delete extensions.originalError; // Yoga's, on some request errors: internal detail
          extensions.requestId = req.id;
          if (extensions.code === 'INTERNAL') req.log.error({ err: error.originalError ?? error, path: error.path }, 'resolver failed');
        }
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

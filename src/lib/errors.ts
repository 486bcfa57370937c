import { GraphQLError } from 'graphql';

/**
 * The one catalogue of error codes (CONTRACT.md "Errors"). Every error a client can see is
 * an AppError with one of these codes; anything else is masked as INTERNAL.
 */
export const errorCatalogue = {
  UNAUTHENTICATED: { status: 401, message: 'Missing or invalid credentials' },
  FORBIDDEN: { status: 403, message: 'Not allowed' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  BAD_USER_INPUT: { status: 400, message: 'Invalid input' },
  CONFLICT: { status: 409, message: 'Conflict' },
  RATE_LIMITED: { status: 429, message: 'Too many requests' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'Payload too large' },
  INTERNAL: { status: 500, message: 'Internal error' },
} as const;

export type ErrorCode = keyof typeof errorCatalogue;

export type InputIssue = { path: string; message: string };

export class AppError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string = errorCatalogue[code].message,
    extra: Record<string, unknown> = {},
  ) {
    // Authentication failures are HTTP 401 (the contract). Other codes keep 200 for field
    // errors, as the GraphQL-over-HTTP spec asks, unless `extra.http` says otherwise (a
    // request refused before execution: see `refused` below).
    const http = code === 'UNAUTHENTICATED' ? { http: { status: 401 } } : {};
    super(message, { extensions: { code, ...http, ...extra } });
  }
}

export const unauthenticated = (message?: string) => new AppError('UNAUTHENTICATED', message);
export const forbidden = (message?: string) => new AppError('FORBIDDEN', message);
export const notFound = (what = 'Resource') => new AppError('NOT_FOUND', `${what} not found`);
export const conflict = (message: string) => new AppError('CONFLICT', message);
export const badInput = (issues: InputIssue[]) =>
  new AppError('BAD_USER_INPUT', `Invalid input: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
    issues,
  });
/** A whole request refused before anything runs: no `data`, so a 4xx status of its own. */
export const refused = (code: ErrorCode, message: string) =>
  new AppError(code, message, { http: { status: errorCatalogue[code].status } });
export const payloadTooLarge = (message: string) => new AppError('PAYLOAD_TOO_LARGE', message);
/** Over a rate limit: HTTP 429 with Retry-After, and the seconds in the error (CONTRACT.md). */
export const rateLimited = (message: string, retryAfterSeconds: number) =>
  new AppError('RATE_LIMITED', message, {
    retryAfterSeconds,
    http: { status: 429, headers: { 'Retry-After': String(retryAfterSeconds) } },
  });
/**
 * Over one of the tenant's plan limits (maxApps, maxUsersPerApp, maxMembersPerConversation):
 * FORBIDDEN (the contract has no code of its own), naming the limit and its value.
 */
export const overLimit = (limit: string, max: number) =>
  new AppError('FORBIDDEN', `Plan limit reached: ${limit} is ${max}`, { limit, max });

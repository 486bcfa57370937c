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
    // Only authentication failures change the HTTP status of a GraphQL response: the
    // GraphQL-over-HTTP spec keeps 200 for field errors, the contract asks 401 for these.
    const http = code === 'UNAUTHENTICATED' ? { http: { status: 401 } } : {};
    super(message, { extensions: { code, ...extra, ...http } });
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
export const payloadTooLarge = (message: string) => new AppError('PAYLOAD_TOO_LARGE', message);

/**
 * The codes a ParleyError carries: the contract's, plus two of the client's own for failures
 * that never reached an answer from Parley (a network error, a socket closed for good).
 */
export type ParleyErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'PAYLOAD_TOO_LARGE'
  | 'INTERNAL'
  | 'NETWORK_ERROR'
  | 'CONNECTION_CLOSED';

/** A GraphQL error as Parley sends it (`extensions.code` is one of the contract's codes). */
export type GraphQLErrorShape = {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: { code?: string; requestId?: string; retryAfterSeconds?: number; issues?: unknown; [key: string]: unknown };
};

/** Every failure the SDK reports: a contract code, the server's message, and what helps to act on it. */
export class ParleyError extends Error {
  override readonly name = 'ParleyError';
  readonly code: ParleyErrorCode | (string & {});
  /** RATE_LIMITED: how long to wait before trying again. */
  readonly retryAfterSeconds?: number;
  /** INTERNAL (and others): the id to quote when reporting the failure. */
  readonly requestId?: string;
  /** BAD_USER_INPUT: the invalid fields, as the server lists them. */
  readonly issues?: unknown;
  /** The HTTP status, when the error came with an HTTP answer. */
  readonly status?: number;
  /** Every GraphQL error of the answer (the first one names this error). */
  readonly errors: readonly GraphQLErrorShape[];

  constructor(
    code: ParleyErrorCode | (string & {}),
    message: string,
    details: { retryAfterSeconds?: number; requestId?: string; issues?: unknown; status?: number; errors?: readonly GraphQLErrorShape[]; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.retryAfterSeconds !== undefined) this.retryAfterSeconds = details.retryAfterSeconds;
    if (details.requestId !== undefined) this.requestId = details.requestId;
    if (details.issues !== undefined) this.issues = details.issues;
    if (details.status !== undefined) this.status = details.status;
    this.errors = details.errors ?? [];
  }

  /** The error of a GraphQL answer that carried errors (HTTP or WebSocket). */
  static fromGraphQLErrors(errors: readonly GraphQLErrorShape[], status?: number, retryAfterHeader?: string | null): ParleyError {
    const first = errors[0] ?? { message: 'Unknown error' };
    const ext = first.extensions ?? {};
    const retryAfter = ext.retryAfterSeconds ?? (retryAfterHeader ? Number(retryAfterHeader) : undefined);
    return new ParleyError(typeof ext.code === 'string' ? ext.code : 'INTERNAL', first.message, {
      ...(retryAfter !== undefined && Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : {}),
      ...(typeof ext.requestId === 'string' ? { requestId: ext.requestId } : {}),
      ...(ext.issues !== undefined ? { issues: ext.issues } : {}),
      ...(status !== undefined ? { status } : {}),
      errors,
    });
  }
}

/** Worth retrying as is (with the same idempotency key): the request may not have been served. */
export const isTransient = (err: unknown) =>
  err instanceof ParleyError && (err.code === 'NETWORK_ERROR' || err.code === 'INTERNAL' || err.code === 'RATE_LIMITED');

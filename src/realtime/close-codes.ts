/** WebSocket close codes Parley uses (graphql-ws's own 44xx codes keep their meaning). */
export const CloseCodes = {
  /** Missing, invalid, expired or revoked credential in connection_init; or sessions revoked. */
  Unauthorized: 4401,
  /** The credential is valid but may not connect (a suspended tenant). */
  Forbidden: 4403,
  /** The client fell behind (send buffer or pending events over the bound): reconnect, resume by afterSeq. */
  SlowConsumer: 4008,
  /** The user already has as many sockets open as the tenant's plan allows. */
  TooManySockets: 4029,
  /** The client sent more messages than the tenant's wsMessagesPerSecond (same code: over a plan's rate; the reason says which). */
  TooManyMessages: 4029,
  /** Too many failed authentications from the client's address: retry after a minute. */
  TooManyAuthFailures: 4029,
  /** The server is shutting down or restarting: reconnect (to another node) and resume. */
  ServiceRestart: 1012,
} as const;

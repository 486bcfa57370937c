import { pino, type Logger } from 'pino';

/** Keys that hold a credential wherever they appear (top level, or one object down). */
const SECRET_KEYS = ['authorization', 'apiKey', 'token', 'secret', 'password', 'cookie', 'connectionParams', 'client_secret', 'access_token'];

/**
 * Redacted before a line is written, as a second line of defence: Parley's own lines never
 * carry headers, bodies, query strings or connection_init payloads, but an error object or a
 * future `log.info({ req })` might.
 */
export const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((key) => `*.${key}`),
  ...['headers', 'req.headers', '*.headers'].flatMap((at) => [`${at}.authorization`, `${at}["x-api-key"]`, `${at}.cookie`, `${at}["set-cookie"]`]),
];

/** The process's JSON-lines logger (stdout), at LOG_LEVEL. */
export const createLogger = (level: string): Logger => pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });

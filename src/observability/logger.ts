import { pino, type DestinationStream, type Logger } from 'pino';

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

/**
 * Errors as pino serializes them, minus what client libraries attach that can hold a
 * credential: ioredis puts the failed command on its errors (`command.args`: AUTH's password).
 */
function serializeError(err: unknown) {
  const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (out && typeof out === 'object') delete out.command;
  return out;
}

/** The process's JSON-lines logger (stdout unless a destination is given), at LOG_LEVEL. */
export const createLogger = (level: string, destination?: DestinationStream): Logger =>
  pino({ level, serializers: { err: serializeError }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);

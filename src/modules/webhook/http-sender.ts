import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Agent, buildConnector, request } from 'undici';
import { checkEndpointUrl, isForbiddenAddress } from './target-policy.ts';

/** The outcome of one delivery attempt; a failure is a value, never an exception. */
export type AttemptResult = {
  /** A 2xx status was received (and its body read up to the cap) within the timeout. */
  ok: boolean;
  /** The HTTP status, or null when no response arrived. */
  status: number | null;
  durationMs: number;
  /** `Retry-After` in seconds (delta or HTTP date), clamped to [0, 86400]; null when absent or invalid. */
  retryAfterSeconds: number | null;
  /** The first `maxResponseBytes` bytes of the response body, decoded as UTF-8 (lossy). */
  responseSnippet: string;
  /** Why the attempt failed without a usable status ('timeout', 'connection refused', …); null otherwise. */
  error: string | null;
};

/** `timeoutMs`: this request's deadline, when shorter than the sender's. */
export type WebhookRequest = { url: string; headers: Record<string, string>; body: string | Uint8Array; timeoutMs?: number };

export type WebhookSenderOptions = {
  /** Allow private, loopback and link-local addresses, and plain http (tests, local development). */
  allowPrivate: boolean;
  /** The whole attempt: connect, headers and the body read (default 10 s). */
  timeoutMs?: number;
  /** How much of a response body is read; the connection is dropped after that (default 4 KiB). */
  maxResponseBytes?: number;
  userAgent?: string;
  /** Name resolution (tests point names at 127.0.0.1 with it); default `dns.lookup`. */
  lookup?: LookupFunction;
};

export type WebhookSender = {
  send(request: WebhookRequest): Promise<AttemptResult>;
  /** Closes the connection pool (waits for attempts in flight). */
  close(): Promise<void>;
};

const MAX_RETRY_AFTER_SECONDS = 86_400;
const DEFAULT_USER_AGENT = 'Parley-Webhooks/1';

/** A connection refused by the target policy (the address is private, loopback or reserved). */
class ForbiddenAddressError extends Error {
  constructor(readonly address: string) {
    super(`refused: private address ${address}`);
  }
}

/** `Retry-After` as seconds from now: a delta-seconds or an HTTP date; null when neither. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return null;
  let seconds: number;
  if (/^\d+$/.test(text)) seconds = Number(text);
  else {
    const at = Date.parse(text);
    // Date.parse also takes bare numbers and ISO strings; an HTTP date names its day.
    if (Number.isNaN(at) || !/^[A-Za-z]{3},? /.test(text)) return null;
    seconds = Math.ceil((at - now) / 1000);
  }
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(0, seconds));
}

/** A short, stable description of a network failure (what a delivery log shows). */
function describeError(err: unknown): string {
  if (err instanceof ForbiddenAddressError) return err.message;
  const first = err instanceof AggregateError ? (err.errors[0] as unknown) : err; // happy eyeballs: every address failed
  if (first instanceof ForbiddenAddressError) return first.message;
  const e = (first ?? err) as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : '';
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return 'connection reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NODATA':
    case 'ENODATA':
      return `host not found (${code})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `unreachable (${code})`;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
  }
  if (/CERT|TLS|SSL|SIGNATURE/.test(code)) return `tls: ${code}`;
  const message = typeof e.message === 'string' ? e.message : String(err);
  return `network error: ${code || message}`.slice(0, 200);
}

/**
 * Sends webhook attempts over one keep-alive pool (undici). Safe by construction:
 * - the policy is checked on the address each connection is opened to, after resolution, so
 *   a name that resolves (or later re-resolves) to a private address is refused before a byte
 *   is sent;
 * - redirects are never followed (a plain undici Agent has no redirect interceptor): a 3xx
 *   is a failed attempt;
 * - one deadline covers connect, headers and body, and at most `maxResponseBytes` of the body
 *   is read before the connection is dropped.
 */
export function createWebhookSender({
  allowPrivate,
  timeoutMs = 10_000,
  maxResponseBytes = 4096,
  userAgent = DEFAULT_USER_AGENT,
  lookup = dnsLookup as LookupFunction,
}: WebhookSenderOptions): WebhookSender {
  // Resolves every address, keeps only the allowed ones: net.connect then connects only there.
  const guardedLookup: LookupFunction = (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (err, found) => {
      if (err) return callback(err, '');
      const addresses = (Array.isArray(found) ? found : [{ address: found, family: isIP(found) }]) as LookupAddress[];
      const allowed = allowPrivate ? addresses : addresses.filter((a) => !isForbiddenAddress(a.address, a.family));
      const [first] = allowed;
      if (!first) {
        const refused = addresses[0]?.address ?? hostname;
        return callback(Object.assign(new ForbiddenAddressError(refused), { code: 'EWEBHOOKFORBIDDEN' }), '');
      }
      if (options.all) callback(null, allowed);
      else callback(null, first.address, first.family);
    });
  };
  const connector = buildConnector({ lookup: guardedLookup, timeout: timeoutMs });
  // net.connect skips `lookup` for a literal IP, so a literal is checked here.
  const connect: buildConnector.connector = (options, callback) => {
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!allowPrivate && isIP(host) && isForbiddenAddress(host)) return callback(new ForbiddenAddressError(host), null);
    connector(options, callback);
  };
  const agent = new Agent({ connect, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });

  async function send({ url, headers, body, timeoutMs: own }: WebhookRequest): Promise<AttemptResult> {
    const started = performance.now();
    let status: number | null = null;
    let retryAfterSeconds: number | null = null;
    const chunks: Buffer[] = [];
    let received = 0;
    const result = (error: string | null): AttemptResult => ({
      ok: error === null && status !== null && status >= 200 && status < 300,
      status,
      durationMs: Math.round(performance.now() - started),
      retryAfterSeconds,
      responseSnippet: Buffer.concat(chunks).subarray(0, maxResponseBytes).toString('utf8'),
      error,
    });

    // Checked again at send time: the policy (or the URL stored) may predate this process.
    const target = checkEndpointUrl(url, { allowPrivate });
    if (!target.ok) return result(`refused: ${target.reason}`);

    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), Math.min(own ?? timeoutMs, timeoutMs));
    try {
      const withAgent = Object.keys(headers).some((name) => name.toLowerCase() === 'user-agent')
        ? headers
        : { ...headers, 'user-agent': userAgent };
      const response = await request(target.url, {
        dispatcher: agent,
        method: 'POST',
        headers: withAgent,
        body,
        signal: deadline.signal,
      });
      status = response.statusCode;
      retryAfterSeconds = parseRetryAfter(response.headers['retry-after']);
      // Leaving the loop early destroys the body, and with it the connection: a receiver
      // streaming gigabytes costs us maxResponseBytes.
      for await (const chunk of response.body) {
        chunks.push(chunk as Buffer);
        received += (chunk as Buffer).length;
        if (received >= maxResponseBytes) break;
      }
      if (status >= 300 && status < 400) return result(`redirect not followed (${status})`);
      return result(null);
    } catch (err) {
      return result(deadline.signal.aborted ? 'timeout' : describeError(err));
    } finally {
      clearTimeout(timer);
    }
  }

  return { send, close: () => agent.close() };
}

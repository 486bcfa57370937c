import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { readPersistedOperations, type PersistedOperations } from './http/persisted-operations.ts';
import type { TracingConfig } from './observability/tracing.ts';

export const ROLES = ['api', 'worker', 'all'] as const;
export type Role = (typeof ROLES)[number];

/** Every environment variable Parley reads; documented in README.md ("Configuration"). */
const envSchema = z.object({
  ROLE: z.enum(ROLES).default('all'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default('0.0.0.0'),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL').optional(),
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  MAX_MESSAGE_BYTES: z.coerce.number().int().min(1).default(16 * 1024),
  SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  TOKEN_ISSUER: z.string().min(1).default('parley'),
  TOKEN_AUDIENCE: z.string().min(1).default('parley'),
  OUTBOX_SWEEP_MS: z.coerce.number().int().min(50).default(1000),
  PRESENCE_TTL_MS: z.coerce.number().int().min(1000).default(30_000),
  USAGE_SAMPLE_MS: z.coerce.number().int().min(50).default(5000),
  CONVERSATION_MESSAGES_PER_SECOND: z.coerce.number().int().min(1).default(200),
  TYPING_TTL_MS: z.coerce.number().int().min(500).default(5000),
  WS_KEEPALIVE_MS: z.coerce.number().int().min(1000).default(12_000),
  WS_MAX_SUBSCRIPTIONS_PER_SOCKET: z.coerce.number().int().min(1).default(100),
  WS_MAX_BUFFERED_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  WS_MAX_PENDING_EVENTS: z.coerce.number().int().min(10).default(1000),
  GRAPHQL_INTROSPECTION: z.enum(['true', 'false']).optional(),
  GRAPHIQL: z.enum(['true', 'false']).optional(),
  WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .regex(/^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$/, 'comma-separated seconds, e.g. 5,30,300')
    .default('5,30,120,600,1800,7200,21600,43200'),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: z.enum(['true', 'false']).default('false'),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  WEBHOOK_DISABLE_AFTER_SECONDS: z.coerce.number().int().min(1).default(5 * 24 * 3600),
  AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().min(1).default(30),
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|\d{1,2}|[\w.:/]+(\s*,\s*[\w.:/]+)*)$/, 'true, false, a number of hops, or addresses/CIDRs separated by commas')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  METRICS_TENANT_LABELS: z.coerce.number().int().min(0).max(10_000).default(50),
  SHUTDOWN_DRAIN_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
  NODE_ENV: z.string().default('development'),
  PERSISTED_OPERATIONS_FILE: z.string().min(1).optional(),
  PERSISTED_OPERATIONS_ONLY: z.enum(['true', 'false']).default('false'),
  // OpenTelemetry's standard names (docs/OPERATIONS.md, "Traces").
  OTEL_TRACES_EXPORTER: z.enum(['none', 'otlp']).default('none'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().regex(/^https?:\/\/\S+$/, 'must be an http:// or https:// URL').optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.string().regex(/^https?:\/\/\S+$/, 'must be an http:// or https:// URL').optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('parley'),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  OTEL_TRUST_INCOMING_SAMPLING: z.enum(['true', 'false']).default('false'),
  WEBHOOK_TRACEPARENT: z.enum(['true', 'false']).default('false'),
});

export type Config = Readonly<{
  /** What this process does: `api`, `worker` or `all` (node.ts). */
  role: Role;
  port: number;
  host: string;
  adminToken: string;
  /** True when ADMIN_TOKEN was generated and saved under DATA_DIR (embedded default). */
  adminTokenGenerated: boolean;
  /** `null` selects PostgreSQL at `databaseUrl`. `':memory:'` keeps PGlite in memory (tests). */
  dataDir: string | null;
  databaseUrl: string | null;
  redisUrl: string | null;
  maxBodyBytes: number;
  maxMessageBytes: number;
  /** Encrypts token signing keys at rest; derived from ADMIN_TOKEN when SECRET_KEY is unset. */
  secretKey: string;
  tokenIssuer: string;
  tokenAudience: string;
  logLevel: string;
  /** When set, GET /metrics requires `Authorization: Bearer <metricsToken>`. */
  metricsToken: string | null;
  /** Distinct tenants a metric's `tenant` label names before the rest count as `other`. */
  metricsTenantLabels: number;
  /** On SIGTERM: how long /readyz says `draining` before the node stops accepting. */
  shutdownDrainMs: number;
  production: boolean;
  /** Schema introspection and the GraphiQL page: on by default, off by default in production. */
  introspection: boolean;
  graphiql: boolean;
  webhooks: Readonly<{
    /** Seconds to wait before each retry: its length is the number of retries. */
    retrySchedule: readonly number[];
    /** Deliver to loopback, private and link-local addresses (tests, private networks). */
    allowPrivateTargets: boolean;
    /** An attempt that has not been answered in full by then failed. */
    timeoutMs: number;
    /** An endpoint failing (no success) for this long is disabled when a delivery of it dies. */
    disableAfterSeconds: number;
  }>;
  /** Failed authentications per client address per minute before fresh secret checks are refused. */
  authFailuresPerMinute: number;
  /** Which proxies' X-Forwarded-For to believe for the client's address (Fastify's trustProxy). */
  trustProxy: TrustProxy;
  typingTtlMs: number;
  /** Messages one conversation takes per second, from all its senders together. */
  conversationMessagesPerSecond: number;
  /** With Redis: a socket of a node that stopped renewing it (died) stops counting as online after this. */
  presenceTtlMs: number;
  /** How often a worker looks for committed events that were not published. */
  outboxSweepMs: number;
  /** How often each node publishes its socket counts and samples the cluster's socket peaks. */
  usageSampleMs: number;
  /** PERSISTED_OPERATIONS_FILE, read and checked at start; null: the feature is off. */
  persistedOperations: PersistedOperations | null;
  ws: Readonly<{ keepAliveMs: number; maxSubscriptionsPerSocket: number; maxBufferedBytes: number; maxPendingEvents: number }>;
  /** OpenTelemetry tracing: off unless OTEL_TRACES_EXPORTER=otlp (observability/tracing.ts). */
  tracing: TracingConfig;
}>;

/** false: the socket's peer is the client; true: every proxy; a number: that many hops; or addresses/CIDRs. */
export type TrustProxy = boolean | number | string[];
function parseTrustProxy(value: string | undefined): TrustProxy {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value.split(',').map((part) => part.trim());
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parses the environment once, reports every problem at once, and freezes the result. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // `FOO=` (as compose files and shells often leave it) means unset, not "the empty string".
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const embedded = !e.DATABASE_URL;
  const dataDir = embedded ? (e.DATA_DIR === ':memory:' ? ':memory:' : resolve(e.DATA_DIR)) : null;

  let adminToken = e.ADMIN_TOKEN;
  let adminTokenGenerated = false;
  if (!adminToken) {
    // Zero setup on a laptop: the embedded store gets a generated operator token, kept beside
    // its data. A deployment on PostgreSQL must choose its own.
    if (!embedded || dataDir === ':memory:') {
      throw new ConfigError(['ADMIN_TOKEN: required when DATABASE_URL is set or DATA_DIR is :memory:']);
    }
    adminToken = readOrCreateAdminToken(dataDir!);
    adminTokenGenerated = true;
  }

  const persistedOperations = loadPersistedOperations(e.PERSISTED_OPERATIONS_FILE, e.PERSISTED_OPERATIONS_ONLY === 'true');

  return Object.freeze({
    role: e.ROLE,
    port: e.PORT,
    host: e.HOST,
    adminToken,
    adminTokenGenerated,
    dataDir,
    databaseUrl: e.DATABASE_URL ?? null,
    redisUrl: e.REDIS_URL ?? null,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    secretKey: e.SECRET_KEY ?? `admin-token:${adminToken}`,
    tokenIssuer: e.TOKEN_ISSUER,
    tokenAudience: e.TOKEN_AUDIENCE,
    logLevel: e.LOG_LEVEL,
    metricsToken: e.METRICS_TOKEN ?? null,
    metricsTenantLabels: e.METRICS_TENANT_LABELS,
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS,
    production: e.NODE_ENV === 'production',
    introspection: e.GRAPHQL_INTROSPECTION ? e.GRAPHQL_INTROSPECTION === 'true' : e.NODE_ENV !== 'production',
    graphiql: e.GRAPHIQL ? e.GRAPHIQL === 'true' : e.NODE_ENV !== 'production',
    authFailuresPerMinute: e.AUTH_FAILURES_PER_MINUTE,
    webhooks: Object.freeze({
      retrySchedule: Object.freeze(e.WEBHOOK_RETRY_SCHEDULE.split(',').map((part) => Number(part.trim()))),
      allowPrivateTargets: e.WEBHOOK_ALLOW_PRIVATE_TARGETS === 'true',
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      disableAfterSeconds: e.WEBHOOK_DISABLE_AFTER_SECONDS,
    }),
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    typingTtlMs: e.TYPING_TTL_MS,
    conversationMessagesPerSecond: e.CONVERSATION_MESSAGES_PER_SECOND,
    presenceTtlMs: e.PRESENCE_TTL_MS,
    outboxSweepMs: e.OUTBOX_SWEEP_MS,
    usageSampleMs: e.USAGE_SAMPLE_MS,
    persistedOperations,
    ws: Object.freeze({
      keepAliveMs: e.WS_KEEPALIVE_MS,
      maxSubscriptionsPerSocket: e.WS_MAX_SUBSCRIPTIONS_PER_SOCKET,
      maxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
      maxPendingEvents: e.WS_MAX_PENDING_EVENTS,
    }),
    tracing: Object.freeze({
      exporter: e.OTEL_TRACES_EXPORTER,
      // The signal's own endpoint as given; the general one gets the traces path (the OTLP spec's rule).
      endpoint:
        e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
        `${(e.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318').replace(/\/+$/, '')}/v1/traces`,
      serviceName: e.OTEL_SERVICE_NAME,
      sampleRatio: e.OTEL_TRACES_SAMPLER_ARG,
      trustIncomingSampling: e.OTEL_TRUST_INCOMING_SAMPLING === 'true',
      webhookTraceparent: e.WEBHOOK_TRACEPARENT === 'true',
    }),
  });
}

/** The persisted-operations manifest, checked now so that a bad one stops the start. */
function loadPersistedOperations(file: string | undefined, only: boolean): PersistedOperations | null {
  if (!file) {
    if (only) throw new ConfigError(['PERSISTED_OPERATIONS_ONLY: needs PERSISTED_OPERATIONS_FILE']);
    return null;
  }
  const loaded = readPersistedOperations(resolve(file), only);
  if ('problems' in loaded) throw new ConfigError(loaded.problems.map((p) => `PERSISTED_OPERATIONS_FILE: ${p}`));
  return loaded;
}

function readOrCreateAdminToken(dataDir: string): string {
  const file = join(dataDir, 'admin-token');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(dataDir, { recursive: true });
    const token = `adm_${randomBytes(24).toString('base64url')}`;
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return token;
  }
}
